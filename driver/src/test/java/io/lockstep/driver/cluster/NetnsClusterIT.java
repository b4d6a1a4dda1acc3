package io.lockstep.driver.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Many hosts on this machine: a Spark standalone cluster whose master (with the driver spark-submit starts there)
 * and two workers each live in their own network namespace with their own address on a bridge
 * ({@code deploy/netns-cluster.sh}, root only: skipped with the reason where namespaces cannot be made). The
 * digits job trains across the hosts exactly as in local mode, with the shards on the executors and on the driver,
 * with no address given: the driver's endpoints on the address Spark gave the driver, each executor's on its own.
 * A driver that would announce loopback to the executors is refused at once.
 * Runs after {@code package} in {@code ./mvnw -Pdist verify}, like {@link StandaloneClusterIT}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Tag("slow")
class NetnsClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration JOB_TIMEOUT = Duration.ofMinutes(5);

    @TempDir
    static Path dir;

    static StandaloneCluster cluster;
    static Path config;

    @BeforeAll
    static void startCluster() throws Exception {
        assumeTrue(System.getProperty(StandaloneCluster.DIST_JAR_PROPERTY) != null,
            "the namespace cluster tests submit the dist jar: they run after package in ./mvnw -Pdist verify");
        String unavailable = StandaloneCluster.namespacesUnavailable();
        if (unavailable != null) {
            System.out.println("NetnsClusterIT skipped: no network namespaces here: " + unavailable);
            abort("no network namespaces here: " + unavailable);
        }
        Path[] split = TestData.digitsSplit(dir, 1400);
        config = dir.resolve("digits.yaml");
        Files.writeString(config, String.join("\n",
            "data:",
            "  format: csv",
            "  train: " + split[0],
            "  test: " + split[1],
            "  normalize: standardize",
            "  validation_fraction: 0.2",
            "model: {hidden: [64]}",
            "optimizer: {type: adam, lr: 0.01}",
            "batch_size: 32",
            "epochs: 3",
            "workers: 2",
            "ps: {timeout_seconds: 60}",
            ""));
        cluster = StandaloneCluster.start(StandaloneCluster.Hosts.NAMESPACES, "NetnsClusterIT", 2);
    }

    @AfterAll
    static void stopCluster() throws Exception {
        if (cluster == null) {
            return;
        }
        List<Long> pids = new ArrayList<>(cluster.livePids());
        Path state = cluster.stateDir();
        cluster.close();
        List<Long> left = new ArrayList<>();
        for (long pid : pids) {
            if (!StandaloneCluster.awaitExit(pid, Duration.ofSeconds(10))) {
                left.add(pid);
            }
        }
        assertEquals(List.of(), left, "close() must end every process of the cluster");
        assertFalse(Files.exists(state), "close() removes the state dir " + state);
    }

    @Test
    @Order(1)
    void theHostsHaveTheirOwnAddresses() throws Exception {
        assertEquals("10.77.0.10", cluster.address("master"));
        assertEquals("10.77.0.11", cluster.address("worker-1"));
        assertEquals("10.77.0.12", cluster.address("worker-2"));
        assertEquals("spark://10.77.0.10:7077", cluster.masterUrl());
        JsonNode master = cluster.masterState();
        assertEquals(2, master.get("aliveworkers").asInt(), master.toString());
        List<String> hosts = new ArrayList<>();
        master.get("workers").forEach(w -> hosts.add(w.get("host").asText()));
        assertEquals(List.of("10.77.0.11", "10.77.0.12"), hosts.stream().sorted().toList(), master.toString());
    }

    @Test
    @Order(2)
    void shardsOnTheExecutorsTrainAsLocalModeDoes() throws Exception {
        JsonNode summary = trainOnTheCluster("executors");
        assertEquals("executors", summary.get("ps").get("placement").asText(), summary.get("ps").toString());
        assertArrayEquals(localParams(), params("executors"),
            "trained across three hosts, the parameters are bit-identical to local mode's");
    }

    @Test
    @Order(3)
    void shardsOnTheDriverTrainAsLocalModeDoes() throws Exception {
        JsonNode summary = trainOnTheCluster("driver");
        assertEquals("driver", summary.get("ps").get("placement").asText(), summary.get("ps").toString());
        assertArrayEquals(localParams(), params("driver"),
            "trained across three hosts, the parameters are bit-identical to local mode's");
    }

    /**
     * One host drops 1% and then 5% of the UDP packets it sends (an nftables rule: this kernel has no netem). The
     * exchange's frames are one IP packet each (ps.mtu auto: 1472 on the bridge), so a lost packet costs one
     * frame's resend: the job trains the same parameters, and summary.json counts the NAKs and retransmissions.
     */
    @Test
    @Order(5)
    void aLossyHostTrainsTheSameModelAndTheRetransmitsAreCounted() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(hasNft(), "nft (Debian nftables) is not installed");
        for (int percent : new int[]{1, 5}) {
            String report = cluster.loss("worker-1", percent);
            long began = System.nanoTime();
            JsonNode summary;
            try {
                summary = trainOnTheCluster("executors", "lossy-" + percent);
            } finally {
                cluster.loss("worker-1", 0);
            }
            double seconds = (System.nanoTime() - began) / 1e9;
            assertArrayEquals(localParams(), params("lossy-" + percent), "with " + percent + "% loss: " + report);
            JsonNode link = summary.get("attempts").get(0).get("drops").get("link");
            assertEquals(1, summary.get("attempts").size(), "no attempt failed: " + summary.get("attempts"));
            assertTrue(link.get("naks_sent").asLong() > 0, "the receivers asked for what was lost: " + link);
            assertTrue(link.get("retransmits").asLong() > 0, "and it was sent again: " + link);
            assertTrue(link.get("bytes_sent").asLong() > link.get("retransmitted_bytes").asLong(),
                "resent less than was sent: " + link);
            System.out.printf("NetnsClusterIT: %d%% loss on worker-1: %.1f s (submit to exit), %s%n", percent, seconds,
                link);
        }
    }

    /**
     * {@code deploy/spark-submit.sh doctor} on the cluster: every rank on its executor answers UDP to and from the
     * driver and the other rank, and sees checkpoint.dir; with worker 1 dropping all its UDP, both ranks' lines
     * fail naming what did not answer, and the doctor exits 1.
     */
    @Test
    @Order(6)
    void theDoctorOnTheClusterChecksUdpBetweenEveryHostAndTheCheckpointDir() throws Exception {
        String ckpt = "checkpoint.dir=" + dir.resolve("doctor-ckpt");
        StandaloneCluster.Result healthy = cluster.doctor(JOB_TIMEOUT, config, ckpt);
        List<String> lines = executorLines(healthy.output());
        assertEquals(0, healthy.exitCode(), () -> StandaloneCluster.tail(healthy.output(), 60));
        assertEquals(2, lines.size(), () -> StandaloneCluster.tail(healthy.output(), 60));
        for (String line : lines) {
            assertTrue(line.startsWith("OK    executors rank ") && line.contains("UDP to and from the driver's "
                + cluster.address("master") + " and every other rank; sees checkpoint.dir"), line);
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(hasNft(), "nft (Debian nftables) is not installed");
        cluster.loss("worker-1", 100);
        StandaloneCluster.Result cut;
        try {
            cut = cluster.doctor(JOB_TIMEOUT, config, ckpt, "ps.timeout_seconds=5");
        } finally {
            cluster.loss("worker-1", 0);
        }
        List<String> failing = executorLines(cut.output());
        assertEquals(1, cut.exitCode(), () -> StandaloneCluster.tail(cut.output(), 60));
        String w1 = cluster.address("worker-1");
        String w2 = cluster.address("worker-2");
        String worker1 = failing.stream().filter(l -> l.contains(w1)).findFirst().orElseThrow();
        assertTrue(worker1.startsWith("FAIL  executors rank ") && worker1.contains("no UDP answer from the driver's"),
            worker1);
        String worker2 = failing.stream().filter(l -> l.contains(w2)).findFirst().orElseThrow();
        assertTrue(worker2.contains("no UDP answer from rank(s) ["), worker2);
        assertFalse(worker2.contains("from the driver's"), "worker 2 reaches the driver: " + worker2);
    }

    private static List<String> executorLines(String output) {
        return output.lines().filter(l -> l.contains(" executors rank ")).toList();
    }

    private static boolean hasNft() {
        for (String dir : new String[]{"/usr/sbin", "/sbin", "/usr/bin"}) {
            if (Files.isExecutable(Path.of(dir, "nft"))) {
                return true;
            }
        }
        return false;
    }

    @Test
    @Order(4)
    void aDriverOnLoopbackIsRefusedAtOnceInsteadOfWaitingForExecutors() throws Exception {
        try (Submission job = cluster.submit(Map.of("SPARK_LOCAL_IP", "127.0.0.1"), List.of(), config,
            "output.dir=" + dir.resolve("loopback"))) {
            StandaloneCluster.Result run = job.await(Duration.ofMinutes(2));
            assertEquals(2, run.exitCode(), () -> StandaloneCluster.tail(run.output(), 40));
            assertEquals(List.of("lockstep: error: spark.master is spark://10.77.0.10:7077 but this driver's address is"
                + " 127.0.0.1 (loopback; from SPARK_LOCAL_IP=127.0.0.1): executors on other hosts could never connect"
                + " back and the job would wait for them forever; run the driver with SPARK_LOCAL_IP (or --conf"
                + " spark.driver.host) set to this machine's address on the cluster network, or leave both unset to"
                + " let Spark pick it"), run.errorLines(), () -> StandaloneCluster.tail(run.output(), 40));
            assertFalse(run.output().contains("Running Spark version"), "refused before Spark started");
        }
    }

    /** The job submitted from the master's host with the shards at {@code placement} and no address set. */
    private static JsonNode trainOnTheCluster(String placement) throws Exception {
        return trainOnTheCluster(placement, placement);
    }

    /** As above, its outputs in {@code name}. */
    private static JsonNode trainOnTheCluster(String placement, String name) throws Exception {
        StandaloneCluster.Result run = cluster.run(JOB_TIMEOUT, List.of(), config, "ps.shard_placement=" + placement,
            "output.dir=" + dir.resolve(name), "checkpoint.dir=" + dir.resolve(name + "-ckpt"));
        assertEquals(0, run.exitCode(), () -> "spark-submit failed:\n" + StandaloneCluster.tail(run.output(), 40));
        assertTrue(run.output().contains("the driver's endpoints on " + cluster.address("master")),
            () -> "the driver's endpoints on the address Spark gave it:\n" + StandaloneCluster.tail(run.output(), 40));
        JsonNode summary = JSON.readTree(dir.resolve(name + "/summary.json").toFile());
        List<Long> replicas = new ArrayList<>();
        summary.get("replicas").forEach(r -> replicas.add(Long.parseLong(r.asText().substring(0, r.asText().indexOf('@')))));
        assertEquals(2, replicas.size(), summary.get("replicas").toString());
        assertTrue(run.executorPids().containsAll(replicas),
            "the replicas ran in the executor JVMs of the workers' hosts " + run.executorPids() + ": " + replicas);
        java.util.Set<String> addresses = new java.util.TreeSet<>();
        summary.get("replicas").forEach(r -> addresses.add(r.asText().substring(r.asText().lastIndexOf(' ') + 1)));
        assertEquals(new java.util.TreeSet<>(List.of(cluster.address("worker-1"), cluster.address("worker-2"))), addresses,
            "each replica names its executor's own address: " + summary.get("replicas"));
        return summary;
    }

    private static float[] localRun;

    /** The same job in local mode (once). */
    private static synchronized float[] localParams() throws Exception {
        if (localRun == null) {
            JobConfig local = ConfigLoader.load(config, List.of("output.dir=" + dir.resolve("local"),
                "checkpoint.dir=" + dir.resolve("local-ckpt"), "spark.master=local[2]"));
            TrainingJob.run(local);
            localRun = params("local");
        }
        return localRun;
    }

    private static float[] params(String run) throws Exception {
        return ModelSerializer.restoreMultiLayerNetwork(dir.resolve(run).resolve("model.zip").toFile())
            .params().toFloatVector();
    }
}
