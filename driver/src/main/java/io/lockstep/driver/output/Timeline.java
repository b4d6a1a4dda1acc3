package io.lockstep.driver.output;

import io.lockstep.worker.train.StepClock;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The driver's step timeline: the replicas' windows of per-step phase times ({@link StepClock}),
 * one all-gather round at a time, all ranks' times of the same steps together. From them:
 * <ul>
 *   <li>each rank's <b>wait</b> for the slowest rank at a step: its exchange time minus the smallest
 *       exchange time of any rank at that step. The rank that exchanged fastest arrived last and
 *       barely waited: its exchange time is what the transfer itself costs, the rest of everyone
 *       else's is waiting for it (and, like it, for whatever the last arrival was doing);</li>
 *   <li>the means per step over the ranks and the steps since the last metrics.jsonl line
 *       ({@link #lineFields()}), and which rank the others waited for most often;</li>
 *   <li>over the whole run, every (rank, step) in a {@link LogHistogram} per phase: mean, median,
 *       p99 and maximum for summary.json ({@link #summary()}).</li>
 * </ul>
 * Runs on the metrics writer's thread only.
 */
public final class Timeline {
    /** The phases, in the order of the line and the summary: the four of a step, the wait (part of the exchange), the wall. */
    static final String[] NAMES = {"data_ms", "compute_ms", "exchange_ms", "wait_ms", "apply_ms", "step_ms"};
    private static final int DATA = 0, COMPUTE = 1, EXCHANGE = 2, WAIT = 3, APPLY = 4, STEP = 5;

    private final LogHistogram[] run = new LogHistogram[NAMES.length];
    private final long[] lineMicros = new long[NAMES.length];
    private long lineRankSteps;
    private long[] lineLast = new long[0]; // by rank: steps of this line at which the rank exchanged fastest
    private long[] runLast = new long[0];
    private long steps;
    private long through;

    public Timeline() {
        for (int i = 0; i < run.length; i++) {
            run[i] = new LogHistogram();
        }
    }

    /**
     * Takes one gathered round: every rank's window. Windows that do not cover the same steps (a
     * replica of another version?) are refused whole, so nothing half-true is added.
     */
    public void add(byte[][] blobsByRank) {
        StepClock.Window[] windows = new StepClock.Window[blobsByRank.length];
        for (int r = 0; r < windows.length; r++) {
            windows[r] = StepClock.read(blobsByRank[r]);
            if (windows[r].firstStep() != windows[0].firstStep() || windows[r].steps() != windows[0].steps()) {
                throw new IllegalArgumentException("step timeline: rank " + r + " sent steps " + range(windows[r])
                    + ", rank 0 steps " + range(windows[0]));
            }
        }
        if (lineLast.length != windows.length) {
            lineLast = new long[windows.length];
            runLast = new long[windows.length];
        }
        int n = windows[0].steps();
        for (int s = 0; s < n; s++) {
            int fastest = 0;
            for (int r = 1; r < windows.length; r++) {
                if (windows[r].get(s, StepClock.EXCHANGE) < windows[fastest].get(s, StepClock.EXCHANGE)) {
                    fastest = r;
                }
            }
            lineLast[fastest]++;
            runLast[fastest]++;
            int transfer = windows[fastest].get(s, StepClock.EXCHANGE);
            for (StepClock.Window w : windows) {
                add(DATA, w.get(s, StepClock.DATA));
                add(COMPUTE, w.get(s, StepClock.COMPUTE));
                add(EXCHANGE, w.get(s, StepClock.EXCHANGE));
                add(WAIT, w.get(s, StepClock.EXCHANGE) - transfer);
                add(APPLY, w.get(s, StepClock.APPLY));
                add(STEP, w.get(s, StepClock.WALL));
            }
            lineRankSteps += windows.length;
        }
        steps += n;
        through = windows[0].firstStep() + n;
    }

    private void add(int phase, long micros) {
        lineMicros[phase] += micros;
        run[phase].record(micros);
    }

    private static String range(StepClock.Window w) {
        return (w.firstStep() + 1) + ".." + (w.firstStep() + w.steps());
    }

    /** Steps done (counted from 1) up to the last step of the latest window. */
    public long through() {
        return through;
    }

    /**
     * The {@code "t":{...}} member of a step line: per phase the mean per step over the ranks and
     * the steps since the last line, and (with several workers) the rank the others waited for
     * most often; null when no step came in since. Starts the next line's means.
     */
    public String lineFields() {
        if (lineRankSteps == 0) {
            return null;
        }
        StringBuilder t = new StringBuilder("\"t\":{");
        for (int i = 0; i < NAMES.length; i++) {
            t.append(i == 0 ? "" : ",").append('"').append(NAMES[i]).append("\":")
                .append(String.format(Locale.ROOT, "%.3f", lineMicros[i] / 1e3 / lineRankSteps));
        }
        if (lineLast.length > 1) {
            t.append(",\"slowest_rank\":").append(argmax(lineLast));
        }
        dropLine();
        return t.append('}').toString();
    }

    /** A new attempt of the stage: its windows start again from its first step. */
    public void restart() {
        through = 0;
        dropLine();
    }

    /** Forgets the steps since the last line (they went out without their times). */
    public void dropLine() {
        java.util.Arrays.fill(lineMicros, 0);
        java.util.Arrays.fill(lineLast, 0);
        lineRankSteps = 0;
    }

    private static int argmax(long[] counts) {
        int best = 0;
        for (int r = 1; r < counts.length; r++) {
            if (counts[r] > counts[best]) {
                best = r;
            }
        }
        return best;
    }

    /** The whole run, for summary.json; null when no window came in. */
    public RunSummary.Timeline summary() {
        if (steps == 0) {
            return null;
        }
        RunSummary.Phase[] phases = new RunSummary.Phase[NAMES.length];
        for (int i = 0; i < phases.length; i++) {
            LogHistogram h = run[i];
            phases[i] = new RunSummary.Phase(ms(h.mean()), ms(h.quantile(0.5)), ms(h.quantile(0.99)), ms(h.max()));
        }
        List<Long> slowest = new ArrayList<>();
        for (long c : runLast) {
            slowest.add(c);
        }
        return new RunSummary.Timeline(steps, runLast.length, phases[DATA], phases[COMPUTE], phases[EXCHANGE],
            phases[WAIT], phases[APPLY], phases[STEP], slowest);
    }

    private static double ms(double micros) {
        return Math.round(micros) / 1e3;
    }
}
