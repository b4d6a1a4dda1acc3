package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Specs;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.worker.model.Models;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.optim.LrSchedule;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.worker.optim.Optimizers;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.LongToDoubleFunction;

/**
 * The job's network, built once on the driver: its initial parameters go to every replica, its
 * JSON rebuilds it there. {@code learningRate} gives the rate at a global step when Lockstep's
 * optimizer settings drive the model (null when a model file brings its own).
 */
public record ModelSetup(Network network, String json, LongToDoubleFunction learningRate) {

    public static ModelSetup build(JobConfig cfg, int features, int outputs, String task, long totalSteps) throws IOException {
        OptimizerSpec optimizer = Specs.optimizer(cfg.optimizer);
        LrSchedule schedule = LrSchedule.of(optimizer, cfg.workers, totalSteps);
        if (cfg.model.type.equalsIgnoreCase("json")) {
            Path path = Path.of(cfg.model.path);
            if (!Files.isRegularFile(path)) {
                throw new ConfigLoader.ConfigException("config key 'model.path': file not found: " + path);
            }
            MultiLayerConfiguration conf;
            try {
                conf = MultiLayerConfiguration.fromJson(Files.readString(path));
            } catch (RuntimeException e) {
                throw new ConfigLoader.ConfigException("config key 'model.path': " + path
                    + " is not a DL4J MultiLayerConfiguration JSON: " + DataLoader.rootCause(e).getMessage());
            }
            return of(conf, null);
        }
        String loss = cfg.loss != null ? cfg.loss : "cross_entropy";
        MultiLayerConfiguration conf = Models.mlp(features, cfg.model.hidden, cfg.model.activation, outputs, loss,
            Optimizers.updater(optimizer, schedule), cfg.seed);
        return of(Optimizers.removeDuplicateRegularization(conf), schedule::rate);
    }

    private static ModelSetup of(MultiLayerConfiguration conf, LongToDoubleFunction rate) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return new ModelSetup(Network.of(net), conf.toJson(), rate);
    }
}
