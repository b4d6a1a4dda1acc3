package io.lockstep.driver.spark;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.kryo.LockstepKryoRegistrator;
import org.apache.spark.SparkConf;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The Spark configuration of a job: its master, scratch space, the barrier stage's waits and the serializer. */
public final class SparkConfs {
    private static final Pattern LOCAL = Pattern.compile("local(?:\\[(\\*|\\d+)(?:,\\d+)?])?");

    private SparkConfs() {
    }

    /**
     * The job's {@code SparkConf}: {@code spark.master} (else spark-submit's, else one local slot per worker),
     * loopback and a scratch folder of its own on a local master, barrier waits bounded by
     * {@code ps.timeout_seconds}, then the user's {@code spark.conf}, then {@link #kryo Kryo} where the user chose
     * no serializer.
     */
    public static SparkConf of(JobConfig cfg) {
        return of(cfg, true);
    }

    /**
     * As {@link #of(JobConfig)}; without {@code fromThisLauncher} a cluster master is not refused for being given to
     * {@code ./lockstep} (the doctor checks the cluster a job will be submitted to from there).
     */
    public static SparkConf of(JobConfig cfg, boolean fromThisLauncher) {
        SparkConf conf = new SparkConf().setAppName("lockstep");
        if (cfg.spark().master() != null) {
            conf.setMaster(cfg.spark().master());
        } else if (!conf.contains("spark.master")) {
            conf.setMaster("local[" + cfg.workers() + "]");
        }
        String master = conf.get("spark.master");
        if (master.startsWith("local")) {
            int slots = localSlots(master);
            if (slots < cfg.workers()) {
                throw new ConfigLoader.ConfigException("config key 'spark.master' is " + master + " (" + slots
                    + " task slot" + (slots == 1 ? "" : "s") + ") but workers is " + cfg.workers()
                    + ": the barrier stage runs all workers at once, one slot each");
            }
            if (!conf.contains("spark.local.dir") && System.getenv("SPARK_LOCAL_DIRS") == null) {
                conf.set("spark.local.dir",
                    SparkScratch.forThisProcess(Path.of(System.getProperty("java.io.tmpdir"))).toString());
            }
            conf.setIfMissing("spark.driver.host", "127.0.0.1");
            conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            conf.setIfMissing("spark.ui.enabled", "false");
        }
        // On a cluster Spark waits for enough slots for the barrier stage (executors may still be
        // starting); by default for 40 x 15 s. Bound that wait by ps.timeout_seconds.
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.interval", "5s");
        // the barrier's allGather (shard endpoints) and barrier() (the shards' last step) wait for every rank:
        // within the stall budget, not Spark's default of a year
        conf.setIfMissing("spark.barrier.sync.timeout", cfg.ps().timeoutSeconds() + "s");
        conf.setIfMissing("spark.scheduler.barrier.maxConcurrentTasksCheck.maxFailures",
            String.valueOf(Math.max(1, cfg.ps().timeoutSeconds() / 5)));
        cfg.spark().conf().forEach(conf::set);
        kryo(conf);
        if (!conf.get("spark.master").startsWith("local")) {
            refuseUnreachable(conf, fromThisLauncher);
        }
        return conf;
    }

    static final String KRYO = "org.apache.spark.serializer.KryoSerializer";
    static final String REGISTRATOR = LockstepKryoRegistrator.class.getName();

    /**
     * Kryo with registration required, each unless the user set it ({@code spark.conf} in the job, {@code --conf},
     * spark-defaults.conf), and Lockstep's registrator after the user's own ones. The one place these defaults are
     * made: {@code ./lockstep}, {@code deploy/spark-submit.sh} and {@code Lockstep.sparkConf} all come here.
     */
    public static SparkConf kryo(SparkConf conf) {
        conf.setIfMissing("spark.serializer", KRYO);
        conf.setIfMissing("spark.kryo.registrationRequired", "true");
        String registrators = conf.get("spark.kryo.registrator", "").trim();
        if (!registered(conf)) {
            conf.set("spark.kryo.registrator", registrators.isEmpty() ? REGISTRATOR : registrators + "," + REGISTRATOR);
        }
        return conf;
    }

    /**
     * Refuses a running Spark application (the API's) whose Kryo serializer lacks Lockstep's registrator: Kryo
     * could not rebuild Lockstep's records without it, and would fail mid-job.
     */
    public static void requireRegistrator(SparkConf running) {
        String serializer = running.get("spark.serializer", "org.apache.spark.serializer.JavaSerializer");
        String registrators = running.get("spark.kryo.registrator", "");
        if (serializer.contains("Kryo") && !registered(running)) {
            throw new IllegalStateException("this Spark application serializes with " + serializer
                + " but without Lockstep's classes: build its SparkConf with Lockstep.sparkConf(conf), or add "
                + REGISTRATOR + " to spark.kryo.registrator" + (registrators.isEmpty() ? "" : " (now " + registrators + ")"));
        }
    }

    private static boolean registered(SparkConf conf) {
        return Arrays.asList(conf.get("spark.kryo.registrator", "").trim().split("\\s*,\\s*")).contains(REGISTRATOR);
    }

    /** The system property {@code ./lockstep} sets: its driver runs embedded Spark from the project's classpath. */
    static final String LAUNCHER = "lockstep.launcher";

    /**
     * A cluster master that could never run the job, refused before Spark starts rather than waited on: from
     * {@code ./lockstep} (no application jar for the executors), or with a driver announced on an address the
     * executors cannot send to.
     */
    private static void refuseUnreachable(SparkConf conf, boolean fromThisLauncher) {
        String master = conf.get("spark.master");
        if (fromThisLauncher && launchedByLockstep(conf)) {
            throw new ConfigLoader.ConfigException("config key 'spark.master' is " + master + ", a cluster: ./lockstep"
                + " runs the driver on embedded Spark and ships no application jar, so executors could not load"
                + " Lockstep's classes; submit with deploy/spark-submit.sh --master " + master + " CONFIG [--set ...]"
                + " (it sends the jar and the JVM flags executors need)");
        }
        String host = DriverAddress.sparkDriverHost(conf);
        String problem = DriverAddress.problem(master, host, DriverAddress.resolve(host));
        if (problem != null) {
            throw new ConfigLoader.ConfigException(problem);
        }
    }

    /** Whether this driver is {@code ./lockstep}'s embedded one, which ships no application jar to executors. */
    public static boolean launchedByLockstep(SparkConf conf) {
        return "lockstep".equals(System.getProperty(LAUNCHER)) && !conf.contains("spark.jars");
    }

    /** Task slots of a local master: local, local[N], local[*], local[N,F], local[*,F]. */
    static int localSlots(String master) {
        Matcher m = LOCAL.matcher(master.trim());
        if (!m.matches()) {
            return Integer.MAX_VALUE; // local-cluster[...] and the like: Spark checks
        }
        String n = m.group(1);
        return n == null ? 1 : n.equals("*") ? Runtime.getRuntime().availableProcessors() : Integer.parseInt(n);
    }
}
