package io.lockstep.driver.doctor;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Specs;
import io.lockstep.worker.model.ModelContext;
import io.lockstep.worker.model.ModelType;
import io.lockstep.worker.model.ParameterCount;
import io.lockstep.worker.optim.Optimizers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The model's size before the job builds it, as {@code worker.model} and {@code worker.optim} count it. */
final class ModelSize {
    private ModelSize() {
    }

    /**
     * The model's parameter count from the config and the number of features alone, without building it;
     * -1 when that needs the model or the data read (factory, init_from, unknown features). For
     * classification without data.classes the output layer is counted with 2 classes: a lower bound.
     */
    static long parameters(JobConfig cfg, int features) {
        try {
            if (cfg.model().initFrom() != null) {
                return -1;
            }
            if (cfg.model().type() == ModelType.JSON) {
                return ParameterCount.ofJson(Files.readString(Path.of(cfg.model().path())));
            }
            if (features <= 0) {
                return -1;
            }
            int outputs = cfg.task() == Task.CLASSIFICATION
                ? (cfg.data().classes() != null ? cfg.data().classes() : 2) : 1;
            return ParameterCount.of(Specs.model(cfg.model()),
                new ModelContext(features, null, outputs, cfg.task().key(), null, null, cfg.seed()));
        } catch (IOException | RuntimeException e) {
            return -1; // the job names what is wrong with the model or its file
        }
    }

    /**
     * Optimizer state per parameter (floats): the updater's own ({@link Optimizers#stateSlots}); a model file
     * brings its own updater: Adam's 2 assumed.
     */
    static int stateCopies(JobConfig cfg) {
        if (cfg.model().type().isUserDefined()) {
            return 2;
        }
        return Optimizers.stateSlots(Specs.optimizer(cfg.optimizer()));
    }
}
