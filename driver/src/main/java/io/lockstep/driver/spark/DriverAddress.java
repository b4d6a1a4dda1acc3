package io.lockstep.driver.spark;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import org.apache.spark.SparkConf;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;

/**
 * The address the driver's parameter-server endpoints bind to and announce to the executors: {@code ps.host} when
 * the user names another interface; on an embedded master, loopback; on a cluster, the address Spark gave the driver
 * ({@code spark.driver.host}, which the executors already reach it at). A wildcard is never announced, and neither
 * is loopback to executors on other hosts.
 */
public final class DriverAddress {
    private DriverAddress() {
    }

    /** The address of the job's driver endpoints once Spark runs with {@code conf} (a running context's). */
    public static String of(JobConfig cfg, SparkConf conf) {
        String master = conf.get("spark.master", "local[" + cfg.workers() + "]");
        if (cfg.ps().host() != null) {
            return cfg.ps().host(); // the user's interface (ConfigRules refused a wildcard)
        }
        if (master.startsWith("local")) {
            return "127.0.0.1"; // every executor on this machine
        }
        String sparkHost = sparkDriverHost(conf);
        String address = resolve(sparkHost);
        String problem = problem(master, sparkHost, address);
        if (problem != null) {
            throw new ConfigLoader.ConfigException(problem);
        }
        return address;
    }

    /**
     * {@code spark.driver.host}, else the address Spark will give the driver: {@code SPARK_LOCAL_HOSTNAME},
     * {@code SPARK_LOCAL_IP}, else the first non-loopback address of this machine when its hostname resolves to
     * loopback.
     */
    public static String sparkDriverHost(SparkConf conf) {
        return conf.contains("spark.driver.host") ? conf.get("spark.driver.host")
            : org.apache.spark.util.Utils.localHostName();
    }

    /**
     * Why executors of {@code master} could not reach a driver announced as {@code host} (resolved: {@code address}),
     * or null: a wildcard is no address to send to, and loopback is another machine's own for executors elsewhere
     * (Spark would wait for resources that never register: "Initial job has not accepted any resources").
     */
    public static String problem(String master, String host, String address) {
        if (isWildcard(address)) {
            return "the driver's address is " + host + " (spark.driver.host), a wildcard that executors cannot send to:"
                + " set spark.driver.host, or ps.host, to an address of this driver they can reach";
        }
        if (isLoopback(address) && !masterOnLoopback(master)) {
            return "spark.master is " + master + " but this driver's address is " + host + " (loopback; from "
                + (System.getenv("SPARK_LOCAL_IP") != null ? "SPARK_LOCAL_IP=" + System.getenv("SPARK_LOCAL_IP")
                : "spark.driver.host") + "): executors on other hosts could never connect back and the job would"
                + " wait for them forever; run the driver with SPARK_LOCAL_IP (or --conf spark.driver.host) set to this"
                + " machine's address on the cluster network, or leave both unset to let Spark pick it";
        }
        return null;
    }

    /** The prediction of {@link #of} before Spark starts, for the doctor; null when ps.host is set or Spark decides. */
    public static String predicted(JobConfig cfg, SparkConf conf) {
        return cfg.ps().host() != null ? cfg.ps().host() : conf.get("spark.master", "local").startsWith("local") ? "127.0.0.1"
            : resolve(sparkDriverHost(conf));
    }

    /** True for 0.0.0.0, ::, and their spellings: bind-all addresses, which nobody can send to. */
    public static boolean isWildcard(String host) {
        try {
            return InetAddress.getByName(host).isAnyLocalAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    public static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }

    /** A standalone master on a loopback address: its workers, and so the executors, are on this machine. */
    public static boolean masterOnLoopback(String master) {
        if (!master.startsWith("spark://")) {
            return false;
        }
        String first = master.substring("spark://".length()).split(",")[0];
        try {
            String host = URI.create("spark://" + first).getHost();
            return host != null && isLoopback(host);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The IP literal of {@code host} (names resolved here; what cannot be resolved stays as given, for Aeron). */
    static String resolve(String host) {
        try {
            return InetAddress.getByName(host).getHostAddress();
        } catch (UnknownHostException e) {
            return host;
        }
    }
}
