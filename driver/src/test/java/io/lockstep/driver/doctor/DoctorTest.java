package io.lockstep.driver.doctor;

import io.lockstep.driver.config.StepPlacement;
import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.media.AeronFiles;
import io.lockstep.ps.Terms;

import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.DriverAddress;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.ModelSetup;
import io.lockstep.worker.cpu.CpuFlags;
import io.lockstep.worker.cpu.NativeBuild;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The doctor's checks in-process: estimates against measured and built sizes, and the remedies it names. */
class DoctorTest {
    static final long MIB = 1024 * 1024;

    @TempDir
    Path dir;

    static Setting local(JobConfig cfg) {
        return on(cfg, "local[" + cfg.workers() + "]");
    }

    static Setting on(JobConfig cfg, String master) {
        org.apache.spark.SparkConf conf = new org.apache.spark.SparkConf(false).set("spark.master", master);
        cfg.spark().conf().forEach(conf::set);
        return Setting.on(cfg, true, master, null, DriverAddress.predicted(cfg, conf));
    }

    /** Embedded Spark over the wire: UDP, no in-memory exchange (what a local job did before local reduction). */
    static JobConfig udpLocal() {
        JobConfig cfg = JobConfig.defaults()
            .with("ps.transport", Transport.UDP)
            .with("ps.local_reduction", false);
        return cfg;
    }

    @Test
    void gpusAreReportedWithWhatTheDiscoveryScriptFindsAndTheBackend() {
        assertEquals(Status.OK, new GpuCheck().run(local(JobConfig.defaults())).get(0).status());
        String script = Path.of("..", "deploy", "gpu", "fake-gpus.sh").toAbsolutePath().normalize().toString();
        JobConfig gpus = JobConfig.defaults()
            .with("spark.conf.spark.task.resource.gpu.amount", "1")
            .with("spark.conf.spark.executor.resource.gpu.amount", "2")
            .with("spark.conf.spark.executor.resource.gpu.discoveryScript", script);
        Finding f = new GpuCheck().run(on(gpus, "spark://h:7077")).get(0);
        assertEquals(Status.WARN, f.status(), f.message()); // the CPU build: recorded, not used
        assertTrue(f.message().contains("discovery script prints {\"name\": \"gpu\", \"addresses\": [\"0\", \"1\"]}"),
            f.message());
        assertTrue(f.message().contains("-Dcuda"), f.message());
        Finding two = new GpuCheck().run(on(gpus.with("spark.conf.spark.task.resource.gpu.amount", "2"),
            "spark://h:7077")).get(0);
        assertTrue(two.message().contains("should be 1"), two.message());
    }

    @Test
    void sharedMemoryEstimatesFollowTheTermsTheExchangeResolves() {
        long mnist = 235_146;
        JobConfig cluster = JobConfig.defaults(); // shards on the executors, one each; Adam on the shards
        Setting onCluster = on(cluster, "spark://h:7077");
        Terms terms = AeronFootprint.terms(onCluster, mnist);
        int mtu = cluster.ps().mtu().resolve(onCluster.topology().host());
        assertEquals(new Terms(1 << 20, 1 << 20, ExchangeRules.sideTermLength(mtu)), terms,
            "ps.term_length auto for the MNIST MLP (Adam's state streams through the answers' term)");
        long cnc = AeronFiles.cncBytes(2, 2) + AeronFiles.lossReportBytes();
        long side = AeronFiles.logBytes(terms.side());
        // an executor: its workers' driver (2 gradient publications, 2 answer images, 2 all-gather logs) and its
        // shard's server (2 gradient images, an answer publication, step reports, a norm link each way)
        long executor = AeronFootprint.executorNeeds(onCluster, terms);
        assertEquals(2 * cnc + 7 * AeronFiles.logBytes(1 << 20) + 5 * side, executor);
        assertTrue(executor < ShmCheck.DOCKER_DEFAULT_SHM, "within a container's default 64 MiB: " + executor);
        // with the optimizer on the replicas the answers are a step's too
        Setting replicas = on(cluster.with("optimizer.step_placement", StepPlacement.REPLICA), "spark://h:7077");
        assertEquals(new Terms(1 << 20, 1 << 20, ExchangeRules.sideTermLength(mtu)),
            AeronFootprint.terms(replicas, mnist));
        long replicaExecutor = AeronFootprint.executorNeeds(replicas, AeronFootprint.terms(replicas, mnist));
        assertTrue(replicaExecutor < ShmCheck.DOCKER_DEFAULT_SHM, "within 64 MiB: " + replicaExecutor);
        // the driver keeps only the all-gather endpoint: 4 side logs
        assertEquals(cnc + 4 * side, AeronFootprint.driverHostNeeds(onCluster, terms));
        // at the former fixed 8 MiB terms: 24 MiB a log, 12 logs
        Setting fixed = on(cluster.with("ps.term_length", 8 << 20), "spark://h:7077");
        assertEquals(Terms.of(8 << 20), AeronFootprint.terms(fixed, mnist));
        assertEquals(2 * cnc + 12 * AeronFiles.logBytes(8 << 20), AeronFootprint.executorNeeds(fixed, Terms.of(8 << 20)));
        // the model's size unknown: auto's largest gradient term
        assertEquals(Terms.of(ExchangeRules.AUTO_TERM_CEILING), AeronFootprint.terms(onCluster, -1));
        JobConfig memory = JobConfig.defaults(); // the default under embedded Spark: no Aeron at all
        assertEquals("memory", local(memory).topology().exchangeKind());
        assertEquals(0, AeronFootprint.driverHostNeeds(local(memory), terms));
        // a local cluster: the driver and both executors on this host
        assertEquals(AeronFootprint.driverHostNeeds(onCluster, terms) + 2 * executor,
            AeronFootprint.driverHostNeeds(on(cluster, "local-cluster[2,1,1024]"), terms));
    }

