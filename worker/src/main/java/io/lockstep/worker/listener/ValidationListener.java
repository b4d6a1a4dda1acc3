package io.lockstep.worker.listener;

import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.train.Every;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.util.function.Supplier;

/**
 * Validation inside the replicas while the barrier stage runs: each worker evaluates the current
 * (identical) parameters on its own part of the validation set, the partial metrics are
 * all-gathered through the parameter server and merged in rank order, so every replica holds the
 * same merged metrics, equal to one evaluation of the whole set. Runs on schedule and once more
 * at the end if the last step was not validated.
 */
public final class ValidationListener implements TrainingListener {
    private static final int BATCH = 512;

    private final DataPartition part;
    private final Supplier<EvalMetrics> empty;
    private final Every every;
    private long lastValidatedStep = -1;

    public ValidationListener(DataPartition part, Supplier<EvalMetrics> empty, Every every) {
        this.part = part;
        this.empty = empty;
        this.every = every;
    }

    @Override
    public void onStepEnd(Trainer trainer, StepResult step) throws Exception {
        if (every.dueAfterStep(step.step() + 1)) {
            validate(trainer);
        }
    }

    @Override
    public void onEpochEnd(Trainer trainer, int epoch) throws Exception {
        if (every.dueAfterEpoch(epoch) && lastValidatedStep != trainer.state().step()) {
            validate(trainer);
        }
    }

    @Override
    public void onTrainingEnd(Trainer trainer) throws Exception {
        if (lastValidatedStep != trainer.state().step()) {
            validate(trainer);
        }
    }

    private void validate(Trainer trainer) throws Exception {
        EvalMetrics local = evaluate(trainer.network(), part, empty.get());
        byte[][] all = trainer.exchange().allGather(Trainer.round(trainer.state().step(), Trainer.ROUND_VALIDATION),
            serialize(local));
        EvalMetrics merged = mergeInRankOrder(all);
        lastValidatedStep = trainer.state().step();
        trainer.fireValidation(merged);
    }

    /** Metrics of {@code network} over {@code data}, added batch by batch into {@code into}. */
    public static EvalMetrics evaluate(Network network, DataPartition data, EvalMetrics into) throws InterruptedException {
        if (data.size() == 0) {
            return into;
        }
        int steps = (data.size() + BATCH - 1) / BATCH;
        try (BatchSource batches = new BatchSource(data, BATCH, steps, 0, false, 0)) {
            for (int s = 0; s < steps; s++) {
                Batch b = batches.next();
                into.add(b.labels(), network.output(b.features()), network.exampleLosses(b.features(), b.labels()));
            }
        }
        return into;
    }

    /** Merges serialized partial metrics, rank 0 first: the same order, so the same doubles, everywhere. */
    public static EvalMetrics mergeInRankOrder(byte[][] blobs) {
        EvalMetrics merged = deserialize(blobs[0]);
        for (int r = 1; r < blobs.length; r++) {
            merged.merge(deserialize(blobs[r]));
        }
        return merged;
    }

    public static byte[] serialize(EvalMetrics metrics) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(metrics);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    public static EvalMetrics deserialize(byte[] blob) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(blob))) {
            return (EvalMetrics) in.readObject();
        } catch (IOException | ClassNotFoundException e) {
            throw new IllegalStateException("unreadable validation metrics from a worker: " + e.getMessage(), e);
        }
    }
}
