package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.Specs;
import io.lockstep.driver.data.ModelDataCheck;
import io.lockstep.worker.model.ModelBuilder;
import io.lockstep.worker.model.ModelContext;
import io.lockstep.worker.model.ModelSpec;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.optim.LrSchedule;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.Optimizers;

import io.lockstep.worker.optim.ServerPlan;
import io.lockstep.worker.optim.StepSite;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.function.LongToDoubleFunction;

/**
 * The job's network, built once on the driver: its initial parameters go to every replica, its
 * JSON rebuilds it there. {@code learningRate} gives the rate at a global step when Lockstep's
 * optimizer settings drive the model (null when a model file brings its own).
 */
public record ModelSetup(Network network, String json, LongToDoubleFunction learningRate, StepSite stepSite) {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    /**
     * @param inputShape [height, width, channels] of image rows (IDX), or null
     * @param totalSteps optimizer steps of the whole run (cosine schedules end there)
     */
    public static ModelSetup build(JobConfig cfg, int features, int[] inputShape, int outputs, String task,
                                   long totalSteps) {
        OptimizerSpec optimizer = Specs.optimizer(cfg.optimizer());
        ModelSpec spec = Specs.model(cfg.model());
        LrSchedule[] schedule = new LrSchedule[1];
        ModelContext ctx = new ModelContext(features, inputShape, outputs, task, cfg.loss() == null ? null : cfg.loss().key(),
            builder -> schedule[0] = Optimizers.configure(builder, optimizer, cfg.workers(), totalSteps), cfg.seed());
        Network network;
        try {
            network = Network.of(ModelBuilder.build(spec, ctx));
        } catch (IllegalArgumentException e) {
            throw new ConfigLoader.ConfigException(e.getMessage());
        }
        ModelDataCheck.check(cfg, network.dl4j(), features, outputs, task); // widths vs the data, before any stage
        return new ModelSetup(network, network.toJson(), schedule[0] == null ? null : schedule[0]::rate,
            stepSite(cfg, network, optimizer, schedule[0]));
    }

    /**
     * Where the optimizer runs ({@code optimizer.step_placement}): the server, with its plan, or the replicas.
     * Auto (unset), the server takes it when it can mirror the model's updater and the replicas otherwise (logged);
     * {@code server} refuses a model it cannot mirror, naming the layer and the reason.
     */
    private static StepSite stepSite(JobConfig cfg, Network network, OptimizerSpec optimizer, LrSchedule schedule) {
        StepPlacement placement = cfg.optimizer().stepPlacement();
        if (placement == StepPlacement.REPLICA) {
            return StepSite.replicas();
        }
        String why;
        if (schedule == null) {
            why = "the model file brings its own updater; the job's optimizer settings do not drive it";
        } else {
            try {
                return StepSite.server(ServerPlan.of(network, optimizer, Specs.clipping(cfg.clipping()), schedule));
            } catch (IllegalArgumentException e) {
                why = e.getMessage();
            }
        }
        if (placement == StepPlacement.SERVER) {
            throw new ConfigLoader.ConfigException("config key 'optimizer.step_placement' is server, but the parameter"
                + " server cannot mirror this model's optimizer: " + why + " (set optimizer.step_placement: replica)");
        }
        LOG.info("optimizer on the replicas: {}", why);
        return StepSite.replicas();
    }
}