    @Test
    void aSmallSharedMemoryFailsAndTheRemediesAreNamed() {
        JobConfig memory = JobConfig.defaults();
        Finding none = ShmCheck.find(local(memory), 235_146, new ShmCheck.Shm("/dev/shm", 64 * MIB)).get(0);
        assertEquals(Status.OK, none.status());
        assertTrue(none.message().startsWith("no Aeron shared memory needed"), none.message());
        JobConfig cfg = udpLocal(); // two drivers in this JVM: 2 x 12 MiB, 12 gradient and answer logs of 3 MiB, 6 side
        List<Finding> checks = ShmCheck.find(local(cfg), 235_146, new ShmCheck.Shm("/dev/shm", 64 * MIB));
        assertEquals(1, checks.size());
        Finding c = checks.get(0);
        assertEquals(Status.FAIL, c.status());
        assertTrue(c.message().startsWith("/dev/shm: 64 MiB free but Aeron maps about 70 MiB (this JVM runs the"
            + " parameter server and 2 workers, 2 shards, terms of 1 MiB for gradients, 1 MiB for answers, 512 KiB"
            + " for side streams (ps.term_length auto, 235,146 parameters)): give it at least 128 MiB (docker run"
            + " --shm-size=128m), set ps.aeron_dir to a directory on disk, or set ps.term_length: 524288 (about"
            + " 52 MiB;"), c.message());
        Finding roomy = ShmCheck.find(local(cfg), 235_146, new ShmCheck.Shm("/dev/shm", 256 * MIB)).get(0);
        assertEquals(Status.OK, roomy.status(), roomy.message());
        Finding onDisk = ShmCheck.find(local(cfg.with("ps.aeron_dir", "/var/tmp/aeron")), 235_146,
            ShmCheck.Shm.of("/var/tmp/aeron")).get(0);
        assertTrue(onDisk.message().startsWith("/var/tmp/aeron: "), onDisk.message());
        // the executors' figure on a cluster: within 64 MiB at MNIST size with the optimizer on the replicas, a
        // warning past it
        List<Finding> cluster = ShmCheck.find(on(JobConfig.defaults().with("optimizer.step_placement",
            StepPlacement.REPLICA), "spark://h:7077"), 235_146, new ShmCheck.Shm("/dev/shm", 64 * MIB));
        assertEquals(Status.OK, cluster.get(1).status(), cluster.get(1).message());
        List<Finding> big = ShmCheck.find(on(JobConfig.defaults(), "spark://h:7077"), 20_000_000,
            new ShmCheck.Shm("/dev/shm", 64 * MIB));
        assertEquals(Status.WARN, big.get(1).status(), big.get(1).message());
        assertTrue(big.get(1).message().contains("sizeLimit"), big.get(1).message());
    }

