package io.lockstep.worker.train;

import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.Digits;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.model.Models;

import io.lockstep.ps.*;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.*;

import static org.junit.jupiter.api.Assertions.*;

/** Replicas against a real parameter server on a real embedded media driver, on the digits data. */
class ReplicaTest {
    static EmbeddedAeron aeron;
    static List<Sample> digits;

    @BeforeAll
    static void start() throws Exception {
        aeron = EmbeddedAeron.acquire();
        digits = Digits.load().subList(0, 960);
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    static TrainingSpec spec(int batch, int steps, String optimizer) {
        String json = Models.mlp(64, List.of(32, 16), "relu", 10, "cross_entropy",
            Models.optimizer(optimizer, 0.01), 42).toJson();
        return new TrainingSpec(json, batch, 1, steps, 5, false);
    }

    static float[] initialParams(TrainingSpec spec) {
        MultiLayerNetwork net = new MultiLayerNetwork(
            org.deeplearning4j.nn.conf.MultiLayerConfiguration.fromJson(spec.modelJson()));
        net.init();
        return net.params().toFloatVector();
    }

    /** Trains {@code workers} replicas, shard r = rows r, r+N, ...; returns their results by rank. */
    static List<ReplicaResult> train(TrainingSpec spec, float[] init, List<Sample> data, int workers) throws Exception {
        ShardLayout layout = new ShardLayout(init.length, 2, 200); // small chunks: many frames per step
        ExchangeSpec ex = ExchangeSpec.create(ThreadLocalRandom.current().nextLong(), layout, workers,
            ExchangeSpec.Transport.UDP, "127.0.0.1", 4 << 20, ExchangeSpec.DEFAULT_MTU, 30_000, 0);
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), ex, StepListener.NONE)) {
            List<Future<ReplicaResult>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    try (GradientClient client = new GradientClient(aeron.aeron(), ex, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        return new Replica(spec, init, rank).train(Digits.stride(data, rank, workers), client);
                    }
                }));
            }
            List<ReplicaResult> results = new ArrayList<>();
            for (Future<ReplicaResult> f : futures) {
                results.add(f.get(120, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void oneReplicaThroughTheServerMatchesPlainDl4jFit() throws Exception {
        assertMatchesPlainFit(spec(32, 30, "adam"));
    }

    @Test
    void batchNormRunningStatisticsAreNotDividedByTheBatch() throws Exception {
        // BatchNorm's mean/variance "gradients" are updates DL4J never divides by the batch size
        String json = new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
            .seed(3).updater(Models.optimizer("adam", 0.01)).list()
            .layer(new org.deeplearning4j.nn.conf.layers.DenseLayer.Builder().nIn(64).nOut(32)
                .activation(org.nd4j.linalg.activations.Activation.RELU).build())
            .layer(new org.deeplearning4j.nn.conf.layers.BatchNormalization.Builder().nOut(32).build())
            .layer(new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder(
                org.nd4j.linalg.lossfunctions.LossFunctions.LossFunction.MCXENT).nIn(32).nOut(10)
                .activation(org.nd4j.linalg.activations.Activation.SOFTMAX).build())
            .build().toJson();
        assertMatchesPlainFit(new TrainingSpec(json, 32, 1, 30, 5, false));
    }

    /** One replica through the parameter server must take exactly the steps DL4J's own fit takes. */
    static void assertMatchesPlainFit(TrainingSpec spec) throws Exception {
        float[] init = initialParams(spec);
        float[] ours = train(spec, init, digits, 1).get(0).params();

        MultiLayerNetwork plain = new MultiLayerNetwork(
            org.deeplearning4j.nn.conf.MultiLayerConfiguration.fromJson(spec.modelJson()));
        plain.init(Nd4j.create(init, new long[]{1, init.length}, 'c'), true);
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), spec.batchSize(),
            spec.stepsPerEpoch(), 0, false, 0)) {
            for (int s = 0; s < spec.stepsPerEpoch(); s++) {
                Batch b = batches.next();
                plain.fit(new DataSet(b.features(), b.labels()));
            }
        }
        assertMaxDiff(plain.params().toFloatVector(), ours, 1e-5);
    }

    @Test
    void twoReplicasWithBatchBEqualOneWithBatch2B() throws Exception {
        TrainingSpec two = spec(16, 30, "adam");
        TrainingSpec one = spec(32, 30, "adam");
        float[] init = initialParams(one);
        List<ReplicaResult> pair = train(two, init, digits, 2);
        assertEquals(pair.get(0).paramDigest(), pair.get(1).paramDigest(), "replicas diverged");
        float[] single = train(one, init, digits, 1).get(0).params();
        assertMaxDiff(single, pair.get(0).params(), 1e-5);
        assertTrue(maxDiff(init, single) > 1e-3, "training must have moved the parameters");
    }

    @Test
    void unevenShardsFinishWithIdenticalReplicas() throws Exception {
        List<Sample> odd = digits.subList(0, 101); // 34/34/33 rows, batch 8: 5 steps, the last short or empty
        TrainingSpec spec = new TrainingSpec(spec(8, 1, "sgd").modelJson(), 8, 2,
            TrainingSpec.stepsPerEpoch(34, 8), 3, true);
        List<ReplicaResult> results = train(spec, initialParams(spec), odd, 3);
        for (ReplicaResult r : results) {
            assertEquals(10, r.steps());
            assertEquals(results.get(0).paramDigest(), r.paramDigest(), "rank " + r.rank() + " diverged");
        }
        assertEquals(202, results.stream().mapToLong(ReplicaResult::samples).sum());
    }

    static double maxDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    static void assertMaxDiff(float[] expected, float[] actual, double tolerance) {
        double d = maxDiff(expected, actual);
        assertTrue(d <= tolerance, "max abs difference " + d + " > " + tolerance);
    }
}
