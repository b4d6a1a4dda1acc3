package io.lockstep.driver.output;

import io.lockstep.ps.server.StepListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.function.LongToDoubleFunction;
import java.util.function.Supplier;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Live progress from the parameter server's point of view: shard 0 reports each finished step
 * (global samples, weighted mean loss); this writes {@code metrics.jsonl} lines every
 * {@code logEvery} steps and at each epoch end, and logs a progress line. A queue hands the
 * events from the shard's agent thread to this writer thread, so the hot path never blocks.
 *
 * <p>Each attempt of the training stage ends with an {@code attempt} line ({@link #attempt}).
 *
 * <p>With {@link #withTimeline()}, a step line waits on the writer thread for the replicas' step
 * timeline of its step ({@link #timeline}, from an all-gather right after the step) and carries its
 * {@code "t"} member; a line whose timeline never comes (a failed attempt) goes out without it.
 *
 * <p>The lines go to a temporary file beside {@code metrics.jsonl} (for a resumed run, a copy of
 * the existing file); {@link #commit} renames it into place once the run has succeeded, so a
 * failed run never truncates an earlier run's log. {@link #discard} (or the end of the JVM, or the
 * next run in the directory) removes a log that was not committed.
 */
public final class MetricsLog implements StepListener, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    private static final Event END = new Event(-1, 0, 0, 0, null, null);

    /**
     * A finished step, or (with {@code line} set) a line to render on the writer thread, e.g. a
     * validation result, or (with {@code timeline} set) the replicas' step timeline windows.
     */
    private record Event(long step, long samples, float loss, long nanos, Supplier<String> line, byte[][] timeline) {
    }

    private final BlockingQueue<Event> queue = new LinkedBlockingQueue<>();
    private final LongToDoubleFunction learningRate;
    private final Path file;
    private final Path temp;
    private final BufferedWriter out;
    private final Thread writer;
    private final int stepsPerEpoch;
    private final int epochs;
    private final int logEvery;

    private long windowStart = -1;
    private long windowSamples;
    private long epochStart = -1;
    private long epochSamples;
    private long epochRateSamples;
    private double epochLoss;
    private volatile float lastLoss = Float.NaN;
    private volatile long lastStep;
    private volatile IOException failure;
    private final Timeline timeline = new Timeline();
    private volatile boolean timelineExpected;
    private String pendingStep;  // a step line without its closing brace, waiting for its timeline
    private long pendingStepNumber;
    private String pendingEpoch; // the epoch line that follows it
    private boolean closed;
    private boolean committed;
    private boolean discarded;

    /**
     * @param learningRate the rate the optimizer uses at a global step (written with each step line),
     *                     or null when the model's own configuration decides it
     * @param append       continue an earlier run's file (resume) instead of starting a new one; either
     *                     way {@code file} itself is only replaced by {@link #commit}
     */
    public MetricsLog(Path file, int stepsPerEpoch, int epochs, int logEvery, LongToDoubleFunction learningRate,
                      boolean append) throws IOException {
        this.file = file;
        this.temp = TempFiles.create(file);
        try {
            if (append && Files.exists(file)) {
                Files.copy(file, temp, StandardCopyOption.REPLACE_EXISTING);
            }
            this.out = Files.newBufferedWriter(temp, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
        } catch (IOException e) {
            TempFiles.delete(temp);
            throw TempFiles.explain(file, e);
        }
        this.learningRate = learningRate;
        this.stepsPerEpoch = stepsPerEpoch;
        this.epochs = epochs;
        this.logEvery = logEvery;
        this.writer = new Thread(this::drain, "lockstep-metrics");
        writer.setDaemon(true);
        writer.start();
    }

    @Override
    public void onStep(long step, long samples, float meanLoss, long nanoTime) {
        queue.add(new Event(step, samples, meanLoss, nanoTime, null, null));
    }

    /** Step lines wait for the replicas' step timeline ({@link #timeline}); call before the first step. */
    public MetricsLog withTimeline() {
        timelineExpected = true;
        return this;
    }

    /** One all-gather round of the replicas' step timeline windows; only hands them to the writer thread. */
    public void timeline(byte[][] windowsByRank) {
        queue.add(new Event(-1, 0, 0, 0, null, windowsByRank));
    }

    /** The step timeline over the whole run for summary.json (null without any); read it after {@link #close()}. */
    public RunSummary.Timeline timelineSummary() {
        return timeline.summary();
    }

    /**
     * Writes the JSON line {@code render} returns, in order with the step lines. It runs on this
     * log's writer thread, so callers on the parameter server's agent threads hand work over
     * instead of doing it.
     */
    public void later(Supplier<String> render) {
        queue.add(new Event(-1, 0, 0, System.nanoTime(), render, null));
    }

    /**
     * The end of an attempt of the training stage: an {@code attempt} line with its summary.json entry (the
     * frames dropped during it included), after every line of its steps already handed over.
     */
    public void attempt(RunSummary.Attempt attempt) {
        later(() -> { // on the writer thread, in order with the steps
            newRateWindow();
            return attempt.toJsonLine();
        });
    }

    /** Loss of the last finished step (global, sample-weighted); read it after {@link #close()}. */
    public float lastLoss() {
        return lastLoss;
    }

    /**
     * Steps the server reported finished so far (as written, so it may trail the live server by the
     * queue's length); how far a failed attempt got.
     */
    public long lastStep() {
        return lastStep;
    }

    private void drain() {
        try {
            for (Event e = queue.take(); e != END; e = queue.take()) {
                if (e.timeline != null) {
                    onTimeline(e.timeline);
                } else if (e.line != null) {
                    String json;
                    try {
                        json = e.line.get();
                    } catch (RuntimeException bad) { // one unreadable validation must not silence the log
                        LOG.error("metrics.jsonl: a line could not be rendered: {}", bad.toString());
                        continue;
                    }
                    flushPending();
                    line(json);
                } else {
                    record(e);
                }
            }
            flushPending();
            out.flush();
        } catch (InterruptedException ignored) {
            Thread.currentThread().interrupt();
        } catch (IOException io) {
            failure = io;
        }
    }

    /** The next attempt's first step opens a new rate window: waiting for replacement executors is no training. */
    private void newRateWindow() {
        windowStart = -1;
        windowSamples = 0;
    }

    private void record(Event e) throws IOException {
        if (e.step + 1 <= lastStep) { // the next attempt of the stage, from a checkpoint or step 0
            flushPending();
            timeline.restart();
            newRateWindow();
        }
        lastLoss = e.loss;
        lastStep = e.step + 1;
        epochSamples += e.samples;
        epochLoss += (double) e.loss * e.samples;
        long step = e.step + 1;
        int epoch = (int) (e.step / stepsPerEpoch) + 1;
        // rates are measured from the end of a step, so the first step (start-up) opens the clock
        if (windowStart < 0) {
            windowStart = e.nanos;
        } else {
            windowSamples += e.samples;
        }
        if (epochStart < 0) {
            epochStart = e.nanos;
            epochRateSamples = 0;
        } else {
            epochRateSamples += e.samples;
        }
        String stepLine = null;
        String epochLine = null;
        if (step % logEvery == 0 || step % stepsPerEpoch == 0) {
            double rate = windowSamples / Math.max(1e-9, (e.nanos - windowStart) / 1e9);
            stepLine = String.format(Locale.ROOT,
                "{\"type\":\"step\",\"step\":%d,\"epoch\":%d,\"loss\":%s,%s\"samples\":%d,\"samples_per_second\":%.1f",
                step, epoch, number(e.loss), learningRate == null ? ""
                    : "\"lr\":" + number(learningRate.applyAsDouble(e.step)) + ",", windowSamples, rate);
            LOG.info(String.format(Locale.ROOT, "epoch %d/%d  step %d/%d  loss %.4f  %,.0f samples/s",
                epoch, epochs, step, (long) stepsPerEpoch * epochs, e.loss, rate));
            windowStart = e.nanos;
            windowSamples = 0;
        }
        if (step % stepsPerEpoch == 0) {
            double seconds = (e.nanos - epochStart) / 1e9;
            epochLine = String.format(Locale.ROOT,
                "{\"type\":\"epoch\",\"epoch\":%d,\"step\":%d,\"loss\":%s,\"samples\":%d,\"seconds\":%.3f,\"samples_per_second\":%.1f}",
                epoch, step, number(epochLoss / Math.max(1, epochSamples)), epochSamples, seconds,
                epochRateSamples / Math.max(1e-9, seconds));
            epochStart = e.nanos;
            epochRateSamples = 0;
            epochSamples = 0;
            epochLoss = 0;
        }
        if (stepLine != null) {
            flushPending();
            pendingStep = stepLine;
            pendingStepNumber = step;
            pendingEpoch = epochLine;
            if (!timelineExpected || timeline.through() >= step) {
                writePending(timeline.lineFields());
            }
        }
    }

    /** The replicas' windows: the pending step line goes out once they reach its step. */
    private void onTimeline(byte[][] windowsByRank) throws IOException {
        try {
            timeline.add(windowsByRank);
        } catch (RuntimeException bad) { // one unreadable round must not silence the log
            LOG.error("metrics.jsonl: a step timeline round could not be read: {}", bad.toString());
            return;
        }
        if (pendingStep != null && timeline.through() >= pendingStepNumber) {
            writePending(timeline.lineFields());
        }
    }

    /** Another line is due before the pending step line's timeline came: it goes out without one. */
    private void flushPending() throws IOException {
        if (pendingStep != null) {
            timeline.dropLine();
            writePending(null);
        }
    }

    private void writePending(String timelineFields) throws IOException {
        line(pendingStep + (timelineFields == null ? "" : "," + timelineFields) + "}");
        if (pendingEpoch != null) {
            line(pendingEpoch);
        }
        pendingStep = null;
        pendingEpoch = null;
    }

    /** Strict JSON: NaN and infinities (a diverged loss) are written as null. */
    private static String number(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null";
    }

    private void line(String json) throws IOException {
        out.write(json);
        out.newLine();
        out.flush();
    }

    /**
     * Stops the writer and closes the temporary file; {@code metrics.jsonl} stays as it was until
     * {@link #commit}. When a line could not be written, the temporary file is removed and the
     * failure names the file (and says when the disk is full). Idempotent.
     */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        queue.add(END);
        try {
            writer.join(TimeUnit.SECONDS.toMillis(10));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            out.close();
        } catch (IOException e) {
            failure = failure != null ? failure : e;
        }
        if (failure != null) {
            discard();
            throw new UncheckedIOException(TempFiles.explain(file, failure));
        }
    }

    /**
     * The run succeeded: closes the log if it is open and renames the temporary file to
     * {@code metrics.jsonl}, replacing an earlier run's file. Idempotent.
     */
    public synchronized void commit() throws IOException {
        close();
        if (committed) {
            return;
        }
        if (discarded) {
            throw new IllegalStateException(file + ": the log was discarded and cannot be committed");
        }
        try {
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            TempFiles.delete(temp);
            throw TempFiles.explain(file, e);
        }
        TempFiles.release(temp);
        committed = true;
    }

    /** The run failed: stops the log and removes its temporary file; {@code metrics.jsonl} stays as it was. */
    public synchronized void discard() {
        if (!closed) {
            try {
                close();
            } catch (IOException | UncheckedIOException ignored) {
                // discarded either way
            }
        }
        if (!committed) {
            discarded = true;
            TempFiles.delete(temp);
        }
    }

    /** The temporary file the lines go to until {@link #commit}. */
    Path temp() {
        return temp;
    }
}
