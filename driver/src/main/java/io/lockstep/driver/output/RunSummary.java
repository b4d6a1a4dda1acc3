package io.lockstep.driver.output;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.core.JsonProcessingException;

import java.util.List;
import java.util.Map;

/**
 * What a run did, as written to {@code summary.json} (snake_case keys, strict JSON: values that are
 * not finite are null, sections that do not apply are left out).
 *
 * @param replicas         where each rank ran, by rank ({@code pid@host})
 * @param devices          what each rank computed on, by rank: {@code gpu N} (the GPU Spark assigned its task),
 *                         {@code cpu}, or {@code cpu (gpu N assigned, backend cpu)} on the CPU build
 * @param epochsCompleted  epochs trained to the end (fewer than {@code epochs} after an early stop)
 * @param resumedFromStep  the step a resumed run started at (0 for a fresh run)
 * @param skippedSteps     steps dropped for a non-finite gradient ({@code on_non_finite: skip})
 * @param stoppedEarly     why training stopped before the last epoch, or null
 * @param samplesPerSecond training loop only (start-up and evaluation excluded)
 * @param timeline         the step timeline over every rank and step: per phase mean, median, p99 and maximum
 *                         (ms), and how often each rank was the one the others waited for
 * @param attempts         the training stage's attempts: where each started, how far a failed one got,
 *                         why it failed and what the wire refused during it
 * @param validation       the last validation's merged metrics
 * @param best             the best validation result by the watched metric and whether it was published
 * @param test             the published parameters' metrics on the test split
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunSummary(
    String task, int workers, List<String> replicas, List<String> devices, int epochs, int epochsCompleted, int batchSizePerWorker, int accumulateSteps,
    int globalBatchSize, long steps, int stepsPerEpoch, long resumedFromStep, long skippedSteps, String stoppedEarly,
    long trainSamples, long validationSamples, long testSamples, long samplesTrained, long parameters,
    Double finalLoss, double trainSeconds, double samplesPerSecond, double wallSeconds,
    TimeSplit timeSplitSeconds, Timeline timeline, Ps ps, List<Attempt> attempts, Map<String, Object> validation, Best best,
    Map<String, Object> test, String model) {

    private static final ObjectMapper JSON = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .enable(SerializationFeature.INDENT_OUTPUT);
    private static final ObjectMapper LINE = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

    /** Seconds rank 0 spent waiting for data, computing gradients, exchanging them and applying the step. */
    public record TimeSplit(double data, double compute, double exchange, double apply) {
    }

    /**
     * Each phase over all (rank, step) pairs; the wait is the part of the exchange spent waiting
     * for the slowest rank. {@code slowestRankSteps}: by rank, the steps at which it exchanged
     * fastest, i.e. arrived last and was waited for.
     */
    public record Timeline(long steps, int ranks, Phase dataMs, Phase computeMs, Phase exchangeMs, Phase waitMs,
                           Phase applyMs, Phase stepMs, List<Long> slowestRankSteps) {
    }

    /** Milliseconds: exact mean and maximum, median and p99 within 0.8% ({@link LogHistogram}). */
    public record Phase(double mean, double p50, double p99, double max) {
    }

    /**
     * @param transport the transport used (memory, ipc or udp; {@code ps.transport: auto} resolved)
     * @param placement where the shards ran: driver, executors, or none (the in-memory exchange has no server)
     * @param droppedFrames frames the shards and the all-gather endpoint refused, wherever they ran, over every
     *                      attempt (a failed attempt's: as far as they reached the driver)
     * @param optimizer where the optimizer ran: server or replica
     */
    public record Ps(String transport, int shards, String placement, long droppedFrames, String optimizer) {
    }

    /**
     * One attempt of the training stage.
     *
     * @param fromStep    the step it started at (a checkpoint's, or 0)
     * @param failedAtStep the last step it finished before failing; null for the attempt that completed
     * @param stepsRedone steps the next attempt does again (failed_at_step minus where the next starts)
     * @param cause       why it failed (who, where, what); null for the attempt that completed
     * @param seconds     how long it ran, start to end or failure (for a failed attempt: the time lost
     *                    is the part after its last checkpoint plus the restart)
     * @param drops       frames refused during it, by side ({@code shards}, {@code gather}, {@code workers}) and
     *                    kind, zeros included; a failed attempt's: the driver's and those the failed tasks
     *                    carried back in their exceptions (a lost executor's, or a cancelled rank's, are lost)
     */
    @JsonInclude(JsonInclude.Include.ALWAYS)
    public record Attempt(int attempt, long fromStep, Long failedAtStep, Long stepsRedone, String cause,
                          double seconds, Map<String, Map<String, Long>> drops) {

        public Attempt withDrops(Map<String, Map<String, Long>> drops) {
            return new Attempt(attempt, fromStep, failedAtStep, stepsRedone, cause, seconds, drops);
        }

        /** This attempt as one metrics.jsonl line of type {@code attempt}, with the same members as in summary.json. */
        @SuppressWarnings("unchecked")
        public String toJsonLine() {
            Map<String, Object> line = new java.util.LinkedHashMap<>();
            line.put("type", "attempt");
            line.putAll(LINE.convertValue(this, Map.class));
            try {
                return LINE.writeValueAsString(line);
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    public record Best(String metric, Double value, int epoch, long step, boolean published) {
    }

    /** A summary built member by member (every member is named where it is set; unset ones are 0 or null). */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds a {@link RunSummary}: one setter per summary.json member, in the file's order. */
    public static final class Builder {
        private String task;
        private int workers;
        private List<String> replicas;
        private List<String> devices;
        private int epochs;
        private int epochsCompleted;
        private int batchSizePerWorker;
        private int accumulateSteps;
        private int globalBatchSize;
        private long steps;
        private int stepsPerEpoch;
        private long resumedFromStep;
        private long skippedSteps;
        private String stoppedEarly;
        private long trainSamples;
        private long validationSamples;
        private long testSamples;
        private long samplesTrained;
        private long parameters;
        private Double finalLoss;
        private double trainSeconds;
        private double samplesPerSecond;
        private double wallSeconds;
        private TimeSplit timeSplitSeconds;
        private Timeline timeline;
        private Ps ps;
        private List<Attempt> attempts;
        private Map<String, Object> validation;
        private Best best;
        private Map<String, Object> test;
        private String model;

        private Builder() {
        }

        public Builder task(String v) { task = v; return this; }
        public Builder workers(int v) { workers = v; return this; }
        public Builder replicas(List<String> v) { replicas = v; return this; }
        public Builder devices(List<String> v) { devices = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        public Builder epochsCompleted(int v) { epochsCompleted = v; return this; }
        public Builder batchSizePerWorker(int v) { batchSizePerWorker = v; return this; }
        public Builder accumulateSteps(int v) { accumulateSteps = v; return this; }
        public Builder globalBatchSize(int v) { globalBatchSize = v; return this; }
        public Builder steps(long v) { steps = v; return this; }
        public Builder stepsPerEpoch(int v) { stepsPerEpoch = v; return this; }
        public Builder resumedFromStep(long v) { resumedFromStep = v; return this; }
        public Builder skippedSteps(long v) { skippedSteps = v; return this; }
        public Builder stoppedEarly(String v) { stoppedEarly = v; return this; }
        public Builder trainSamples(long v) { trainSamples = v; return this; }
        public Builder validationSamples(long v) { validationSamples = v; return this; }
        public Builder testSamples(long v) { testSamples = v; return this; }
        public Builder samplesTrained(long v) { samplesTrained = v; return this; }
        public Builder parameters(long v) { parameters = v; return this; }
        public Builder finalLoss(Double v) { finalLoss = v; return this; }
        public Builder trainSeconds(double v) { trainSeconds = v; return this; }
        public Builder samplesPerSecond(double v) { samplesPerSecond = v; return this; }
        public Builder wallSeconds(double v) { wallSeconds = v; return this; }
        public Builder timeSplitSeconds(TimeSplit v) { timeSplitSeconds = v; return this; }
        public Builder timeline(Timeline v) { timeline = v; return this; }
        public Builder ps(Ps v) { ps = v; return this; }
        public Builder attempts(List<Attempt> v) { attempts = v; return this; }
        public Builder validation(Map<String, Object> v) { validation = v; return this; }
        public Builder best(Best v) { best = v; return this; }
        public Builder test(Map<String, Object> v) { test = v; return this; }
        public Builder model(String v) { model = v; return this; }

        public RunSummary build() {
            return new RunSummary(task, workers, replicas, devices, epochs, epochsCompleted, batchSizePerWorker,
                accumulateSteps, globalBatchSize, steps, stepsPerEpoch, resumedFromStep, skippedSteps, stoppedEarly,
                trainSamples, validationSamples, testSamples, samplesTrained, parameters, finalLoss, trainSeconds,
                samplesPerSecond, wallSeconds, timeSplitSeconds, timeline, ps, attempts, validation, best, test,
                model);
        }
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The same content as a map of snake_case keys (what summary.json parses back to). */
    @SuppressWarnings("unchecked")
    public Map<String, Object> toMap() {
        return JSON.convertValue(this, Map.class);
    }

    /** Four decimals: summary figures, not bit patterns. */
    public static double round(double v) {
        return Math.round(v * 1e4) / 1e4;
    }

    /** Rounded, or null when not finite (a diverged loss). */
    public static Double finite(double v) {
        return Double.isFinite(v) ? round(v) : null;
    }
}