    @Test
    void parameterEstimatesMatchTheModelsTheJobBuilds() throws IOException {
        JobConfig mlp = JobConfig.defaults()
            .with("data.classes", 10);
        assertEquals(235_146, ModelSize.parameters(mlp, 784), "the MNIST MLP (784-256-128-10)");
        JobConfig lenet = JobConfig.defaults()
            .with("model.type", "lenet")
            .with("data.classes", 10);
        assertEquals(431_080, ModelSize.parameters(lenet, 784), "the MNIST CNN (LeNet)");
        for (int features : new int[]{64, 100, 784, 1024}) {
            assertEquals(ModelSetup.build(lenet, features, null, 10, "classification", 10).network().parameterCount(),
                ModelSize.parameters(lenet, features), features + " features");
        }
        JobConfig json = JobConfig.defaults()
            .with("model.type", "json");
        json = json.with("model.path", Files.writeString(dir.resolve("net.json"), new NeuralNetConfiguration.Builder().list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(20).activation(Activation.RELU).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(20).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build().toJson()).toString());
        assertEquals(64 * 20 + 20 + 20 * 10 + 10, ModelSize.parameters(json, -1));
        JobConfig factory = JobConfig.defaults()
            .with("model.type", "factory");
        assertEquals(-1, ModelSize.parameters(factory, 64));
    }

    @Test
    void aModelTooLargeForTheHeapFailsNamingWhatToChange() {
        JobConfig cfg = JobConfig.defaults();
        List<Finding> checks = MemoryCheck.find(local(cfg), 100_000_000, 256 * MIB, 256 * MIB);
        Finding offHeap = checks.stream().filter(c -> c.name().equals("off-heap")).findFirst().orElseThrow();
        Finding heap = checks.stream().filter(c -> c.name().equals("heap")).findFirst().orElseThrow();
        assertEquals(Status.FAIL, offHeap.status());
        assertTrue(offHeap.message().startsWith("about 4.5 GiB off-heap for 100,000,000 parameters or more (data.classes"
            + " not set) x 4 B x (parameters, gradient, 2 optimizer state vectors) x 3 (2 workers and the driver's copy),"
            + " of 256 MiB allowed"), offHeap.message());
        assertTrue(offHeap.message().contains("-Dorg.bytedeco.javacpp.maxbytes="), offHeap.message());
        assertEquals(Status.FAIL, heap.status());
        assertTrue(heap.message().endsWith("raise -Xmx (LOCKSTEP_JAVA_OPTS=-Xmx16g; spark.driver.memory with"
            + " spark-submit) or train a smaller model"), heap.message());
        assertTrue(MemoryCheck.find(local(cfg), 1_000, 256 * MIB, 256 * MIB).stream()
            .allMatch(c -> c.status() == Status.OK));
    }

    @Test
    void aHostThatCannotBeBoundFailsAndLoopbackForExecutorsElsewhereIsRefused() {
        JobConfig cfg = udpLocal();
        cfg = cfg.with("ps.host", "192.0.2.1"); // TEST-NET-1: documentation only, on no interface
        Finding c = new PortsCheck().run(local(cfg)).get(0);
        assertEquals(Status.FAIL, c.status());
        assertTrue(c.configError());
        assertTrue(c.message().startsWith("config key 'ps.host' is '192.0.2.1', which this machine cannot bind ("),
            c.message());
        JobConfig cluster = JobConfig.defaults()
            .with("spark.conf.spark.driver.host", "127.0.0.1"); // binds anywhere; only where it is announced matters
        List<Finding> checks = new PortsCheck().run(on(cluster, "spark://127.0.0.1:7077"));
        assertEquals(1, checks.size(), checks.toString());
        assertEquals(Status.OK, checks.get(0).status(), checks.get(0).line());
        cluster = cluster.with("ps.host", "127.0.0.1");
        checks = new PortsCheck().run(on(cluster, "spark://h:7077"));
        assertEquals(Status.OK, checks.get(0).status(), "it binds");
        assertEquals(Status.FAIL, checks.get(1).status());
        assertEquals("config key 'ps.host' is 127.0.0.1 but spark.master is spark://h:7077: executors on other hosts"
            + " cannot reach a loopback address; remove ps.host (the driver's endpoints then use the address Spark gives"
            + " the driver, spark.driver.host) or set it to an address of this driver they can reach",
            checks.get(1).message());
        assertEquals(1, new PortsCheck().run(on(cluster, "spark://127.0.0.1:7077")).size(),
            "a standalone master on loopback: every executor is on this machine");
        cluster = cluster.with("ps.transport", Transport.IPC);
        c = new PortsCheck().run(on(cluster, "spark://h:7077")).get(0);
        assertEquals(Status.FAIL, c.status());
        assertEquals("config key 'ps.transport' is ipc, which needs every worker in the driver's JVM, but spark.master"
            + " is spark://h:7077: use ps.transport: udp", c.message());
    }

