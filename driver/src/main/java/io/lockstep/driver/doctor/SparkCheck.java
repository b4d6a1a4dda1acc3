package io.lockstep.driver.doctor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.spark.SparkConfs;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/**
 * The Spark master the job resolves. A standalone master ({@code spark://host:port}) must accept a connection, and
 * its web UI's JSON ({@code http://host:8080/json}, where it answers) must show task slots for every worker at once:
 * the training stage is a barrier stage, all its tasks run together or none does.
 */
final class SparkCheck implements Check {
    /** How long the doctor waits for a master or its web UI. */
    static final int CONNECT_MILLIS = 5000;
    /** The standalone master's web UI port unless the cluster moved it. */
    static final int MASTER_UI_PORT = 8080;

    @Override
    public List<Finding> run(Setting job) {
        if (job.sparkError() != null) {
            return List.of(Finding.configFail("spark", job.sparkError()));
        }
        int workers = job.cfg().workers();
        String master = job.master();
        if (!master.startsWith("spark://")) {
            return List.of(Finding.ok("spark", "spark.master " + master + (master.startsWith("local[")
                ? ": task slots for " + workers + " worker" + (workers == 1 ? "" : "s") : "")));
        }
        List<Finding> findings = new ArrayList<>();
        if (SparkConfs.launchedByLockstep(new org.apache.spark.SparkConf(false))) {
            findings.add(Finding.warn("spark", "spark.master " + master + " is a cluster: ./lockstep train refuses it"
                + " (its embedded driver ships no jar to executors); submit with deploy/spark-submit.sh --master "
                + master + " CONFIG, or run deploy/spark-submit.sh doctor CONFIG to check the executors too"));
        }
        String host = null; // the first master of the list (standbys after it) that accepts a connection
        List<String> refused = new ArrayList<>();
        for (String hostPort : master.substring("spark://".length()).split(",")) {
            int colon = hostPort.lastIndexOf(':');
            String h = colon > 0 ? hostPort.substring(0, colon) : hostPort;
            int port = colon > 0 ? Integer.parseInt(hostPort.substring(colon + 1)) : 7077;
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(h, port), CONNECT_MILLIS);
                host = h;
                break;
            } catch (IOException e) {
                refused.add(h + ":" + port + " (" + e.getMessage() + ")");
            }
        }
        if (host == null) {
            findings.add(Finding.fail("spark", "spark.master " + master + ": cannot connect to "
                + String.join(", ", refused) + ": is the master running there, and does this machine reach it?"));
            return findings;
        }
        int taskCpus = Integer.parseInt(job.cfg().spark().conf().getOrDefault("spark.task.cpus", "1"));
        JsonNode state = masterState(host, MASTER_UI_PORT);
        if (state == null) {
            findings.add(Finding.ok("spark", "spark.master " + master + ": reachable; its web UI (" + host + ":"
                + MASTER_UI_PORT + ") does not answer, so its free slots are not checked: the job needs "
                + workers + " x spark.task.cpus " + taskCpus + " cores at once"));
            return findings;
        }
        findings.add(slots(master, state, workers, taskCpus));
        return findings;
    }

    /** Whether the master's workers have cores for every rank at once, now and at all. */
    static Finding slots(String master, JsonNode state, int workers, int taskCpus) {
        int alive = 0;
        int cores = 0;
        int free = 0;
        for (JsonNode w : state.path("workers")) {
            if (w.path("state").asText().equals("ALIVE")) {
                alive++;
                int c = w.path("cores").asInt();
                int used = w.path("coresused").asInt();
                cores += c / taskCpus * taskCpus;
                free += (c - used) / taskCpus * taskCpus;
            }
        }
        int needed = workers * taskCpus;
        String counts = alive + " alive worker" + (alive == 1 ? "" : "s") + ", " + cores + " cores, " + free + " free";
        if (cores < needed) {
            return Finding.fail("spark", "spark.master " + master + ": " + counts + ", but workers: " + workers
                + " needs " + needed + " cores at once (a barrier stage): fewer workers, or more or larger Spark"
                + " workers");
        }
        if (free < needed) {
            return Finding.warn("spark", "spark.master " + master + ": " + counts + "; workers: " + workers + " needs "
                + needed + " at once: the job waits (up to ps.timeout_seconds) until other applications free them");
        }
        return Finding.ok("spark", "spark.master " + master + ": " + counts + ": slots for " + workers + " worker"
            + (workers == 1 ? "" : "s"));
    }

    /** The master's {@code /json} state, or null where its web UI does not answer. */
    static JsonNode masterState(String host, int uiPort) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://" + host + ":" + uiPort + "/json/").toURL()
                .openConnection();
            c.setConnectTimeout(CONNECT_MILLIS);
            c.setReadTimeout(CONNECT_MILLIS);
            try (InputStream in = c.getInputStream()) {
                JsonNode node = new ObjectMapper().readTree(in);
                return node.has("workers") ? node : null;
            } finally {
                c.disconnect();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
