package io.lockstep.ps.server;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What a parameter server did to recover frames that were lost, forged over or padded over on the wire
 * ({@link ShardResends}): asks it sent to ranks for gradients, asks it took from workers, and answers (averages or
 * parameters) it sent again. Safe to read from any thread.
 */
public final class ResendCounters {
    private final AtomicLong asksSent = new AtomicLong();
    private final AtomicLong asksTaken = new AtomicLong();
    private final AtomicLong answersResent = new AtomicLong();
    private final AtomicLong restarts = new AtomicLong();

    void askSent() { asksSent.incrementAndGet(); }
    void askTaken() { asksTaken.incrementAndGet(); }
    void answerResent() { answersResent.incrementAndGet(); }
    void restarted() { restarts.incrementAndGet(); }

    public long asksSent() { return asksSent.get(); }
    public long asksTaken() { return asksTaken.get(); }
    public long answersResent() { return answersResent.get(); }
    /** Times a shard's answers started over on a new session (their stream was read out of step). */
    public long restarts() { return restarts.get(); }

    /** The counts by kind, in a fixed order (the keys summary.json and the metrics use). */
    public Map<String, Long> toMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        m.put("resend_asks_sent", asksSent());
        m.put("resend_asks_taken", asksTaken());
        m.put("answers_resent", answersResent());
        m.put("session_restarts", restarts());
        return m;
    }

    @Override
    public String toString() {
        return "resend_asks_sent=" + asksSent() + " resend_asks_taken=" + asksTaken() + " answers_resent=" + answersResent()
            + " session_restarts=" + restarts();
    }
}
