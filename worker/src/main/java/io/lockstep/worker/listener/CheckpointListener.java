package io.lockstep.worker.listener;

import io.lockstep.worker.checkpoint.Checkpoint;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.train.Every;
import io.lockstep.worker.train.StepResult;
import io.lockstep.worker.train.TrainState;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainingListener;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.Map;

/**
 * Rank 0 writes a checkpoint every N steps or epochs: parameters, optimizer state and the train
 * state (position, best-metric bookkeeping), plus what identifies the run (config digest,
 * normalization). Put it after validation and early stopping in the listener list: a checkpoint at
 * an epoch's end then carries the bookkeeping of that epoch's validation, and one due on the last
 * step of an epoch is written at the epoch's end for the same reason.
 */
public final class CheckpointListener implements TrainingListener {

    /** What every checkpoint of a run carries besides the training progress. */
    public record RunIdentity(String configDigest, Map<String, String> configKeys, byte[] normalization)
        implements Serializable {
    }

    private final CheckpointStore store;
    private final Every every;
    private final RunIdentity identity;
    private boolean dueAtEpochEnd;

    public CheckpointListener(CheckpointStore store, Every every, RunIdentity identity) {
        this.store = store;
        this.every = every;
        this.identity = identity;
    }

    @Override
    public void onStepEnd(Trainer trainer, StepResult step) throws Exception {
        if (every.dueAfterStep(step.step() + 1)) {
            if (trainer.state().stepInEpoch() == 0) {
                dueAtEpochEnd = true;
            } else {
                write(trainer);
            }
        }
    }

    @Override
    public void onEpochEnd(Trainer trainer, int epoch) throws Exception {
        if (dueAtEpochEnd || every.dueAfterEpoch(epoch)) {
            dueAtEpochEnd = false;
            write(trainer);
        }
    }

    private void write(Trainer trainer) throws Exception {
        if (trainer.rank() != 0) {
            return;
        }
        String path = store.write(snapshot(trainer, identity));
        trainer.fireCheckpoint(path);
    }

    /** The trainer's state now, as a checkpoint. */
    public static Checkpoint snapshot(Trainer trainer, RunIdentity identity) {
        TrainState s = trainer.state();
        return new Checkpoint(s.step(), s.epoch(), s.stepInEpoch(), s.seed(),
            trainer.network().params().toFloatVector(), trainer.optimizerState(),
            identity.configDigest(), identity.configKeys(), identity.normalization(), serialize(s),
            System.currentTimeMillis());
    }

    public static byte[] serialize(TrainState state) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(state);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return bytes.toByteArray();
    }

    /** The train state a checkpoint carries. */
    public static TrainState trainState(Checkpoint checkpoint) {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(checkpoint.trainerState()))) {
            return (TrainState) in.readObject();
        } catch (IOException | ClassNotFoundException e) {
            throw new IllegalStateException("checkpoint at step " + checkpoint.step()
                + " carries an unreadable train state: " + e.getMessage(), e);
        }
    }
}