    @Test
    void aStandaloneMasterMustBeReachableWithSlotsForEveryWorkerAtOnce() throws Exception {
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closed = s.getLocalPort(); // nothing listens there once closed
        }
        Finding none = new SparkCheck().run(on(JobConfig.defaults(), "spark://127.0.0.1:" + closed)).get(0);
        assertEquals(Status.FAIL, none.status());
        assertTrue(none.message().startsWith("spark.master spark://127.0.0.1:" + closed + ": cannot connect to 127.0.0.1:"
            + closed), none.message());
        // from ./lockstep: a cluster master is still checked (train refuses it: a warning says where to submit)
        System.setProperty("lockstep.launcher", "lockstep");
        try {
            Setting fromHere = Setting.of(JobConfig.defaults().with("spark.master", "spark://127.0.0.1:" + closed), false);
            assertEquals("spark://127.0.0.1:" + closed, fromHere.master());
            List<Finding> both = new SparkCheck().run(fromHere);
            assertEquals(Status.WARN, both.get(0).status());
            assertTrue(both.get(0).message().contains("./lockstep train refuses it"), both.get(0).message());
            assertEquals(Status.FAIL, both.get(1).status(), "and the master is checked: " + both);
        } finally {
            System.clearProperty("lockstep.launcher");
        }
        // the master's /json as a standalone master's web UI serves it
        com.fasterxml.jackson.databind.JsonNode state = new com.fasterxml.jackson.databind.ObjectMapper().readTree(
            "{\"workers\": [{\"state\": \"ALIVE\", \"cores\": 2, \"coresused\": 1},"
                + " {\"state\": \"ALIVE\", \"cores\": 2, \"coresused\": 0}, {\"state\": \"DEAD\", \"cores\": 8,"
                + " \"coresused\": 0}]}");
        assertEquals(Status.OK, SparkCheck.slots("spark://m:7077", state, 3, 1).status());
        Finding busy = SparkCheck.slots("spark://m:7077", state, 4, 1);
        assertEquals(Status.WARN, busy.status(), busy.message());
        assertEquals("spark.master spark://m:7077: 2 alive workers, 4 cores, 3 free; workers: 4 needs 4 at once: the job"
            + " waits (up to ps.timeout_seconds) until other applications free them", busy.message());
        Finding never = SparkCheck.slots("spark://m:7077", state, 5, 1);
        assertEquals(Status.FAIL, never.status());
        assertTrue(never.message().contains("but workers: 5 needs 5 cores at once (a barrier stage)"), never.message());
        assertEquals(Status.FAIL, SparkCheck.slots("spark://m:7077", state, 3, 2).status(),
            "spark.task.cpus 2: 2 tasks fit on the two 2-core workers, not 3");
    }

    @Test
    void aLocalCheckpointDirOnAClusterIsWarnedAboutNamingWhatToDo() {
        JobConfig cfg = JobConfig.defaults().with("output.dir", dir.resolve("out").toString());
        assertEquals(1, new OutputCheck().run(on(cfg.with("checkpoint.dir", "ckpt"), "local[2]")).size(),
            "one host: nothing to share");
        assertEquals(1, new OutputCheck().run(on(cfg.with("checkpoint.dir", "hdfs://nn/ckpt"), "spark://h:7077")).size());
        List<Finding> relative = new OutputCheck().run(on(cfg.with("checkpoint.dir", "ckpt"), "spark://h:7077"));
        assertEquals(Status.WARN, relative.get(1).status());
        assertTrue(relative.get(1).message().startsWith("checkpoint.dir ckpt is a local path and spark.master is"
            + " spark://h:7077: rank 0 writes checkpoints on its executor's host"), relative.get(1).message());
        assertTrue(relative.get(1).message().contains("give an absolute one"), relative.get(1).message());
        List<Finding> nfs = new OutputCheck().run(on(cfg.with("checkpoint.dir", "/mnt/nfs/ckpt"), "spark://h:7077"));
        assertEquals(Status.WARN, nfs.get(1).status());
        assertFalse(nfs.get(1).message().contains("relative"), nfs.get(1).message());
    }

    @Test
    void aPortRangeWithTooFewFreePortsFailsNamingTheKey() throws IOException {
        int first = 21_000 + 16 * java.util.concurrent.ThreadLocalRandom.current().nextInt(500);
        JobConfig cfg = udpLocal().with("ps.ports", first + "-" + (first + 9)); // 2 shards, workers here: 9 needed
        Finding ok = new PortsCheck().run(local(cfg)).get(0);
        assertEquals(Status.OK, ok.status(), ok.line());
        assertTrue(ok.message().contains("9 UDP ports free in ps.ports " + first + "-" + (first + 9)), ok.message());
        try (java.net.DatagramSocket taken = new java.net.DatagramSocket(
            new java.net.InetSocketAddress(java.net.InetAddress.getByName("127.0.0.1"), first + 3));
             java.net.DatagramSocket also = new java.net.DatagramSocket(
                 new java.net.InetSocketAddress(java.net.InetAddress.getByName("127.0.0.1"), first + 7))) {
            Finding f = new PortsCheck().run(local(cfg)).get(0);
            assertEquals(Status.FAIL, f.status());
            assertTrue(f.configError());
            assertEquals("config key 'ps.ports': only 8 of the 9 UDP ports needed are free on 127.0.0.1 in ps.ports "
                + first + "-" + (first + 9) + ": widen ps.ports or free ports there", f.message());
        }
    }

    @Test
    void theDigitsJobPassesOnThisMachine() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1500);
        JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out"));
        List<Finding> checks = Checkup.run(cfg);
        checks.forEach(c -> assertNotEquals(Status.FAIL, c.status(), c.line()));
        List<String> names = checks.stream().map(Finding::name).distinct().toList();
        assertEquals(List.of("spark", "nd4j", "gpu", "data", "output", "shm", "off-heap", "heap", "ports"), names);
        assertFalse(Files.exists(dir.resolve("out")), "the doctor creates nothing");
    }

    @Test
    void nd4jSaysWhichNativeBuildRunsAndWarnsWhereAnAvx2CpuRunsTheGenericOne() {
        CpuFlags avx2 = CpuFlags.parse("flags : fpu sse2 avx avx2 fma f16c\n", "/proc/cpuinfo");
        CpuFlags old = CpuFlags.parse("flags : fpu sse2 avx\n", "/proc/cpuinfo");
        NativeBuild.Choice chosen = new NativeBuild.Choice("-avx2", false, true, "CPU flags ...");
        Finding ok = Nd4jCheck.nativeBuild("backend loads", chosen, "linux-x86_64-avx2", avx2);
        assertEquals(Status.OK, ok.status());
        assertEquals("backend loads; build avx2 (linux-x86_64-avx2/libnd4jcpu.so); CPU has AVX2", ok.message());

        Finding oldCpu = Nd4jCheck.nativeBuild("backend loads", new NativeBuild.Choice("", false, true, "lacks"),
            "linux-x86_64", old);
        assertEquals(Status.OK, oldCpu.status());
        assertEquals("backend loads; build generic (linux-x86_64/libnd4jcpu.so); CPU lacks avx2 fma f16c", oldCpu.message());

        Finding forced = Nd4jCheck.nativeBuild("backend loads", new NativeBuild.Choice("", true, true, "given"),
            "linux-x86_64", avx2);
        assertEquals(Status.WARN, forced.status());
        assertTrue(forced.message().endsWith("CPU has AVX2: the AVX2 build runs DL4J's Adam step about 2.5x faster;"
            + " remove -Dorg.bytedeco.javacpp.platform.extension= or set it to -avx2"), forced.message());

        Finding late = Nd4jCheck.nativeBuild("backend loads", new NativeBuild.Choice("", false, false, "late"),
            "linux-x86_64-avx2", old);
        assertEquals(Status.WARN, late.status());
        assertTrue(late.message().endsWith(", but generic was wanted: JavaCPP started before Lockstep could choose; set"
            + " -Dorg.bytedeco.javacpp.platform.extension= on the JVM"), late.message());
    }

    @Test
    void nd4jOnThisMachineRunsTheBuildChosenForItsCpu() {
        Finding c = Nd4jCheck.onThisMachine();
        assertEquals(Status.OK, c.status(), c.line());
        String expected = CpuFlags.ofThisMachine().hasAll("avx2", "fma", "f16c") ? "avx2" : "generic";
        assertTrue(c.message().contains("; build " + expected + " ("), c.message());
    }
}
