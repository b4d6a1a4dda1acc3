package io.lockstep.ps.server;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Frames the parameter server refused, by reason: gradient frames it would not sum, gather frames
 * it would not collect and JOIN frames it would not act on (a stale gather round counts as a stale
 * step). {@code unauthenticated}: well-formed frames of the job whose tag did not hold (forged,
 * altered, or sealed with another key). Safe to read from any thread.
 */
public final class DropCounters {
    private final AtomicLong foreignJob = new AtomicLong();
    private final AtomicLong staleStep = new AtomicLong();
    private final AtomicLong malformed = new AtomicLong();
    private final AtomicLong duplicate = new AtomicLong();
    private final AtomicLong unauthenticated = new AtomicLong();

    void record(ShardAggregator.Outcome outcome) {
        switch (outcome) {
            case FOREIGN_JOB -> foreignJob.incrementAndGet();
            case STALE_STEP -> staleStep.incrementAndGet();
            case MALFORMED -> malformed.incrementAndGet();
            case DUPLICATE -> duplicate.incrementAndGet();
            case UNAUTHENTICATED -> unauthenticated.incrementAndGet();
            default -> throw new IllegalArgumentException("not a drop: " + outcome);
        }
    }

    void record(GatherAggregator.Outcome outcome) {
        switch (outcome) {
            case FOREIGN_JOB -> foreignJob.incrementAndGet();
            case STALE_ROUND -> staleStep.incrementAndGet();
            case MALFORMED -> malformed.incrementAndGet();
            case DUPLICATE -> duplicate.incrementAndGet();
            case UNAUTHENTICATED -> unauthenticated.incrementAndGet();
            default -> throw new IllegalArgumentException("not a drop: " + outcome);
        }
    }

    void record(Destinations.Outcome outcome) {
        switch (outcome) {
            case FOREIGN_JOB -> foreignJob.incrementAndGet();
            case MALFORMED -> malformed.incrementAndGet();
            case DUPLICATE -> duplicate.incrementAndGet();
            case UNAUTHENTICATED -> unauthenticated.incrementAndGet();
            default -> throw new IllegalArgumentException("not a drop: " + outcome);
        }
    }

    /** A frame of a type the receiving endpoint does not take, or of another version. */
    void recordMalformed() {
        malformed.incrementAndGet();
    }

    public long foreignJob() { return foreignJob.get(); }
    public long staleStep() { return staleStep.get(); }
    public long malformed() { return malformed.get(); }
    public long duplicate() { return duplicate.get(); }
    public long unauthenticated() { return unauthenticated.get(); }
    /**
     * Frames refused as not the job's or not well formed: none on a network without an attacker. (Stale and
     * duplicate copies are not counted here: a resend asked for after a few ms of silence on a loaded machine can
     * arrive after the original, which is expected.)
     */
    public long refused() { return foreignJob() + malformed() + unauthenticated(); }
    public long total() { return foreignJob() + staleStep() + malformed() + duplicate() + unauthenticated(); }

    /** The counts by kind, in a fixed order (the keys summary.json and the metrics use). */
    public Map<String, Long> toMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("foreign_job", foreignJob());
        m.put("stale_step", staleStep());
        m.put("malformed", malformed());
        m.put("duplicate", duplicate());
        m.put("unauthenticated", unauthenticated());
        return m;
    }

    @Override
    public String toString() {
        return "foreign_job=" + foreignJob() + " stale_step=" + staleStep()
            + " malformed=" + malformed() + " duplicate=" + duplicate() + " unauthenticated=" + unauthenticated();
    }
}
