package io.lockstep.worker.train;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.ps.server.StepListener;
import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.data.Digits;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.exchange.AeronExchange;
import io.lockstep.worker.exchange.GradientExchange;
import io.lockstep.worker.exchange.AeronGroupExchange;
import io.lockstep.worker.exchange.InMemoryExchange;
import io.lockstep.worker.exchange.SingleWorkerExchange;
import io.lockstep.worker.exchange.JvmWorkerGroup;
import io.lockstep.worker.model.Models;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.optim.ClippingSpec;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Replicas stepping through a real parameter server on a real embedded media driver, on the digits data. */
@Tag("slow")
class TrainerTest {
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

    static String mlp(String optimizer, double lr) {
        return Models.mlp(64, List.of(32, 16), "relu", 10, "cross_entropy", Models.optimizer(optimizer, lr), 42).toJson();
    }

    static float[] initialParams(String json) {
        MultiLayerNetwork net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        net.init();
        return net.params().toFloatVector();
    }

    /** One replica's result: its final parameters and the trainer it ran. */
    record Run(float[] params, Trainer trainer, float[] optimizerState) {
    }

    /**
     * Trains {@code workers} replicas for {@code options}, partition r = rows r, r+N, ...; returns them by
     * rank. Shuffling is off so that N workers at batch b see what one worker at N*b sees.
     */
    static List<Run> train(String json, float[] init, List<Sample> data, int workers, int batch,
                           TrainerOptions options) throws Exception {
        return train(json, init, data, workers, batch, options, null);
    }

    /** As above; with {@code serverOptimizer} the shards apply the optimizer (placement server). */
    static List<Run> train(String json, float[] init, List<Sample> data, int workers, int batch,
                           TrainerOptions options, ServerOptimizer serverOptimizer) throws Exception {
        return train(json, init, data, workers, batch, options, serverOptimizer, false);
    }

