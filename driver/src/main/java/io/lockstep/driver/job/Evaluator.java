package io.lockstep.driver.job;

import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.listener.ValidationListener;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.model.Network;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;

import java.util.Iterator;
import java.util.List;

/**
 * The task's metrics (the same ones validation reports) of given parameters over a Spark data
 * set: one partial per partition, merged exactly.
 */
public final class Evaluator {
    private Evaluator() {
    }

    public static EvalMetrics evaluate(JavaRDD<Sample> data, String modelJson, Broadcast<float[]> params, int features,
                                String task, int outputs) {
        return data.mapPartitions((Iterator<Sample> it) -> {
            EvalMetrics metrics = EvalMetrics.forTask(task, outputs);
            DataPartition part = DataPartition.of(it, features, outputs);
            if (part.size() > 0) {
                ValidationListener.evaluate(Network.fromJson(modelJson, params.value()), part, metrics);
            }
            return List.of(metrics).iterator();
        }).reduce(EvalMetrics::merge);
    }
}
