package io.lockstep.worker.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One replica's step timeline: the data / compute / exchange / apply time of each step and its wall
 * time (from the end of the previous step, so the listeners' work between steps counts), kept for
 * the steps since the window was last {@linkplain #ship() shipped}. Everything lives in fixed
 * primitive arrays and one reused blob: recording a step allocates nothing.
 *
 * <p>The {@link Trainer} records; the {@code TimelineListener} ships the window to the driver with an
 * all-gather, where each rank's wait for the slowest one is worked out from all ranks' exchange times
 * of the same step. A full window starts over when nobody ships it (a trainer without the listener).
 */
public final class StepClock {
    /** Steps a window holds: the listener ships at least this often. */
    public static final int WINDOW = 64;
    /** Per step, in microseconds: data, compute, exchange, apply, wall. */
    public static final int DATA = 0, COMPUTE = 1, EXCHANGE = 2, APPLY = 3, WALL = 4, FIELDS = 5;

    private static final int VERSION = 1;
    private static final int HEADER = 4 + 8 + 4; // version, first step, steps
    private static final ByteOrder ORDER = ByteOrder.LITTLE_ENDIAN;

    private final int[] micros = new int[WINDOW * FIELDS];
    private final byte[] blob = new byte[HEADER + WINDOW * FIELDS * 4];
    private final ByteBuffer out = ByteBuffer.wrap(blob).order(ORDER);
    private long firstStep;
    private int steps;
    private boolean started;
    private long lastEnd;
    private long dataTotal, computeTotal, exchangeTotal, applyTotal; // the trainer's totals at the last step's end

    /** At the start of a step: the first step's wall time is counted from here. */
    void stepStarting() {
        if (!started) {
            started = true;
            lastEnd = System.nanoTime();
        }
    }

    /** At the end of {@code step} (0-based): the trainer's running totals (ns), of which this step's are the growth. */
    void stepEnded(long step, long data, long compute, long exchange, long apply) {
        long now = System.nanoTime();
        if (steps == WINDOW) { // nobody ships: start over rather than grow
            steps = 0;
        }
        if (steps == 0) {
            firstStep = step;
        }
        int at = steps * FIELDS;
        micros[at + DATA] = micros(data - dataTotal);
        micros[at + COMPUTE] = micros(compute - computeTotal);
        micros[at + EXCHANGE] = micros(exchange - exchangeTotal);
        micros[at + APPLY] = micros(apply - applyTotal);
        micros[at + WALL] = micros(now - lastEnd);
        steps++;
        dataTotal = data;
        computeTotal = compute;
        exchangeTotal = exchange;
        applyTotal = apply;
        lastEnd = now;
    }

    private static int micros(long nanos) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, nanos / 1000));
    }

    /** Steps recorded since the last {@link #ship()}. */
    public int steps() {
        return steps;
    }

    public boolean full() {
        return steps == WINDOW;
    }

    /**
     * The window as a blob of fixed length (the unused tail is zeros), and an empty window for the
     * next steps. The blob is reused: send it before the next call.
     */
    public byte[] ship() {
        write(out, firstStep, steps, micros);
        firstStep += steps;
        steps = 0;
        return blob;
    }

    /**
     * A shipped window, read back (on the driver).
     *
     * @param firstStep the first step's number (0-based)
     * @param steps     how many steps it holds
     * @param micros    {@link #FIELDS} values per step, in microseconds
     */
    public record Window(long firstStep, int steps, int[] micros) {
        public int get(int step, int field) {
            return micros[step * FIELDS + field];
        }

        /** The blob {@link #ship()} would send for these steps. */
        public byte[] toBlob() {
            byte[] blob = new byte[HEADER + steps * FIELDS * 4];
            write(ByteBuffer.wrap(blob).order(ORDER), firstStep, steps, micros);
            return blob;
        }
    }

    private static void write(ByteBuffer out, long firstStep, int steps, int[] micros) {
        out.putInt(0, VERSION).putLong(4, firstStep).putInt(12, steps);
        for (int i = 0; i < steps * FIELDS; i++) {
            out.putInt(HEADER + i * 4, micros[i]);
        }
    }

    /** Reads a blob {@link #ship()} wrote. */
    public static Window read(byte[] blob) {
        ByteBuffer in = ByteBuffer.wrap(blob).order(ORDER);
        if (blob.length < HEADER || in.getInt(0) != VERSION) {
            throw new IllegalArgumentException("not a step timeline window of version " + VERSION
                + " (" + blob.length + " bytes)");
        }
        int steps = in.getInt(12);
        if (steps < 0 || steps > WINDOW || blob.length < HEADER + steps * FIELDS * 4) {
            throw new IllegalArgumentException("step timeline window of " + steps + " steps in " + blob.length + " bytes");
        }
        int[] micros = new int[steps * FIELDS];
        for (int i = 0; i < micros.length; i++) {
            micros[i] = in.getInt(HEADER + i * 4);
        }
        return new Window(in.getLong(4), steps, micros);
    }
}
