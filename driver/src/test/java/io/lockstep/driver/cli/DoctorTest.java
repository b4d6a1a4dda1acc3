package io.lockstep.driver.cli;

import io.lockstep.driver.config.ShardPlacement;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.JobConfig;
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

    static Doctor.Placement local(JobConfig cfg) {
        return Doctor.Placement.of("local[" + cfg.workers + "]", cfg);
    }

    /** Embedded Spark over the wire: UDP, no in-memory exchange (what a local job did before local reduction). */
    static JobConfig udpLocal() {
        JobConfig cfg = new JobConfig();
        cfg.ps.transport = Transport.UDP;
        cfg.ps.localReduction = false;
        return cfg;
    }

    @Test
    void sharedMemoryEstimatesMatchWhatWasMeasured() {
        // measured with du on /dev/shm/lockstep-*: 191 MiB for the server's driver (2 shards, 2 workers),
        // 191 MiB for the workers' driver of a JVM with both workers, 143 MiB for an executor with one
        long term = 8 * MIB;
        assertEquals(191, Doctor.serverDriverBytes(2, 2, term) / (double) MIB, 4);
        assertEquals(191, Doctor.workersDriverBytes(2, 2, term) / (double) MIB, 4);
        assertEquals(143, Doctor.workersDriverBytes(2, 1, term) / (double) MIB, 4);
        JobConfig cfg = udpLocal();
        assertEquals(382, Doctor.driverHostNeeds(cfg, local(cfg), term) / (double) MIB, 8);
        JobConfig memory = new JobConfig(); // the default under embedded Spark: no Aeron at all
        assertEquals("memory", Doctor.exchange(memory, local(memory)));
        assertEquals(0, Doctor.driverHostNeeds(memory, local(memory), term));
        JobConfig cluster = new JobConfig();
        // shards on the executors (the default on a cluster): the driver keeps only the all-gather endpoint
        assertEquals(Doctor.serverDriverBytes(0, 2, term), Doctor.driverHostNeeds(cluster,
            Doctor.Placement.of("spark://h:7077", cluster), term));
        JobConfig onDriver = new JobConfig();
        onDriver.ps.shardPlacement = ShardPlacement.DRIVER;
        assertEquals(191, Doctor.driverHostNeeds(onDriver, Doctor.Placement.of("spark://h:7077", onDriver), term)
            / (double) MIB, 4);
        assertEquals(191 + 2 * 143, Doctor.driverHostNeeds(cluster, Doctor.Placement.of("local-cluster[2,1,1024]",
            cluster), term) / (double) MIB, 12);
    }

    @Test
    void dockersDefaultSharedMemoryFailsAndTheRemedyIsNamed() {
        JobConfig memory = new JobConfig();
        Doctor.Check none = Doctor.shm(memory, local(memory), "local[2]", new Doctor.Shm("/dev/shm", 64 * MIB)).get(0);
        assertEquals(Doctor.Status.OK, none.status());
        assertTrue(none.message().startsWith("no Aeron shared memory needed"), none.message());
        JobConfig cfg = udpLocal();
        List<Doctor.Check> checks = Doctor.shm(cfg, local(cfg), "local[2]", new Doctor.Shm("/dev/shm", 64 * MIB));
        assertEquals(1, checks.size());
        Doctor.Check c = checks.get(0);
        assertEquals(Doctor.Status.FAIL, c.status());
        assertTrue(c.message().startsWith("/dev/shm: 64 MiB free but Aeron needs about 389 MiB (this JVM runs the"
            + " parameter server and 2 workers, 2 shards, log buffers of 3 x ps.term_length 8 MiB): give /dev/shm at"
            + " least 448 MiB (docker run --shm-size=448m)"), c.message());
        // two UDP drivers do not fit 64 MiB at any term length; one IPC driver with small terms does
        assertTrue(c.message().endsWith(", or set ps.transport: ipc and ps.term_length: 524288 (about 60 MiB: one media"
            + " driver)"), c.message());

        List<Doctor.Check> roomy = Doctor.shm(cfg, local(cfg), "local[2]", new Doctor.Shm("/dev/shm", 256 * MIB));
        assertTrue(roomy.get(0).message().contains(", or set ps.term_length: 4194304 (about 245 MiB;"),
            roomy.get(0).message());
        assertEquals(Doctor.Status.OK, Doctor.shm(cfg, local(cfg), "local[2]", new Doctor.Shm("/dev/shm", 512 * MIB))
            .get(0).status());
    }

    @Test
    void parameterEstimatesMatchTheModelsTheJobBuilds() throws IOException {
        JobConfig mlp = new JobConfig();
        mlp.data.classes = 10;
        assertEquals(235_146, Doctor.estimateParams(mlp, 784), "README: the MNIST MLP");
        JobConfig lenet = new JobConfig();
        lenet.model.type = "lenet";
        lenet.data.classes = 10;
        assertEquals(431_080, Doctor.estimateParams(lenet, 784), "README: the MNIST CNN");
        for (int features : new int[]{64, 100, 784, 1024}) {
            assertEquals(ModelSetup.build(lenet, features, null, 10, "classification", 10).network().parameterCount(),
                Doctor.estimateParams(lenet, features), features + " features");
        }
        JobConfig json = new JobConfig();
        json.model.type = "json";
        json.model.path = Files.writeString(dir.resolve("net.json"), new NeuralNetConfiguration.Builder().list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(20).activation(Activation.RELU).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(20).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build().toJson()).toString();
        assertEquals(64 * 20 + 20 + 20 * 10 + 10, Doctor.estimateParams(json, -1));
        JobConfig factory = new JobConfig();
        factory.model.type = "factory";
        assertEquals(-1, Doctor.estimateParams(factory, 64));
    }

    @Test
    void aModelTooLargeForTheHeapFailsNamingWhatToChange() {
        JobConfig cfg = new JobConfig();
        List<Doctor.Check> checks = Doctor.memory(cfg, local(cfg), 100_000_000, 256 * MIB, 256 * MIB);
        Doctor.Check offHeap = checks.stream().filter(c -> c.name().equals("off-heap")).findFirst().orElseThrow();
        Doctor.Check heap = checks.stream().filter(c -> c.name().equals("heap")).findFirst().orElseThrow();
        assertEquals(Doctor.Status.FAIL, offHeap.status());
        assertTrue(offHeap.message().startsWith("about 4.5 GiB off-heap for 100,000,000 parameters or more (data.classes"
            + " not set) x 4 B x (parameters, gradient, 2 optimizer state vectors) x 3 (2 workers and the driver's copy),"
            + " of 256 MiB allowed"), offHeap.message());
        assertTrue(offHeap.message().contains("-Dorg.bytedeco.javacpp.maxbytes="), offHeap.message());
        assertEquals(Doctor.Status.FAIL, heap.status());
        assertTrue(heap.message().endsWith("raise -Xmx (LOCKSTEP_JAVA_OPTS=-Xmx16g; spark.driver.memory with"
            + " spark-submit) or train a smaller model"), heap.message());
        assertTrue(Doctor.memory(cfg, local(cfg), 1_000, 256 * MIB, 256 * MIB).stream()
            .allMatch(c -> c.status() == Doctor.Status.OK));
    }

    @Test
    void aHostThatCannotBeBoundFailsAndAClusterWithLoopbackWarns() {
        JobConfig cfg = udpLocal();
        cfg.ps.host = "192.0.2.1"; // TEST-NET-1: documentation only, on no interface
        Doctor.Check c = Doctor.ports(cfg, local(cfg), "local[2]").get(0);
        assertEquals(Doctor.Status.FAIL, c.status());
        assertTrue(c.configError());
        assertTrue(c.message().startsWith("config key 'ps.host' is '192.0.2.1', which this machine cannot bind ("),
            c.message());
        JobConfig cluster = new JobConfig();
        List<Doctor.Check> checks = Doctor.ports(cluster, Doctor.Placement.of("spark://h:7077", cluster), "spark://h:7077");
        assertEquals(Doctor.Status.OK, checks.get(0).status());
        assertEquals(Doctor.Status.WARN, checks.get(1).status());
        cluster.ps.transport = Transport.IPC;
        c = Doctor.ports(cluster, Doctor.Placement.of("spark://h:7077", cluster), "spark://h:7077").get(0);
        assertEquals(Doctor.Status.FAIL, c.status());
        assertEquals("config key 'ps.transport' is ipc, which needs every worker in the driver's JVM, but spark.master"
            + " is spark://h:7077: use ps.transport: udp", c.message());
    }

    @Test
    void theDigitsJobPassesOnThisMachine() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1500);
        JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out"));
        List<Doctor.Check> checks = Doctor.check(cfg);
        checks.forEach(c -> assertNotEquals(Doctor.Status.FAIL, c.status(), c.line()));
        List<String> names = checks.stream().map(Doctor.Check::name).distinct().toList();
        assertEquals(List.of("spark", "nd4j", "data", "output", "shm", "off-heap", "heap", "ports"), names);
        assertFalse(Files.exists(dir.resolve("out")), "the doctor creates nothing");
    }

    @Test
    void nd4jSaysWhichNativeBuildRunsAndWarnsWhereAnAvx2CpuRunsTheGenericOne() {
        CpuFlags avx2 = CpuFlags.parse("flags : fpu sse2 avx avx2 fma f16c\n", "/proc/cpuinfo");
        CpuFlags old = CpuFlags.parse("flags : fpu sse2 avx\n", "/proc/cpuinfo");
        NativeBuild.Choice chosen = new NativeBuild.Choice("-avx2", false, true, "CPU flags ...");
        Doctor.Check ok = Doctor.nativeBuild("backend loads", chosen, "linux-x86_64-avx2", avx2);
        assertEquals(Doctor.Status.OK, ok.status());
        assertEquals("backend loads; build avx2 (linux-x86_64-avx2/libnd4jcpu.so); CPU has AVX2", ok.message());

        Doctor.Check oldCpu = Doctor.nativeBuild("backend loads", new NativeBuild.Choice("", false, true, "lacks"),
            "linux-x86_64", old);
        assertEquals(Doctor.Status.OK, oldCpu.status());
        assertEquals("backend loads; build generic (linux-x86_64/libnd4jcpu.so); CPU lacks avx2 fma f16c", oldCpu.message());

        Doctor.Check forced = Doctor.nativeBuild("backend loads", new NativeBuild.Choice("", true, true, "given"),
            "linux-x86_64", avx2);
        assertEquals(Doctor.Status.WARN, forced.status());
        assertTrue(forced.message().endsWith("CPU has AVX2: the AVX2 build runs DL4J's Adam step about 2.5x faster;"
            + " remove -Dorg.bytedeco.javacpp.platform.extension= or set it to -avx2"), forced.message());

        Doctor.Check late = Doctor.nativeBuild("backend loads", new NativeBuild.Choice("", false, false, "late"),
            "linux-x86_64-avx2", old);
        assertEquals(Doctor.Status.WARN, late.status());
        assertTrue(late.message().endsWith(", but generic was wanted: JavaCPP started before Lockstep could choose; set"
            + " -Dorg.bytedeco.javacpp.platform.extension= on the JVM"), late.message());
    }

    @Test
    void nd4jOnThisMachineRunsTheBuildChosenForItsCpu() {
        Doctor.Check c = Doctor.nd4j();
        assertEquals(Doctor.Status.OK, c.status(), c.line());
        String expected = CpuFlags.ofThisMachine().hasAll("avx2", "fma", "f16c") ? "avx2" : "generic";
        assertTrue(c.message().contains("; build " + expected + " ("), c.message());
    }
}
