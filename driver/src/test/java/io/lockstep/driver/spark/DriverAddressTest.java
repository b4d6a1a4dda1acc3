package io.lockstep.driver.spark;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** Where the driver's endpoints bind and are announced when the user gives no address, and what is refused. */
class DriverAddressTest {
    private static SparkConf conf(String master, String driverHost) {
        SparkConf conf = new SparkConf(false).set("spark.master", master);
        return driverHost == null ? conf : conf.set("spark.driver.host", driverHost);
    }

    @Test
    void onAClusterTheDriverIsAnnouncedWhereSparkKnowsIt() {
        JobConfig cfg = JobConfig.defaults();
        assertEquals("10.77.0.10", DriverAddress.of(cfg, conf("spark://10.77.0.10:7077", "10.77.0.10")));
        assertEquals("127.0.0.1", DriverAddress.of(cfg, conf("spark://localhost:7077", "localhost")),
            "a master on loopback: every host is this machine, and a name becomes an address");
        assertEquals("127.0.0.1", DriverAddress.of(cfg, conf("local[2]", "10.77.0.10")), "embedded: loopback");
        assertEquals("127.0.0.1", DriverAddress.of(cfg, conf("local-cluster[2,1,1024]", null)));
        assertEquals("10.9.9.9", DriverAddress.of(cfg.with("ps.host", "10.9.9.9"), conf("spark://10.77.0.10:7077", "10.77.0.10")),
            "ps.host: the interface the user names");
    }

    @Test
    void loopbackOrAWildcardIsNeverAnnouncedToExecutorsElsewhere() {
        JobConfig cfg = JobConfig.defaults();
        String loop = assertThrows(ConfigLoader.ConfigException.class,
            () -> DriverAddress.of(cfg, conf("spark://10.77.0.10:7077", "127.0.0.1"))).getMessage();
        assertTrue(loop.startsWith("spark.master is spark://10.77.0.10:7077 but this driver's address is 127.0.0.1"
            + " (loopback; from "), loop);
        assertTrue(loop.contains("run the driver with SPARK_LOCAL_IP (or --conf spark.driver.host) set to this"
            + " machine's address on the cluster network"), loop);
        String any = assertThrows(ConfigLoader.ConfigException.class,
            () -> DriverAddress.of(cfg, conf("yarn", "0.0.0.0"))).getMessage();
        assertTrue(any.startsWith("the driver's address is 0.0.0.0 (spark.driver.host), a wildcard that executors"
            + " cannot send to"), any);
    }

    @Test
    void aStandaloneMasterOnLoopbackKeepsItsExecutorsOnThisMachine() {
        assertTrue(DriverAddress.masterOnLoopback("spark://127.0.0.1:7077"));
        assertTrue(DriverAddress.masterOnLoopback("spark://localhost:7077,localhost:7078"));
        assertFalse(DriverAddress.masterOnLoopback("spark://10.77.0.10:7077"));
        assertFalse(DriverAddress.masterOnLoopback("yarn"));
        assertFalse(DriverAddress.masterOnLoopback("k8s://https://127.0.0.1:6443"), "pods are hosts of their own");
    }
}
