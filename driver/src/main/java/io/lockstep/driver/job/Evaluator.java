package io.lockstep.driver.job;

import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.train.TrainingSpec;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Iterator;
import java.util.List;

/** Classification metrics of the trained parameters over a Spark data set, one partial per partition. */
public final class Evaluator {
    private static final int BATCH = 512;

    private Evaluator() {
    }

    static Evaluation evaluate(JavaRDD<Sample> data, String modelJson, Broadcast<float[]> params, int features,
                               int classes) {
        return data.mapPartitions((Iterator<Sample> it) -> {
            Evaluation eval = new Evaluation(classes);
            DataPartition shard = DataPartition.of(it, features, classes);
            if (shard.size() == 0) {
                return List.of(eval).iterator();
            }
            float[] p = params.value();
            MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(modelJson));
            net.init(Nd4j.create(p, new long[]{1, p.length}, 'c'), false);
            int steps = TrainingSpec.stepsPerEpoch(shard.size(), BATCH);
            try (BatchSource batches = new BatchSource(shard, BATCH, steps, 0, false, 0)) {
                for (int s = 0; s < steps; s++) {
                    Batch b = batches.next();
                    eval.eval(b.labels(), net.output(b.features(), false));
                }
            }
            return List.of(eval).iterator();
        }).reduce((a, b) -> {
            a.merge(b);
            return a;
        });
    }
}