    /** As above; {@code grouped}: the workers, all in this JVM, reduce locally first ({@link JvmWorkerGroup}). */
    static List<Run> train(String json, float[] init, List<Sample> data, int workers, int batch,
                           TrainerOptions options, ServerOptimizer serverOptimizer, boolean grouped) throws Exception {
        int[] everyRank = java.util.stream.IntStream.range(0, workers).toArray();
        ShardLayout layout = new ShardLayout(init.length, 2, 200); // small chunks: many frames per step
        ExchangeSpec ex = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, workers)
            .transport(ExchangeSpec.Transport.UDP).termLength(4 << 20).timeoutMillis(30_000).build()
            .withOptimizer(serverOptimizer);
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try (ParameterServer server = ParameterServer.start(aeron.aeron(), ex, StepListener.NONE,
            io.lockstep.ps.server.GatherListener.NONE, init, null)) {
            List<Future<Run>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    try (GradientClient client = new GradientClient(aeron.aeron(), ex, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        Network net = Network.fromJson(json, init);
                        AeronExchange aeronExchange = new AeronExchange(client, ex);
                        GradientExchange exchange = grouped
                            ? new AeronGroupExchange(JvmWorkerGroup.join(ex.jobId(), everyRank), aeronExchange, 30_000)
                            : aeronExchange;
                        Trainer trainer = new Trainer(net, exchange, options, new TrainState(5));
                        try (BatchSource batches = new BatchSource(Digits.stride(data, rank, workers), batch,
                            options.batchesPerEpoch(), 5, false, 0)) {
                            TrainingLoop.run(trainer, batches);
                        }
                        // rank 0's optimizer state, as a checkpoint would take it (placement server: from the server)
                        return new Run(net.params().toFloatVector(), trainer, rank == 0 ? trainer.optimizerState() : null);
                    }
                }));
            }
            List<Run> results = new ArrayList<>();
            for (Future<Run> f : futures) {
                results.add(f.get(120, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    /** The same replicas, all in this JVM with nothing on the wire ({@link InMemoryExchange}); steps reported. */
    static List<Run> trainInMemory(String json, float[] init, List<Sample> data, int workers, int batch,
                                    TrainerOptions options, ServerOptimizer serverOptimizer, List<long[]> steps)
        throws Exception {
        long job = ThreadLocalRandom.current().nextLong();
        int[] everyRank = java.util.stream.IntStream.range(0, workers).toArray();
        ExecutorService pool = Executors.newFixedThreadPool(workers);
        try (var registration = io.lockstep.ps.server.JobListeners.register(job,
            (step, samples, loss, t) -> steps.add(new long[]{step, samples}), io.lockstep.ps.server.GatherListener.NONE)) {
            io.lockstep.ps.server.JobListeners listeners = io.lockstep.ps.server.JobListeners.find(job);
            List<Future<Run>> futures = new ArrayList<>();
            for (int r = 0; r < workers; r++) {
                int rank = r;
                futures.add(pool.submit(() -> {
                    JvmWorkerGroup group = JvmWorkerGroup.join(job, everyRank);
                    try (InMemoryExchange exchange = new InMemoryExchange(group, rank, workers, serverOptimizer,
                        null, listeners, 30_000)) {
                        Network net = Network.fromJson(json, init);
                        Trainer trainer = new Trainer(net, exchange, options, new TrainState(5));
                        try (BatchSource batches = new BatchSource(Digits.stride(data, rank, workers), batch,
                            options.batchesPerEpoch(), 5, false, 0)) {
                            TrainingLoop.run(trainer, batches);
                        }
                        return new Run(net.params().toFloatVector(), trainer, rank == 0 ? trainer.optimizerState() : null);
                    }
                }));
            }
            List<Run> results = new ArrayList<>();
            for (Future<Run> f : futures) {
                results.add(f.get(120, TimeUnit.SECONDS));
            }
            return results;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void workersAllInOneJvmExchangeInMemoryAndTakeTheServersSteps() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        List<Sample> rows = Digits.load().subList(0, 1000); // uneven: 334, 333, 333
        TrainerOptions options = new TrainerOptions(2, 21, 1, ClippingSpec.NONE, false);
        for (ServerOptimizer placement : java.util.Arrays.asList(null, serverAdam(init.length))) {
            List<long[]> steps = new java.util.concurrent.CopyOnWriteArrayList<>();
            List<Run> memory = trainInMemory(json, init, rows, 3, 16, options, placement, steps);
            List<Run> wire = train(json, init, rows, 3, 16, options, placement, false);
            for (Run r : memory) {
                assertArrayEquals(memory.get(0).params(), r.params(), "replicas diverged");
            }
            assertMaxDiff(wire.get(0).params(), memory.get(0).params(), 1e-5);
            assertMaxDiff(wire.get(0).optimizerState(), memory.get(0).optimizerState(), 1e-5);
            assertEquals(42, steps.size(), "every step reported to the driver's listener");
            assertEquals(48, steps.get(0)[1], "samples of a step, all workers");
        }
    }

    @Test
    void theFinitenessCheckFindsEveryNonFiniteValueAndNothingElse() {
        float[] values = new float[1001];
        java.util.Arrays.fill(values, Float.MAX_VALUE); // finite, although their sum overflows
        values[3] = Float.MIN_VALUE;
        values[4] = -0f;
        assertTrue(Trainer.finite(Nd4j.create(values)));
        for (float bad : new float[]{Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
            Float.intBitsToFloat(0xffc00001)}) {
            float[] broken = values.clone();
            broken[1000] = bad;
            assertFalse(Trainer.finite(Nd4j.create(broken)), "missed " + bad);
        }
    }

    static TrainerOptions steps(int steps) {
        return new TrainerOptions(1, steps, 1, ClippingSpec.NONE, false);
    }

    @Test
    void oneReplicaThroughTheServerMatchesPlainDl4jFit() throws Exception {
        assertMatchesPlainFit(mlp("adam", 0.01));
    }

    @Test
    void batchNormRunningStatisticsAreNotDividedByTheBatch() throws Exception {
        // BatchNorm's mean/variance "gradients" are updates DL4J never divides by the batch size
        String json = new NeuralNetConfiguration.Builder()
            .seed(3).updater(Models.optimizer("adam", 0.01)).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.RELU).build())
            .layer(new BatchNormalization.Builder().nOut(32).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(32).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build().toJson();
        assertMatchesPlainFit(json);
    }

    /** One replica through the parameter server must take exactly the steps DL4J's own fit takes. */
    static void assertMatchesPlainFit(String json) throws Exception {
        float[] init = initialParams(json);
        float[] ours = train(json, init, digits, 1, 32, steps(30)).get(0).params();

        MultiLayerNetwork plain = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        plain.init(Nd4j.create(init, new long[]{1, init.length}, 'c'), true);
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), 32, 30, 0, false, 0)) {
            for (int s = 0; s < 30; s++) {
                Batch b = batches.next();
                plain.fit(new DataSet(b.features(), b.labels()));
            }
        }
        assertMaxDiff(plain.params().toFloatVector(), ours, 1e-5);
    }

    @Test
    void aTrainerOnTheSingleWorkerExchangeTakesDl4jsOwnSteps() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        Network net = Network.fromJson(json, init);
        Trainer trainer = new Trainer(net, new io.lockstep.worker.exchange.SingleWorkerExchange(), steps(25), new TrainState(5));
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), 32, 25, 0, false, 0)) {
            TrainingLoop.run(trainer, batches);
        }
        MultiLayerNetwork plain = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        plain.init(Nd4j.create(init, new long[]{1, init.length}, 'c'), true);
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), 32, 25, 0, false, 0)) {
            for (int s = 0; s < 25; s++) {
                Batch b = batches.next();
                plain.fit(new DataSet(b.features(), b.labels()));
            }
        }
        assertMaxDiff(plain.params().toFloatVector(), net.params().toFloatVector(), 1e-5);
        assertEquals(25, trainer.state().step());
        assertEquals(1, trainer.state().epoch());
    }

    /** Adam(0.01) as the shards run it; the MLP has no penalties, so weights and biases are alike. */
    /** Plain SGD at {@code lr} on the server (a rate of 1e6 diverges within a few steps). */
    static ServerOptimizer serverSgd(double lr, int params) {
        return new ServerOptimizer(new UpdateRule(UpdateRule.Kind.SGD, step -> lr, 0, false, 0, 0, 0, 0, 0, 0, 0,
            UpdateRule.Clip.NONE, 0), ParamRoles.allWeights(params));
    }

    static ServerOptimizer serverAdam(int params) {
        return new ServerOptimizer(new UpdateRule(UpdateRule.Kind.ADAM, step -> 0.01, 0, false, 0.9, 0.999, 1e-8, 0,
            0, 0, 0, UpdateRule.Clip.NONE, 0), ParamRoles.allWeights(params));
    }

    @Test
    void theOptimizerOnTheServerTakesTheReplicasStepsFor100Steps() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        TrainerOptions hundred = new TrainerOptions(4, 25, 1, ClippingSpec.NONE, false);
        List<Run> server = train(json, init, digits, 2, 16, hundred, serverAdam(init.length));
        List<Run> replica = train(json, init, digits, 2, 16, hundred);
        assertArrayEquals(server.get(0).params(), server.get(1).params(), "replicas diverged");
        assertEquals(100, server.get(0).trainer().state().step());
        assertMaxDiff(replica.get(0).params(), server.get(0).params(), 1e-5);
        assertTrue(maxDiff(init, server.get(0).params()) > 1e-2, "training must have moved the parameters");
        // the state a checkpoint takes is the server's, and it is DL4J's (one Adam block: m then v)
        float[] serverState = server.get(0).optimizerState();
        float[] replicaState = replica.get(0).optimizerState();
        assertEquals(replicaState.length, serverState.length);
        assertMaxDiff(replicaState, serverState, 1e-5);
    }

    @Test
    void oneWorkerWithTheOptimizerOnTheServerPaysNoExchangeAndTakesDl4jsSteps() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        Network net = Network.fromJson(json, init);
        Trainer trainer = new Trainer(net, new io.lockstep.worker.exchange.SingleWorkerExchange(serverAdam(init.length), null),
            new TrainerOptions(4, 25, 1, ClippingSpec.NONE, false), new TrainState(5));
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), 32, 25, 0, false, 0)) {
            TrainingLoop.run(trainer, batches);
        }
        MultiLayerNetwork plain = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        plain.init(Nd4j.create(init, new long[]{1, init.length}, 'c'), true);
        try (BatchSource batches = new BatchSource(Digits.stride(digits, 0, 1), 32, 25, 0, false, 0)) {
            for (int s = 0; s < 100; s++) {
                Batch b = batches.next();
                plain.fit(new DataSet(b.features(), b.labels()));
            }
        }
        assertMaxDiff(plain.params().toFloatVector(), net.params().toFloatVector(), 1e-5);
        assertMaxDiff(plain.getUpdater().getStateViewArray().toFloatVector(), trainer.optimizerState(), 1e-5);
    }

    @Test
    void workersOfOneJvmReducingLocallyFirstTakeTheSameSteps() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        // uneven shards (1000 rows over 3): the group's sample count, not its size, weighs its mean
        List<Sample> rows = Digits.load().subList(0, 1000);
        TrainerOptions options = new TrainerOptions(2, 21, 1, ClippingSpec.NONE, false);
        for (ServerOptimizer placement : java.util.Arrays.asList(null, serverAdam(init.length))) {
            List<Run> grouped = train(json, init, rows, 3, 16, options, placement, true);
            List<Run> alone = train(json, init, rows, 3, 16, options, placement, false);
            assertArrayEquals(grouped.get(0).params(), grouped.get(1).params(), "replicas diverged");
            assertArrayEquals(grouped.get(0).params(), grouped.get(2).params(), "replicas diverged");
            assertMaxDiff(alone.get(0).params(), grouped.get(0).params(), 1e-5);
            assertEquals(alone.get(0).trainer().state().step(), grouped.get(0).trainer().state().step());
        }
    }

    @Test
    void twoReplicasWithBatchBEqualOneWithBatch2B() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        List<Run> pair = train(json, init, digits, 2, 16, steps(30));
        assertArrayEquals(pair.get(0).params(), pair.get(1).params(), "replicas diverged");
        float[] single = train(json, init, digits, 1, 32, steps(30)).get(0).params();
        assertMaxDiff(single, pair.get(0).params(), 1e-5);
        assertTrue(maxDiff(init, single) > 1e-3, "training must have moved the parameters");
    }

    @Test
    void accumulatingTwoMicroBatchesOfBEqualsOneBatchOf2B() throws Exception {
        String json = mlp("adam", 0.01);
        float[] init = initialParams(json);
        // per worker: 2 micro-batches of 8 per step, against one batch of 16; 2 workers each
        List<Run> accumulated = train(json, init, digits, 2, 8, new TrainerOptions(1, 20, 2, ClippingSpec.NONE, false));
        List<Run> whole = train(json, init, digits, 2, 16, steps(20));
        assertEquals(20, accumulated.get(0).trainer().state().step());
        assertEquals(16L * 2 * 20, accumulated.get(0).trainer().samples() * 2);
        assertMaxDiff(whole.get(0).params(), accumulated.get(0).params(), 1e-5);
        assertArrayEquals(accumulated.get(0).params(), accumulated.get(1).params());
    }

    @Test
    void clippingActsOnTheAveragedGradientExactlyAsOneProcessClippingItself() throws Exception {
        String json = Models.mlp(64, List.of(32, 16), "relu", 10, "cross_entropy", new Sgd(0.5), 42).toJson();
        float[] init = initialParams(json);
        double threshold = 0.05; // well below the real norm: every step is clipped
        List<Run> pair = train(json, init, digits, 2, 16, new TrainerOptions(1, 1, 1, ClippingSpec.norm(threshold), false));
        assertArrayEquals(pair.get(0).params(), pair.get(1).params(), "replicas diverged");

        // the same step by hand: mean gradient of the 32 rows both workers saw, clipped in double, SGD applied
        MultiLayerNetwork plain = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(json));
        plain.init(Nd4j.create(init, new long[]{1, init.length}, 'c'), true);
        DataPartition all = Digits.stride(digits, 0, 1);
        try (BatchSource batches = new BatchSource(all, 32, 1, 0, false, 0)) {
            Batch b = batches.next();
            plain.setInput(b.features());
            plain.setLabels(b.labels());
            plain.computeGradientAndScore();
        }
        float[] g = plain.getGradientsViewArray().toFloatVector();
        double norm = 0;
        for (float v : g) {
            norm += (double) (v / 32f) * (v / 32f);
        }
        norm = Math.sqrt(norm);
        assertTrue(norm > threshold * 5, "the test needs a gradient that clipping changes, norm " + norm);
        float[] expected = new float[init.length];
        for (int i = 0; i < g.length; i++) {
            expected[i] = init[i] - (float) (0.5 * (g[i] / 32f) * threshold / (norm + 1e-6));
        }
        assertMaxDiff(expected, pair.get(0).params(), 1e-6);
        double moved = 0;
        for (int i = 0; i < init.length; i++) {
            moved += Math.pow(pair.get(0).params()[i] - init[i], 2);
        }
        assertEquals(0.5 * threshold, Math.sqrt(moved), 1e-5, "the step has the clipped norm times the rate");
    }

    @Test
    void aNonFiniteGradientStopsEveryReplicaNamingStepAndRankOrIsSkipped() throws Exception {
        String json = Models.mlp(64, List.of(32, 16), "relu", 10, "cross_entropy", new Sgd(1e6), 42).toJson();
        float[] init = initialParams(json);
        Exception e = assertThrows(Exception.class, () -> train(json, init, digits, 2, 16, steps(30)));
        Throwable cause = e;
        while (!(cause instanceof NonFiniteException) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        assertInstanceOf(NonFiniteException.class, cause, e.toString());
        assertTrue(cause.getMessage().matches(".*at step \\d+ \\(epoch 1\\): non-finite local loss or gradient on ranks? [01].*"),
            cause.getMessage());

        // with the optimizer in the exchange (over the wire, grouped, in memory) the rank is named as well: there
        // the local check runs only once a step is non-finite
        ServerOptimizer sgd = serverSgd(1e6, init.length);
        List<java.util.concurrent.Callable<List<Run>>> placements = List.of(
            () -> train(json, init, digits, 2, 16, steps(30), sgd, false),
            () -> train(json, init, digits, 2, 16, steps(30), sgd, true),
            () -> trainInMemory(json, init, digits, 2, 16, steps(30), sgd, new java.util.concurrent.CopyOnWriteArrayList<>()));
        for (java.util.concurrent.Callable<List<Run>> placement : placements) {
            Exception failed = assertThrows(Exception.class, placement::call);
            Throwable why = failed;
            while (!(why instanceof NonFiniteException) && why.getCause() != null) {
                why = why.getCause();
            }
            assertInstanceOf(NonFiniteException.class, why, failed.toString());
            assertTrue(why.getMessage().matches(".*at step \\d+ \\(epoch 1\\): non-finite local loss or gradient on ranks? [01].*"),
                why.getMessage());
        }

        List<Run> skipping = train(json, init, digits, 2, 16, new TrainerOptions(1, 30, 1, ClippingSpec.NONE, true));
        TrainState s = skipping.get(0).trainer().state();
        assertEquals(30, s.step());
        assertTrue(s.skippedSteps() > 0, "steps must have been skipped");
        assertArrayEquals(skipping.get(0).params(), skipping.get(1).params());
    }

    @Test
    void unevenPartitionsFinishWithIdenticalReplicas() throws Exception {
        List<Sample> odd = digits.subList(0, 101); // 34/34/33 rows, batch 8: 5 steps, the last short or empty
        String json = mlp("sgd", 0.01);
        List<Run> results = train(json, initialParams(json), odd, 3, 8,
            new TrainerOptions(2, TrainerOptions.stepsPerEpoch(34, 8, 1), 1, ClippingSpec.NONE, false));
        for (Run r : results) {
            assertEquals(10, r.trainer().state().step());
            assertEquals(2, r.trainer().state().epoch());
            assertArrayEquals(results.get(0).params(), r.params());
        }
        assertEquals(202, results.stream().mapToLong(r -> r.trainer().samples()).sum());
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
