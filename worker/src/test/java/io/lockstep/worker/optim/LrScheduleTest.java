package io.lockstep.worker.optim;

import io.lockstep.worker.optim.OptimizerSpec.LrScaling;
import io.lockstep.worker.optim.ScheduleSpec.Kind;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import static org.junit.jupiter.api.Assertions.*;

class LrScheduleTest {
    static final int WORKERS = 2;
    static final long TOTAL = 12;
    static final double LR = 0.05;

    static ScheduleSpec shape(Kind kind) {
        return switch (kind) {
            case CONSTANT -> ScheduleSpec.constant(3);
            case STEP -> ScheduleSpec.step(3, 0.5, 2);
            case EXPONENTIAL -> ScheduleSpec.exponential(3, 0.5, 2);
            case COSINE -> ScheduleSpec.cosine(3, 0.001);
        };
    }

    static OptimizerSpec sgd(Kind kind) {
        return OptimizerSpec.builder(OptimizerSpec.Type.SGD, LR).lrScaling(LrScaling.LINEAR).schedule(shape(kind)).build();
    }

    /** The formulas written out independently, base = 0.05 * 2 = 0.1, warmup 3. */
    static double expected(Kind kind, long t) {
        double base = 0.1;
        if (t < 3) {
            return base * (t + 1) / 3.0;
        }
        long s = t - 3;
        return switch (kind) {
            case CONSTANT -> base;
            case STEP -> base * Math.pow(0.5, Math.floor(s / 2.0));
            case EXPONENTIAL -> base * Math.pow(0.5, s / 2.0);
            case COSINE -> 0.001 + (base - 0.001) * (1 + Math.cos(Math.PI * Math.min(1.0, s / 9.0))) / 2;
        };
    }

    @Test
    void formulasByKind() {
        LrSchedule step = LrSchedule.of(sgd(Kind.STEP), WORKERS, TOTAL);
        assertEquals(0.1, step.base(), 1e-15);
        // warmup: base/W at 0, base at W-1
        assertEquals(0.1 / 3, step.rate(0), 1e-15);
        assertEquals(0.2 / 3, step.rate(1), 1e-15);
        assertEquals(0.1, step.rate(2), 1e-15);
        // step: 0.1 for s = 0,1; 0.05 for s = 2,3; 0.025 for s = 4,5
        assertEquals(0.1, step.rate(3), 1e-15);
        assertEquals(0.1, step.rate(4), 1e-15);
        assertEquals(0.05, step.rate(5), 1e-15);
        assertEquals(0.025, step.rate(8), 1e-15);
        LrSchedule exp = LrSchedule.of(sgd(Kind.EXPONENTIAL), WORKERS, TOTAL);
        assertEquals(0.1 * Math.sqrt(0.5), exp.rate(4), 1e-15);
        assertEquals(0.05, exp.rate(5), 1e-15);
        LrSchedule cos = LrSchedule.of(sgd(Kind.COSINE), WORKERS, TOTAL);
        assertEquals(0.1, cos.rate(3), 1e-15);
        assertEquals(0.001 + 0.099 * (1 + Math.cos(Math.PI * 8 / 9)) / 2, cos.rate(11), 1e-15);
        assertEquals(0.001, cos.rate(12), 1e-15);
        assertEquals(0.001, cos.rate(100), 1e-15); // stays at min past the horizon
        for (Kind kind : Kind.values()) {
            LrSchedule s = LrSchedule.of(sgd(kind), WORKERS, TOTAL);
            for (int t = 0; t < 20; t++) {
                assertEquals(expected(kind, t), s.rate(t), 1e-15, kind + " t=" + t);
                assertEquals(s.rate(t), s.valueAt(t, 99), 0.0, "epoch must not matter");
            }
        }
    }

