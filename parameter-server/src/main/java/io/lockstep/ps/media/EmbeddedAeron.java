package io.lockstep.ps.media;

import io.aeron.Aeron;
import io.aeron.CommonContext;
import io.aeron.driver.DefaultMulticastFlowControlSupplier;
import io.aeron.driver.FlowControl;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.driver.media.UdpChannel;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.wire.GradientFrame;
import org.agrona.IoUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Embedded Aeron media drivers (with a client each), shared by name within a JVM by the
 * parameter server and the worker tasks there, and closed when their last user releases them.
 *
 * <p>The driver lives in its own directory {@code /dev/shm/lockstep-<pid>-<id>} (or under {@code ps.aeron_dir}),
 * deleted on start and on shutdown; directories left by dead processes are removed on start. Its files are sized
 * by {@link AeronFiles}. One shared
 * driver thread with a parking back-off keeps the driver off the cores that train (measured:
 * DEDICATED sender/receiver threads were slower on 2 cores).
 *
 * <p><b>One stall budget.</b> {@code ps.timeout_seconds} ({@link ExchangeSpec#timeoutMillis()}) is the
 * longest any party may stall before the job fails, and Lockstep's own deadlines enforce it with
 * messages naming rank and step. Aeron has liveness timeouts of its own, 10 s by default, that would
 * fire first and far less helpfully: a worker JVM stopped for 12-15 s (a long GC, a frozen container)
 * came back to {@code ConductorServiceTimeoutException: service interval exceeded}, its client closed
 * and every publication {@code unusable (-4)}. So every Aeron timeout that can end a client, an image
 * or a publication's connection is set to {@link #livenessMillis(long) the budget + 30 s}: Lockstep's
 * deadline always fires first, and a pause within the budget is survived by everyone:
 * <ul>
 * <li>driver {@code clientLivenessTimeoutNs} ({@code aeron.client.liveness.timeout}): the driver drops a
 *     client whose keepalives stop; the client reads the same value from the CnC file as its
 *     {@code interServiceTimeoutNs}, the "service interval exceeded" check above;</li>
 * <li>client and driver {@code driverTimeoutMs} ({@code aeron.driver.timeout}): a client whose driver's
 *     heartbeat is older than this (the embedded driver was stopped too) closes itself;</li>
 * <li>{@code imageLivenessTimeoutNs}: a receiver that hears nothing from a publisher for this long
 *     drops the image, and data sent after a resume would start a new image past what was lost;</li>
 * <li>{@code publicationConnectionTimeoutNs}: a publication without status messages for this long
 *     reports NOT_CONNECTED;</li>
 * <li>{@code flowControlReceiverTimeoutNs}: min flow control forgets a receiver silent for this long;</li>
 * <li>{@code publicationUnblockTimeoutNs} (must exceed the client liveness timeout): a claim not
 *     committed for this long is turned into padding, so a worker stopped between {@code tryClaim}
 *     and {@code commit} would lose that chunk.</li>
 * </ul>
 * The driver checks these on its 1 s timer ({@code timerIntervalNs}, which must stay below all of
 * them). Since the settings are fixed when a driver starts, drivers are shared by name and budget.
 *
 * <p><b>Below Lockstep's frames.</b> Every receive endpoint is a {@link GuardedReceiveEndpoint} (frames of streams
 * and sessions no subscription names, and SETUPs naming another term length or MTU, stop there: no image, no
 * mapping, no answer), so a process holds at most one image per subscribed session (two per expected sender: its
 * session and its next generation's); the job's multi-destination publications use {@link MemberFlowControl}
 * (only status messages with the job's group tag count) and every publication's retransmission is bounded
 * ({@link UnicastBudgetFlowControl}, {@code RetransmitBudget}). What they refuse is counted per driver
 * ({@code WireGuards}). See THREAT-MODEL.md.
 */
public final class EmbeddedAeron implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedAeron.class);
    private static final String PREFIX = "lockstep-";
    /** Aeron's default liveness timeouts; never go below them. */
    static final long AERON_DEFAULT_TIMEOUT_MS = 10_000;
    /** How far Aeron's timeouts stay above the stall budget. */
    static final long SLACK_MS = 30_000;

    private static final Map<String, EmbeddedAeron> RUNNING = new HashMap<>();

    private final String name;
    private final MediaDriver driver;
    private Aeron aeron;                    // replaced when found closed (see aeron())
    private final String directory;
    private final Thread cleanupOnExit;
    private final long livenessMs;
    private volatile int users;

    private EmbeddedAeron(String name, long stallBudgetMs, String aeronDir, int shards, int workers) {
        this.name = name;
        this.livenessMs = livenessMillis(stallBudgetMs);
        long livenessNs = TimeUnit.MILLISECONDS.toNanos(livenessMs);
        GradientFrame.requireLittleEndian();
        String base = AeronFiles.baseDir(aeronDir);
        removeOrphans(base);
        directory = base + File.separator + PREFIX + ProcessHandle.current().pid() + "-"
            + UUID.randomUUID().toString().substring(0, 8);
        MediaDriver.Context ctx = AeronFiles.size(new MediaDriver.Context(), shards, workers)
            .aeronDirectoryName(directory)
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true)
            .threadingMode(ThreadingMode.SHARED)
            .sharedIdleStrategy(IdleStrategies.driver())
            .mtuLength(ExchangeSpec.DEFAULT_MTU)
            .ipcMtuLength(ExchangeSpec.DEFAULT_MTU)
            .socketRcvbufLength(ExchangeSpec.SOCKET_BUFFER)
            .socketSndbufLength(ExchangeSpec.SOCKET_BUFFER)
            .initialWindowLength(ExchangeSpec.SOCKET_BUFFER)
            .termBufferSparseFile(true)
            // below Lockstep's frames: no image for a stranger, members-only flow control, bounded retransmission
            .receiveChannelEndpointSupplier(GuardedReceiveEndpoint::new)
            .multicastFlowControlSupplier(EmbeddedAeron::multicastFlowControl)
            .unicastFlowControlSupplier((channel, stream, registration) -> new UnicastBudgetFlowControl())
            .warnIfDirectoryExists(false)
            .clientLivenessTimeoutNs(livenessNs)
            .imageLivenessTimeoutNs(livenessNs)
            .publicationConnectionTimeoutNs(livenessNs)
            .flowControlReceiverTimeoutNs(livenessNs)
            .publicationUnblockTimeoutNs(livenessNs + TimeUnit.SECONDS.toNanos(10))
            .driverTimeoutMs(livenessMs);
        driver = MediaDriver.launchEmbedded(ctx);
        try {
            aeron = connect();
        } catch (RuntimeException e) {
            driver.close();
            throw e;
        }
        cleanupOnExit = new Thread(() -> IoUtil.delete(new File(directory), true), "lockstep-aeron-cleanup");
        Runtime.getRuntime().addShutdownHook(cleanupOnExit);
        LOG.debug("embedded Aeron media driver in {}", directory);
    }

    /**
     * Returns this JVM's shared driver for a stall budget of 0 (Aeron's timeouts at
     * {@link #livenessMillis(long) 30 s}), starting it on first use; pair every call with {@link #close()}.
     * Jobs use {@link #forServer} and {@link #forWorkers}, which follow their spec's budget.
     */
    public static EmbeddedAeron acquire() {
        return acquire("shared", 0);
    }

    /** As {@link #acquire(String, long)}, in {@code aeronDir} (null: /dev/shm), sized for such a job. */
    private static EmbeddedAeron acquire(String name, ExchangeSpec spec) {
        return acquire(name, spec.timeoutMillis(), spec.aeronDir(), spec.layout().shards(), spec.workers());
    }

    /** Aeron's liveness timeouts for a stall budget: above it by {@link #SLACK_MS}, never below Aeron's default. */
    public static long livenessMillis(long stallBudgetMs) {
        return Math.max(AERON_DEFAULT_TIMEOUT_MS, stallBudgetMs + SLACK_MS);
    }

    /**
     * The driver the parameter server uses. Over UDP the server gets a driver of its own, as it
     * would on its own machine: the workers' driver then sends and receives their frames on
     * another thread (on one machine, a single driver thread moving every byte four times was
     * the bottleneck). IPC needs server and workers on one driver.
     */
    public static EmbeddedAeron forServer(ExchangeSpec spec) {
        return acquire(spec.transport() == ExchangeSpec.Transport.IPC ? "shared" : "server", spec);
    }

    /** The driver workers of this JVM use; see {@link #forServer}. */
    public static EmbeddedAeron forWorkers(ExchangeSpec spec) {
        return acquire(spec.transport() == ExchangeSpec.Transport.IPC ? "shared" : "workers", spec);
    }

    /** The driver of that name started for that stall budget (one per budget: timeouts are fixed at start). */
    public static EmbeddedAeron acquire(String name, long stallBudgetMs) {
        return acquire(name, stallBudgetMs, null, 16, 16); // room for the tests' larger exchanges
    }

    private static synchronized EmbeddedAeron acquire(String name, long stallBudgetMs, String aeronDir, int shards,
                                                      int workers) {
        // one per budget, directory and counter room: all are fixed at start
        String key = name + "/" + livenessMillis(stallBudgetMs) + "/" + AeronFiles.baseDir(aeronDir) + "/"
            + AeronFiles.counterValuesLength(shards, workers);
        EmbeddedAeron instance = RUNNING.computeIfAbsent(key,
            k -> new EmbeddedAeron(k, stallBudgetMs, aeronDir, shards, workers));
        instance.users++;
        return instance;
    }

    /**
     * What Aeron counted on the links of this JVM's running media drivers since they started, summed: NAKs sent
     * (gaps a receiver asked to be filled) and received, retransmissions sent and their bytes, gaps given up on
     * ({@code loss_gap_fills}: data lost for good), and bytes sent and received first time. A lossy link shows
     * here long before it shows as a slow step.
     */
    public static synchronized java.util.Map<String, Long> linkCounters() {
        java.util.Map<String, Long> counts = new java.util.LinkedHashMap<>();
        int[] ids = {io.aeron.AeronCounters.SYSTEM_COUNTER_ID_NAK_MESSAGES_SENT,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_NAK_MESSAGES_RECEIVED,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_RETRANSMITS_SENT,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_RETRANSMITTED_BYTES,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_LOSS_GAP_FILLS,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_BYTES_SENT,
            io.aeron.AeronCounters.SYSTEM_COUNTER_ID_BYTES_RECEIVED};
        String[] names = {"naks_sent", "naks_received", "retransmits", "retransmitted_bytes", "loss_gap_fills",
            "bytes_sent", "bytes_received"};
        for (String name : names) {
            counts.put(name, 0L);
        }
        for (EmbeddedAeron e : RUNNING.values()) {
            org.agrona.concurrent.status.CountersReader reader = e.aeron().countersReader();
            for (int i = 0; i < ids.length; i++) {
                counts.merge(names[i], reader.getCounterValue(ids[i]), Long::sum);
            }
        }
        return counts;
    }

    /** Aeron's liveness timeouts in this driver and its client, in milliseconds. */
    public long livenessMillis() {
        return livenessMs;
    }

    /**
     * This driver's client. Aeron closes a client for good when a thread is interrupted inside one of its calls
     * (a Spark task being killed while it adds a publication); the driver lives on, so a closed client is replaced
     * by a new one: the task that was interrupted fails, the next attempt in this JVM finds a working client.
     */
    public synchronized Aeron aeron() {
        if (aeron.isClosed() && users > 0) {
            LOG.warn("the Aeron client of {} was closed (a thread interrupted inside an Aeron call); connecting anew",
                directory);
            aeron = connect();
        }
        return aeron;
    }

    private Aeron connect() {
        return Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.aeronDirectoryName())
            .driverTimeoutMs(livenessMs));
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
            synchronized (this) {
                aeron.close();
            }
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

    /** The job's tagged publications get {@link MemberFlowControl}; anything else Aeron's choice. */
    private static FlowControl multicastFlowControl(UdpChannel channel, int streamId, long registrationId) {
        String fc = channel.channelUri().get(CommonContext.FLOW_CONTROL_PARAM_NAME);
        return fc != null && fc.startsWith("tagged,")
            ? new MemberFlowControl()
            : new DefaultMulticastFlowControlSupplier().newInstance(channel, streamId, registrationId);
    }

    /** Deletes driver directories whose owning process is gone (a crash or a kill -9). */
    static void removeOrphans(String base) {
        File[] dirs = new File(base).listFiles((d, name) -> name.startsWith(PREFIX));
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
