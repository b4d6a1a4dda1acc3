package io.lockstep.ps.media;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What one media driver refused below Lockstep's frames, by kind: counted by {@link GuardedReceiveEndpoint} (frames
 * for streams and sessions nobody subscribes to, SETUPs whose term length or MTU is not the channel's) and by the
 * flow controls ({@link MemberFlowControl}: status messages without the job's group tag; {@link RetransmitBudget}:
 * retransmission granted and refused). One instance per driver ({@link #of}, by its directory), plus the
 * process's sum ({@link #process()}). Safe from any thread.
 */
public final class WireGuards {
    private static final Map<String, WireGuards> BY_DRIVER = new ConcurrentHashMap<>();
    private static final WireGuards PROCESS = new WireGuards(null);

    final AtomicLong unknownSessionSetups = new AtomicLong();
    final AtomicLong unknownSessionData = new AtomicLong();
    final AtomicLong badSetups = new AtomicLong();
    final AtomicLong untaggedStatus = new AtomicLong();
    final AtomicLong retransmitRefusedBytes = new AtomicLong();
    final AtomicLong retransmittedBytes = new AtomicLong();
    private final WireGuards total; // the process's, which every driver's counts add to

    private WireGuards(WireGuards total) {
        this.total = total;
    }

    /** The counts of the media driver in {@code aeronDirectory}. */
    public static WireGuards of(String aeronDirectory) {
        return BY_DRIVER.computeIfAbsent(aeronDirectory, d -> new WireGuards(PROCESS));
    }

    /** The counts of every media driver of this process together. */
    public static WireGuards process() {
        return PROCESS;
    }

    void count(AtomicLong counter, java.util.function.Function<WireGuards, AtomicLong> same, long n) {
        counter.addAndGet(n);
        if (total != null) {
            same.apply(total).addAndGet(n);
        }
    }

    void unknownSessionSetup() { count(unknownSessionSetups, g -> g.unknownSessionSetups, 1); }
    void unknownSessionDatum() { count(unknownSessionData, g -> g.unknownSessionData, 1); }
    void badSetup() { count(badSetups, g -> g.badSetups, 1); }
    void untaggedStatus() { count(untaggedStatus, g -> g.untaggedStatus, 1); }
    void retransmitted(long granted, long refused) {
        count(retransmittedBytes, g -> g.retransmittedBytes, granted);
        if (refused > 0) {
            count(retransmitRefusedBytes, g -> g.retransmitRefusedBytes, refused);
        }
    }

    /** SETUP frames for a stream or session no subscription names: no image, no answer. */
    public long unknownSessionSetups() { return unknownSessionSetups.get(); }

    /** Data frames (and heartbeats) for a stream or session no subscription names. */
    public long unknownSessionData() { return unknownSessionData.get(); }

    /** SETUPs of a subscribed session whose term length or MTU is not the channel's: refused before any mapping. */
    public long badSetups() { return badSetups.get(); }

    /** Status messages that did not carry the publication's group tag: they move no publisher. */
    public long untaggedStatusMessages() { return untaggedStatus.get(); }

    /** Bytes of retransmission asked for by NAKs beyond the budget, not sent. */
    public long retransmitRefusedBytes() { return retransmitRefusedBytes.get(); }

    /** Bytes of retransmission granted to NAKs. */
    public long retransmittedBytes() { return retransmittedBytes.get(); }

    /** The frames refused, by kind, in a fixed order (the keys summary.json's {@code media} side uses). */
    public Map<String, Long> refusedFrames() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("unknown_session_setups", unknownSessionSetups());
        m.put("unknown_session_data", unknownSessionData());
        m.put("bad_setups", badSetups());
        m.put("untagged_status_messages", untaggedStatusMessages());
        return m;
    }

    /** Every count by kind, frames and retransmitted bytes, in a fixed order. */
    public Map<String, Long> toMap() {
        Map<String, Long> m = refusedFrames();
        m.put("retransmit_refused_bytes", retransmitRefusedBytes());
        m.put("retransmitted_bytes", retransmittedBytes());
        return m;
    }
}
