package io.lockstep.driver.spark;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.kryo.LockstepKryoRegistrator;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The task slots of each form of local master (a job that needs more fails at once instead of waiting), and cluster
 * masters that could never run the job, refused before Spark starts.
 */
class SparkConfsTest {
    @Test
    void localMastersHaveTheirSlots() {
        assertEquals(1, SparkConfs.localSlots("local"));
        assertEquals(3, SparkConfs.localSlots("local[3,2]"));
        assertEquals(Runtime.getRuntime().availableProcessors(), SparkConfs.localSlots("local[*]"));
        assertEquals(Integer.MAX_VALUE, SparkConfs.localSlots("local-cluster[2,1,1024]"));
    }

    @Test
    void aClusterMasterWithADriverOnLoopbackIsRefusedAtOnce() {
        JobConfig cfg = JobConfig.defaults().with("spark.master", "spark://10.77.0.10:7077")
            .with("spark.conf.spark.driver.host", "127.0.0.1");
        String e = assertThrows(ConfigLoader.ConfigException.class, () -> SparkConfs.of(cfg)).getMessage();
        assertTrue(e.startsWith("spark.master is spark://10.77.0.10:7077 but this driver's address is 127.0.0.1"), e);
        assertEquals("spark://10.77.0.10:7077",
            SparkConfs.of(cfg.with("spark.conf.spark.driver.host", "10.77.0.10")).get("spark.master"));
    }

    @Test
    void theLauncherRefusesAClusterMasterItCannotShipTheJarTo() {
        JobConfig cfg = JobConfig.defaults().with("spark.master", "spark://10.77.0.10:7077")
            .with("spark.conf.spark.driver.host", "10.77.0.10");
        String before = System.getProperty(SparkConfs.LAUNCHER);
        System.setProperty(SparkConfs.LAUNCHER, "lockstep");
        try {
            String e = assertThrows(ConfigLoader.ConfigException.class, () -> SparkConfs.of(cfg)).getMessage();
            assertEquals("config key 'spark.master' is spark://10.77.0.10:7077, a cluster: ./lockstep runs the driver on"
                + " embedded Spark and ships no application jar, so executors could not load Lockstep's classes;"
                + " submit with deploy/spark-submit.sh --master spark://10.77.0.10:7077 CONFIG [--set ...] (it sends"
                + " the jar and the JVM flags executors need)", e);
            assertEquals("local[2]", SparkConfs.of(cfg.with("spark.master", "local[2]")).get("spark.master"),
                "embedded Spark is the launcher's own");
        } finally {
            if (before == null) {
                System.clearProperty(SparkConfs.LAUNCHER);
            } else {
                System.setProperty(SparkConfs.LAUNCHER, before);
            }
        }
    }

    @Test
    void kryoWithRegistrationRequiredByDefault() {
        SparkConf conf = SparkConfs.of(JobConfig.defaults());
        assertEquals("org.apache.spark.serializer.KryoSerializer", conf.get("spark.serializer"));
        assertEquals("true", conf.get("spark.kryo.registrationRequired"));
        assertEquals(LockstepKryoRegistrator.class.getName(), conf.get("spark.kryo.registrator"));
    }

    @Test
    void theUsersSerializerChoicesAndRegistratorAreKept() {
        SparkConf conf = SparkConfs.of(JobConfig.defaults()
            .with("spark.conf.spark.serializer", "org.apache.spark.serializer.JavaSerializer")
            .with("spark.conf.spark.kryo.registrationRequired", "false")
            .with("spark.conf.spark.kryo.registrator", "com.example.A, com.example.B"));
        assertEquals("org.apache.spark.serializer.JavaSerializer", conf.get("spark.serializer"));
        assertEquals("false", conf.get("spark.kryo.registrationRequired"));
        assertEquals("com.example.A, com.example.B," + LockstepKryoRegistrator.class.getName(),
            conf.get("spark.kryo.registrator"), "appended to the user's list, never in its place");
        assertEquals(conf.get("spark.kryo.registrator"), SparkConfs.kryo(conf).get("spark.kryo.registrator"),
            "listed once");
    }

    /** spark-submit's --conf and spark-defaults.conf reach the driver as system properties. */
    @Test
    void aSerializerFromSparkSubmitIsKept() {
        System.setProperty("spark.serializer", "org.apache.spark.serializer.JavaSerializer");
        try {
            assertEquals("org.apache.spark.serializer.JavaSerializer",
                SparkConfs.of(JobConfig.defaults()).get("spark.serializer"));
        } finally {
            System.clearProperty("spark.serializer");
        }
    }

    @Test
    void aKryoSessionWithoutLockstepsRegistratorIsRefused() {
        SparkConf theirs = new SparkConf(false).set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
            .set("spark.kryo.registrator", "com.example.A");
        String e = assertThrows(IllegalStateException.class, () -> SparkConfs.requireRegistrator(theirs)).getMessage();
        assertEquals("this Spark application serializes with org.apache.spark.serializer.KryoSerializer but without"
            + " Lockstep's classes: build its SparkConf with Lockstep.sparkConf(conf), or add"
            + " io.lockstep.driver.kryo.LockstepKryoRegistrator to spark.kryo.registrator (now com.example.A)", e);
        SparkConfs.requireRegistrator(SparkConfs.kryo(theirs));
        SparkConfs.requireRegistrator(new SparkConf(false)); // Java serialization needs nothing
    }
}
