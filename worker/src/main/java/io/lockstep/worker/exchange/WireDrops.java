package io.lockstep.worker.exchange;

import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.server.DropCounters;
import io.lockstep.ps.server.ParameterServer;

import java.io.Serializable;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Frames refused on the wire, by side and kind: the shards' ({@code shards}, with their norm link), the
 * all-gather endpoint's ({@code gather}, with the step reports it takes) and the workers' clients'
 * ({@code workers}, {@link GradientClient#wireCounters()}), and below Lockstep's frames what the servers' media
 * drivers refused ({@code media}, {@link ParameterServer#mediaDrops()}: a stranger's SETUPs and data, SETUPs with
 * another term length, status messages without the group tag). Each side is an ordered map kind → count and an
 * open set of kinds: a merge sums the kinds both sides have and keeps the others, in the order they first
 * appeared, so counters added to the server or the client later need nothing here.
 *
 * <p>Serializable (plain Java serialization, as Spark ships task results and failures): it comes back with
 * a replica's result, or, for a task that failed, attached to its exception ({@link #attachTo},
 * {@link #carriedBy}).
 */
public record WireDrops(Map<String, Long> shards, Map<String, Long> gather, Map<String, Long> workers,
                        Map<String, Long> media, Map<String, Long> link) implements Serializable {

    /** Nothing counted, and no kind known. */
    public static final WireDrops NONE = new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(), Map.of());

    public WireDrops {
        shards = frozen(shards);
        gather = frozen(gather);
        workers = frozen(workers);
        media = frozen(media);
        link = frozen(link);
    }

    /** Counts of the three Lockstep sides, none below them. */
    public WireDrops(Map<String, Long> shards, Map<String, Long> gather, Map<String, Long> workers) {
        this(shards, gather, workers, Map.of(), Map.of());
    }

    /**
     * These counts with Aeron's own link counts of this JVM's media drivers ({@code link},
     * {@link io.lockstep.ps.media.EmbeddedAeron#linkCounters()}: NAKs, retransmissions, gaps lost, bytes) added.
     * One party per JVM adds them (the driver; on an executor its lowest rank), or they would be counted twice.
     */
    public WireDrops withLinkCounters() {
        return merge(new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(),
            io.lockstep.ps.media.EmbeddedAeron.linkCounters()));
    }

    /** Every kind a server counts, at zero on both server sides; the workers' kinds come with the first client's counts. */
    public static WireDrops zero() {
        Map<String, Long> none = new DropCounters().toMap();
        Map<String, Long> media = new java.util.LinkedHashMap<>(io.lockstep.ps.media.WireGuards.process().refusedFrames());
        media.replaceAll((kind, n) -> 0L);
        Map<String, Long> link = new java.util.LinkedHashMap<>(io.lockstep.ps.media.EmbeddedAeron.linkCounters());
        link.replaceAll((kind, n) -> 0L);
        return new WireDrops(none, none, Map.of(), media, link);
    }

    /**
     * What a server's shards and all-gather endpoint refused so far, and with {@code media} what its media driver
     * refused below the frames since it started; {@link #NONE} for no server. Only the driver's server reports
     * {@code media}: servers that share a JVM share a driver, and each would report the same counts.
     */
    public static WireDrops of(ParameterServer server, boolean media) {
        return server == null ? NONE : new WireDrops(server.drops().toMap(), server.gatherDrops().toMap(), Map.of(),
            media ? server.mediaDrops() : Map.of(), Map.of());
    }

    /** A worker client's counts so far; {@link #NONE} for no client. */
    public static WireDrops of(GradientClient client) {
        return client == null ? NONE : new WireDrops(Map.of(), Map.of(), client.wireCounters());
    }

    /** Both counts together, side by side and kind by kind. */
    public WireDrops merge(WireDrops other) {
        return new WireDrops(combine(shards, other.shards), combine(gather, other.gather),
            combine(workers, other.workers), combine(media, other.media), combine(link, other.link));
    }

    /** These counts with every kind of {@code shape} present, at zero where these have none, in its order first. */
    public WireDrops shapedLike(WireDrops shape) {
        return new WireDrops(combine(zeroed(shape.shards), shards),
            combine(zeroed(shape.gather), gather), combine(zeroed(shape.workers), workers),
            combine(zeroed(shape.media), media), combine(zeroed(shape.link), link));
    }

    /**
     * Frames the shards and the all-gather endpoint refused ({@code ps.dropped_frames}); the workers' counters are
     * left out (not every one of them counts refused frames), and so is {@code media}: a media driver's counts are
     * the whole driver's, whatever job or earlier run sent the frames.
     */
    public long serverTotal() {
        return sum(shards) + sum(gather);
    }

    /**
     * The kinds that counted anything, by side, for a one-line message, e.g.
     * {@code shards unauthenticated=3 malformed=1; workers unauthenticated=40}; empty when nothing counted. The
     * {@code link} counts are no refused frames: {@link #linkLine()}.
     */
    public String nonZero() {
        StringBuilder sb = new StringBuilder();
        toMap().forEach((side, kinds) -> {
            if (side.equals("link")) {
                return;
            }
            StringBuilder counted = new StringBuilder();
            kinds.forEach((kind, n) -> {
                if (n != 0) {
                    counted.append(' ').append(kind).append('=').append(n);
                }
            });
            if (counted.length() > 0) {
                sb.append(sb.length() == 0 ? "" : "; ").append(side).append(counted);
            }
        });
        return sb.toString();
    }

    /**
     * Aeron's link counts for a log line, e.g. {@code NAKs 2410, retransmitted 41.0 MB (14.6% of 281 MB sent), 0 gaps
     * lost}; empty where nothing was sent over Aeron.
     */
    public String linkLine() {
        long sent = link.getOrDefault("bytes_sent", 0L);
        if (sent == 0) {
            return "";
        }
        long again = link.getOrDefault("retransmitted_bytes", 0L);
        return String.format(java.util.Locale.ROOT, "NAKs %d, retransmitted %.1f MB (%.1f%% of %.1f MB sent), %d gaps lost",
            link.getOrDefault("naks_sent", 0L), again / 1e6, 100.0 * again / sent, sent / 1e6,
            link.getOrDefault("loss_gap_fills", 0L));
    }

    /** Whether the link lost data for good or resent more than a tenth of what it sent: worth a warning. */
    public boolean lossyLink() {
        long sent = link.getOrDefault("bytes_sent", 0L);
        return link.getOrDefault("loss_gap_fills", 0L) > 0
            || (sent > 0 && link.getOrDefault("retransmitted_bytes", 0L) > sent / 10);
    }

    /** The sides in order, as summary.json and metrics.jsonl write them. */
    public Map<String, Map<String, Long>> toMap() {
        Map<String, Map<String, Long>> m = new LinkedHashMap<>();
        m.put("shards", shards);
        m.put("gather", gather);
        m.put("workers", workers);
        m.put("media", media);
        m.put("link", link);
        return m;
    }

    /**
     * Attaches these counts to a failing task's exception, as a suppressed exception, so that they reach
     * the driver with it (Spark ships a failed task's exception when it serializes); the exception keeps
     * its class and message, which the driver classifies and names. Returns {@code failure}.
     */
    public <T extends Throwable> T attachTo(T failure) {
        if (!shards.isEmpty() || !gather.isEmpty() || !workers.isEmpty() || !media.isEmpty() || !link.isEmpty()) {
            failure.addSuppressed(new Carrier(this));
        }
        return failure;
    }

    /** Every count attached ({@link #attachTo}) to {@code failure}, its causes or their suppressed exceptions, merged. */
    public static WireDrops carriedBy(Throwable failure) {
        return carriedBy(failure, Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    private static WireDrops carriedBy(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) {
            return NONE;
        }
        WireDrops found = t instanceof Carrier c ? c.drops : NONE;
        for (Throwable s : t.getSuppressed()) {
            found = found.merge(carriedBy(s, seen));
        }
        return found.merge(carriedBy(t.getCause(), seen));
    }

    /** The counts of a failed task, riding on its exception. */
    static final class Carrier extends RuntimeException {
        private final WireDrops drops;

        Carrier(WireDrops drops) {
            super("frames dropped where this task ran: " + (drops.nonZero().isEmpty() ? "none" : drops.nonZero()),
                null, false, false);
            this.drops = drops;
        }
    }

    private static Map<String, Long> combine(Map<String, Long> a, Map<String, Long> b) {
        Map<String, Long> m = new LinkedHashMap<>(a);
        b.forEach((kind, n) -> m.merge(kind, n, Long::sum));
        return m;
    }

    private static Map<String, Long> zeroed(Map<String, Long> kinds) {
        Map<String, Long> m = new LinkedHashMap<>();
        kinds.keySet().forEach(kind -> m.put(kind, 0L));
        return m;
    }

    private static long sum(Map<String, Long> kinds) {
        return kinds.values().stream().mapToLong(Long::longValue).sum();
    }

    private static Map<String, Long> frozen(Map<String, Long> kinds) {
        return kinds == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(kinds));
    }
}
