package io.lockstep.ps;

import io.aeron.Aeron;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import org.agrona.IoUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;

/**
 * Embedded Aeron media drivers (with a client each), shared by name within a JVM by the
 * parameter server and the worker tasks there, and closed when their last user releases them.
 *
 * <p>The driver lives in its own directory {@code /dev/shm/lockstep-<pid>-<id>}, deleted on
 * start and on shutdown; directories left by dead processes are removed on start. One shared
 * driver thread with a parking back-off keeps the driver off the cores that train (measured:
 * DEDICATED sender/receiver threads were slower on 2 cores).
 */
public final class EmbeddedAeron implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedAeron.class);
    private static final String PREFIX = "lockstep-";
    private static final int SOCKET_BUFFER = 2 * 1024 * 1024;

    private static final Map<String, EmbeddedAeron> RUNNING = new HashMap<>();

    private final String name;
    private final MediaDriver driver;
    private final Aeron aeron;
    private final String directory;
    private final Thread cleanupOnExit;
    private int users;

    private EmbeddedAeron(String name) {
        this.name = name;
        GradientFrame.requireLittleEndian();
        removeOrphans();
        directory = baseDir() + File.separator + PREFIX + ProcessHandle.current().pid() + "-"
            + UUID.randomUUID().toString().substring(0, 8);
        MediaDriver.Context ctx = new MediaDriver.Context()
            .aeronDirectoryName(directory)
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true)
            .threadingMode(ThreadingMode.SHARED)
            .sharedIdleStrategy(IdleStrategies.driver())
            .mtuLength(ExchangeSpec.DEFAULT_MTU)
            .ipcMtuLength(ExchangeSpec.DEFAULT_MTU)
            .socketRcvbufLength(SOCKET_BUFFER)
            .socketSndbufLength(SOCKET_BUFFER)
            .initialWindowLength(SOCKET_BUFFER)
            .termBufferSparseFile(true)
            .warnIfDirectoryExists(false);
        driver = MediaDriver.launchEmbedded(ctx);
        try {
            aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.aeronDirectoryName()));
        } catch (RuntimeException e) {
            driver.close();
            throw e;
        }
        cleanupOnExit = new Thread(() -> IoUtil.delete(new File(directory), true), "lockstep-aeron-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanupOnExit);
        LOG.debug("embedded Aeron media driver in {}", directory);
    }

    /** Returns this JVM's shared driver, starting it on first use; pair every call with {@link #close()}. */
    public static EmbeddedAeron acquire() {
        return acquire("shared");
    }

    /**
     * The driver the parameter server uses. Over UDP the server gets a driver of its own, as it
     * would on its own machine: the workers' driver then sends and receives their frames on
     * another thread (on one machine, a single driver thread moving every byte four times was
     * the bottleneck). IPC needs server and workers on one driver.
     */
    public static EmbeddedAeron forServer(ExchangeSpec spec) {
        return acquire(spec.transport() == ExchangeSpec.Transport.IPC ? "shared" : "server");
    }

    /** The driver workers of this JVM use; see {@link #forServer}. */
    public static EmbeddedAeron forWorkers(ExchangeSpec spec) {
        return acquire(spec.transport() == ExchangeSpec.Transport.IPC ? "shared" : "workers");
    }

    private static synchronized EmbeddedAeron acquire(String name) {
        EmbeddedAeron instance = RUNNING.computeIfAbsent(name, EmbeddedAeron::new);
        instance.users++;
        return instance;
    }

    public Aeron aeron() {
        return aeron;
    }

    public String directory() {
        return directory;
    }

    @Override
    public void close() {
        synchronized (EmbeddedAeron.class) {
            if (--users > 0) {
                return;
            }
            RUNNING.remove(name);
        }
        try {
            aeron.close();
        } finally {
            driver.close();
            IoUtil.delete(new File(directory), true);
            try {
                Runtime.getRuntime().removeShutdownHook(cleanupOnExit); // one hook per driver, not per driver ever started
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or about to: it finds nothing left to delete
            }
        }
    }

    private static String baseDir() {
        File shm = new File("/dev/shm");
        return shm.isDirectory() ? shm.getPath() : System.getProperty("java.io.tmpdir");
    }

    /** Deletes driver directories whose owning process is gone (a crash or a kill -9). */
    static void removeOrphans() {
        File[] dirs = new File(baseDir()).listFiles((d, name) -> name.startsWith(PREFIX));
        if (dirs == null) {
            return;
        }
        for (File dir : dirs) {
            String rest = dir.getName().substring(PREFIX.length());
            int dash = rest.indexOf('-');
            try {
                long pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
                if (ProcessHandle.of(pid).isEmpty()) {
                    IoUtil.delete(dir, true);
                    LOG.info("removed Aeron directory {} of dead process {}", dir, pid);
                }
            } catch (NumberFormatException ignored) {
                // not ours
            }
        }
    }
}
