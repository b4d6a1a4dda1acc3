package io.lockstep.ps.media;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What this process's media drivers refused below Lockstep's frames, by kind: counted by
 * {@link GuardedReceiveEndpoint} (frames for streams and sessions nobody here subscribes to, SETUPs whose
 * term length or MTU is not the channel's) and by the flow controls ({@link MemberFlowControl} status
 * messages without the job's group tag, retransmissions the {@link RetransmitBudget} refused). Process-wide:
 * several jobs in one JVM (tests) share the drivers. Safe from any thread.
 */
public final class WireGuards {
    static final AtomicLong UNKNOWN_SESSION_SETUPS = new AtomicLong();
    static final AtomicLong UNKNOWN_SESSION_DATA = new AtomicLong();
    static final AtomicLong BAD_SETUPS = new AtomicLong();
    static final AtomicLong UNTAGGED_STATUS = new AtomicLong();
    static final AtomicLong RETRANSMIT_REFUSED_BYTES = new AtomicLong();
    static final AtomicLong RETRANSMITTED_BYTES = new AtomicLong();

    private WireGuards() {
    }

    /** SETUP frames for a stream or session no subscription of this process names: no image, no answer. */
    public static long unknownSessionSetups() { return UNKNOWN_SESSION_SETUPS.get(); }

    /** Data frames (and heartbeats) for a stream or session no subscription of this process names. */
    public static long unknownSessionData() { return UNKNOWN_SESSION_DATA.get(); }

    /** SETUPs of a subscribed session whose term length or MTU is not the channel's: refused before any mapping. */
    public static long badSetups() { return BAD_SETUPS.get(); }

    /** Status messages that did not carry the publication's group tag: they move no publisher. */
    public static long untaggedStatusMessages() { return UNTAGGED_STATUS.get(); }

    /** Bytes of retransmission asked for by NAKs beyond the budget, not sent. */
    public static long retransmitRefusedBytes() { return RETRANSMIT_REFUSED_BYTES.get(); }

    /** Bytes of retransmission granted to NAKs. */
    public static long retransmittedBytes() { return RETRANSMITTED_BYTES.get(); }

    /** The counts by kind, in a fixed order. */
    public static Map<String, Long> toMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("unknown_session_setups", unknownSessionSetups());
        m.put("unknown_session_data", unknownSessionData());
        m.put("bad_setups", badSetups());
        m.put("untagged_status_messages", untaggedStatusMessages());
        m.put("retransmit_refused_bytes", retransmitRefusedBytes());
        m.put("retransmitted_bytes", retransmittedBytes());
        return m;
    }
}
