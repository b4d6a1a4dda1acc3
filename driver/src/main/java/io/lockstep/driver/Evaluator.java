package io.lockstep.driver;

import io.lockstep.worker.Sample;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** Classification metrics of the trained parameters over a Spark data set, one partial per partition. */
final class Evaluator {
    private static final int BATCH = 512;

    private Evaluator() {
    }

    static Evaluation evaluate(JavaRDD<Sample> data, String modelJson, Broadcast<float[]> params, int classes) {
        return data.mapPartitions((Iterator<Sample> it) -> {
            float[] p = params.value();
            MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(modelJson));
            net.init(Nd4j.create(p, new long[]{1, p.length}, 'c'), false);
            Evaluation eval = new Evaluation(classes);
            List<Sample> batch = new ArrayList<>(BATCH);
            while (it.hasNext()) {
                batch.add(it.next());
                if (batch.size() == BATCH || !it.hasNext()) {
                    int n = batch.size();
                    int f = batch.get(0).features().length;
                    float[] x = new float[n * f];
                    float[] y = new float[n * classes];
                    for (int i = 0; i < n; i++) {
                        System.arraycopy(batch.get(i).features(), 0, x, i * f, f);
                        System.arraycopy(batch.get(i).labels(), 0, y, i * classes, classes);
                    }
                    eval.eval(Nd4j.create(y, new long[]{n, classes}, 'c'),
                        net.output(Nd4j.create(x, new long[]{n, f}, 'c'), false));
                    batch.clear();
                }
            }
            return List.of(eval).iterator();
        }).reduce((a, b) -> {
            a.merge(b);
            return a;
        });
    }
}
