package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.driver.output.HadoopCheckpointStore;
import io.lockstep.worker.checkpoint.Checkpoint;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.listener.CheckpointListener;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import io.lockstep.worker.train.TrainState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Optional;

/**
 * Where a run starts: step 0 with fresh parameters, or ({@code resume: latest | PATH}) the newest
 * valid checkpoint: its parameters, optimizer state, position and best-model bookkeeping. A
 * checkpoint of a run whose model- or data-shaping keys differ is refused, naming the keys.
 */
final class Resume {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private Resume() {
    }

    static StartPoint startPoint(JobConfig cfg, CheckpointStore store, RunIdentity identity, float[] initial)
        throws IOException {
        if (cfg.resume() == null) {
            return StartPoint.fresh(initial, cfg.seed());
        }
        if (cfg.resume().isLatest()) { // with checkpoint.dir set: a config rule
            return latest(cfg, store, identity, initial, "resume");
        }
        return from(HadoopCheckpointStore.read(cfg.resume().path()), cfg.resume().path(), store, identity, initial, "resume");
    }

    /**
     * The newest valid checkpoint in {@code store}, or step 0 when there is none (or no store): where
     * a resumed run and a recovery attempt start.
     */
    static StartPoint latest(JobConfig cfg, CheckpointStore store, RunIdentity identity, float[] initial, String why)
        throws IOException {
        Optional<Checkpoint> latest = store == null ? Optional.empty() : store.latestValid(LOG::warn);
        if (latest.isEmpty()) {
            LOG.warn("{}: no valid checkpoint{}: starting from step 0", why,
                store == null ? " (checkpoint.dir is not set)" : " in " + cfg.checkpoint().dir());
            return StartPoint.fresh(initial, cfg.seed());
        }
        Checkpoint checkpoint = latest.get();
        return from(checkpoint, cfg.checkpoint().dir() + " (step " + checkpoint.step() + ")", store, identity, initial, why);
    }

    private static StartPoint from(Checkpoint checkpoint, String name, CheckpointStore store, RunIdentity identity,
                                   float[] initial, String why) throws IOException {
        RunIdentities.requireSame(checkpoint.configKeys(), identity.configKeys(), name);
        if (checkpoint.params().length != initial.length) {
            throw new ConfigLoader.ConfigException("cannot resume from " + name + ": it holds "
                + checkpoint.params().length + " parameters, this model has " + initial.length);
        }
        TrainState state = CheckpointListener.trainState(checkpoint);
        float[] best = null;
        if (state.bestStep() >= 0 && store != null) {
            best = store.best().map(Checkpoint::params).orElse(null);
        }
        LOG.info("{}: from {} at {}", why, name, state);
        return new StartPoint(checkpoint.params(), checkpoint.updaterState(), state, best);
    }
}