    @Test
    void noScalingAndNoWarmup() {
        OptimizerSpec spec = OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.2).schedule(ScheduleSpec.constant(0)).build();
        LrSchedule s = LrSchedule.of(spec, 8, 10);
        assertEquals(0.2, s.rate(0), 0.0);
        assertEquals(0.2, s.rate(9), 0.0);
        OptimizerSpec linear = OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.2).lrScaling(LrScaling.LINEAR).build();
        assertEquals(1.6, LrSchedule.of(linear, 8, 10).rate(0), 1e-15);
    }

    /**
     * The rate DL4J actually applies: plain SGD with the schedule, manual steps as the replica does them;
     * at every step the update must be rate(t) × gradient, so the observed ratio is the formula.
     */
    @ParameterizedTest
    @EnumSource(Kind.class)
    void dl4jAppliesTheScheduledRateAtTheGlobalStep(Kind kind) {
        OptimizerSpec spec = sgd(kind);
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder();
        LrSchedule schedule = Optimizers.configure(b, spec, WORKERS, TOTAL);
        MultiLayerNetwork net = TinyNet.init(TinyNet.mlp(b));
        assertTrue(((BaseLayer) net.getLayer(0).conf().getLayer()).getIUpdater() instanceof Sgd);
        INDArray grad = net.getGradientsViewArray();
        for (int t = 0; t < TOTAL; t++) {
            TinyNet.meanGradient(net, TinyNet.batch(t, DataType.FLOAT));
            double[] g = grad.toDoubleVector();
            double[] before = net.params().toDoubleVector();
            TinyNet.apply(net, t);
            double[] update = grad.toDoubleVector();
            double[] after = net.params().toDoubleVector();
            double gu = 0, gg = 0;
            for (int i = 0; i < g.length; i++) {
                gu += g[i] * update[i];
                gg += g[i] * g[i];
                assertEquals(schedule.rate(t) * g[i], update[i], 1e-6 * Math.abs(g[i]) * schedule.rate(t) + 1e-12,
                    kind + " t=" + t + " i=" + i);
                assertEquals(before[i] - update[i], after[i], 1e-7);
            }
            double observed = gu / gg;
            assertEquals(expected(kind, t), observed, 1e-6 * expected(kind, t), kind + " applied rate at t=" + t);
        }
    }

    @Test
    void roundTripsThroughMultiLayerJson() {
        for (Kind kind : Kind.values()) {
            NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder();
            LrSchedule schedule = Optimizers.configure(b, sgd(kind), WORKERS, TOTAL);
            MultiLayerConfiguration conf = TinyNet.mlp(b);
            String json = conf.toJson();
            assertTrue(json.contains(LrSchedule.class.getName()), json);
            MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(json);
            assertEquals(conf, back);
            assertEquals(json, back.toJson());
            for (int i = 0; i < 2; i++) {
                IUpdater u = ((BaseLayer) back.getConf(i).getLayer()).getIUpdater();
                assertEquals(schedule, ((Sgd) u).getLearningRateSchedule());
                for (int t = 0; t < 20; t++) {
                    assertEquals(schedule.rate(t), u.getLearningRate(t, 0), 0.0);
                }
            }
        }
    }

    @Test
    void roundTripsThroughComputationGraphJson() {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder().seed(3);
        LrSchedule schedule = Optimizers.configure(b, sgd(Kind.COSINE), WORKERS, TOTAL);
        ComputationGraphConfiguration conf = b.graphBuilder()
            .addInputs("in")
            .addLayer("h", new DenseLayer.Builder().nIn(3).nOut(4).activation(Activation.RELU).build(), "in")
            .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(2)
                .activation(Activation.IDENTITY).build(), "h")
            .setOutputs("out")
            .build();
        String json = conf.toJson();
        ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
        assertEquals(conf, back);
        assertEquals(json, back.toJson());
        for (String name : new String[]{"h", "out"}) {
            LayerVertex v = (LayerVertex) back.getVertices().get(name);
            IUpdater u = ((BaseLayer) v.getLayerConf().getLayer()).getIUpdater();
            assertEquals(schedule, ((Sgd) u).getLearningRateSchedule());
            assertEquals(schedule.rate(7), u.getLearningRate(7, 0), 0.0);
        }
    }

    @Test
    void validationNamesTheKey() {
        assertMessage("optimizer.schedule.decay_steps must be >= 1, got 0", () -> ScheduleSpec.step(0, 0.5, 0));
        assertMessage("optimizer.schedule.decay_rate must be in (0, 1], got 1.5", () -> ScheduleSpec.exponential(0, 1.5, 10));
        assertMessage("optimizer.schedule.decay_rate must be in (0, 1], got 0", () -> ScheduleSpec.step(0, 0, 10));
        assertMessage("optimizer.schedule.warmup_steps must be >= 0, got -1", () -> ScheduleSpec.constant(-1));
        assertMessage("optimizer.schedule.min_lr must be >= 0, got -0.1", () -> ScheduleSpec.cosine(0, -0.1));
        assertMessage("optimizer.schedule.kind is required", () -> new ScheduleSpec(null, 0, 1, 1, 0));
        assertMessage("optimizer.schedule.kind: unknown 'linear'", () -> Kind.parse("linear"));
        assertEquals(Kind.COSINE, Kind.parse(" Cosine "));
        assertMessage("optimizer.lr_scaling: unknown 'sqrt'", () -> LrScaling.parse("sqrt"));
        assertEquals(LrScaling.LINEAR, LrScaling.parse("linear"));
        assertMessage("optimizer.schedule.min_lr (0.5) must be <= optimizer.lr (0.1)",
            () -> OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.1).schedule(ScheduleSpec.cosine(0, 0.5)).build());
        assertMessage("optimizer.schedule.warmup_steps (10) must be < the total steps of the run (10) for optimizer.schedule.kind cosine",
            () -> LrSchedule.of(OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.1).schedule(ScheduleSpec.cosine(10, 0)).build(), 1, 10));
        assertMessage("optimizer.schedule.warmup_steps (11) must be <= the total steps of the run (10)",
            () -> LrSchedule.of(OptimizerSpec.builder(OptimizerSpec.Type.SGD, 0.1).schedule(ScheduleSpec.constant(11)).build(), 1, 10));
        assertMessage("workers must be >= 1, got 0", () -> LrSchedule.of(sgd(Kind.CONSTANT), 0, 10));
        assertMessage("total steps must be >= 1, got 0", () -> LrSchedule.of(sgd(Kind.CONSTANT), 1, 0));
        assertMessage("step must be >= 0, got -1", () -> LrSchedule.of(sgd(Kind.CONSTANT), 1, 10).rate(-1));
    }

    static void assertMessage(String prefix, org.junit.jupiter.api.function.Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(prefix), "message: " + e.getMessage());
    }
}
