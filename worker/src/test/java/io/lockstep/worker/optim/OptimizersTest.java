package io.lockstep.worker.optim;

import io.lockstep.worker.optim.OptimizerSpec.LrScaling;
import io.lockstep.worker.optim.OptimizerSpec.Type;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L1Regularization;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.lockstep.worker.optim.TinyNet.*;
import static org.junit.jupiter.api.Assertions.*;

class OptimizersTest {
    static final long TOTAL = 20;

    static MultiLayerNetwork net(OptimizerSpec spec) {
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder();
        Optimizers.configure(b, spec, 2, TOTAL);
        return init(Optimizers.removeDuplicateRegularization(mlp(b)));
    }

    static IUpdater updaterOf(MultiLayerConfiguration conf, int layer) {
        return ((BaseLayer) conf.getConf(layer).getLayer()).getIUpdater();
    }

    static BaseLayer layer(MultiLayerNetwork net, int i) {
        return (BaseLayer) net.getLayerWiseConfigurations().getConf(i).getLayer();
    }

    /** {@code b} := {@code a}'s parameters and updater state, so one step of each can be compared. */
    static void copyState(MultiLayerNetwork a, MultiLayerNetwork b) {
        b.setParams(a.params().dup());
        INDArray state = a.getUpdater().getStateViewArray();
        if (state != null) {
            b.getUpdater().setStateViewArray(b, state.dup(), false);
        }
    }

    static Map<String, double[]> snapshot(Map<String, INDArray> table) {
        Map<String, double[]> out = new LinkedHashMap<>();
        table.forEach((k, v) -> out.put(k, v.dup('c').reshape(v.length()).toDoubleVector()));
        return out;
    }

    /** One replica step; returns the update DL4J produced, per parameter. */
    static Map<String, double[]> stepUpdates(MultiLayerNetwork net, int t) {
        step(net, t);
        return snapshot(net.gradient().gradientForVariable());
    }

    @Test
    void defaultsAreDl4js() {
        OptimizerSpec adam = OptimizerSpec.adam(1e-3);
        assertEquals(0.9, adam.beta1());
        assertEquals(0.999, adam.beta2());
        assertEquals(1e-8, adam.epsilon());
        assertEquals(0, adam.weightDecay());
        assertEquals(LrScaling.NONE, adam.lrScaling());
        assertEquals(ScheduleSpec.CONSTANT, adam.schedule());
        OptimizerSpec rms = OptimizerSpec.builder(Type.RMSPROP, 0.01).build();
        assertEquals(0.95, rms.rmsDecay());
        assertEquals(1e-8, rms.epsilon());
        assertEquals(0.01, OptimizerSpec.builder(Type.ADAMW, 1e-3).build().weightDecay());
        OptimizerSpec sgd = OptimizerSpec.sgd(0.1);
        assertEquals(0, sgd.momentum());
        assertFalse(sgd.nesterov());
    }

    @Test
    void stateSlotsAreTheUpdatersStatePerParameter() {
        assertEquals(0, Optimizers.stateSlots(OptimizerSpec.sgd(0.1)));
        assertEquals(1, Optimizers.stateSlots(OptimizerSpec.builder(Type.SGD, 0.1).momentum(0.9).build()));
        assertEquals(1, Optimizers.stateSlots(OptimizerSpec.builder(Type.RMSPROP, 0.1).build()));
        assertEquals(2, Optimizers.stateSlots(OptimizerSpec.adam(1e-3)));
        assertEquals(2, Optimizers.stateSlots(OptimizerSpec.builder(Type.ADAMW, 1e-3).build()));
    }

    @Test
    void updaterByType() {
        LrSchedule s = LrSchedule.of(OptimizerSpec.sgd(0.1), 1, 10);
        assertEquals(s, ((Sgd) Optimizers.updater(OptimizerSpec.sgd(0.1), s)).getLearningRateSchedule());

        Momentum m = (Momentum) Optimizers.updater(
            OptimizerSpec.builder(Type.SGD, 0.1).momentum(0.8).nesterov(true).build(), s);
        assertEquals(0.8, m.momentum());
        assertTrue(m.nesterov());
        assertEquals(s, m.learningRateSchedule());

        for (Type type : new Type[]{Type.ADAM, Type.ADAMW}) {
            Adam a = (Adam) Optimizers.updater(OptimizerSpec.builder(type, 0.1).beta1(0.8).beta2(0.99).epsilon(1e-7).build(), s);
            assertEquals(0.8, a.getBeta1());
            assertEquals(0.99, a.getBeta2());
            assertEquals(1e-7, a.getEpsilon());
            assertEquals(s, a.getLearningRateSchedule());
            assertEquals(s.rate(3), a.getLearningRate(3, 0));
        }
        RmsProp r = (RmsProp) Optimizers.updater(OptimizerSpec.builder(Type.RMSPROP, 0.1).rmsDecay(0.9).epsilon(1e-6).build(), s);
        assertEquals(0.9, r.getRmsDecay());
        assertEquals(1e-6, r.getEpsilon());
        assertEquals(s, r.getLearningRateSchedule());
    }

    @Test
    void configureSetsRegularizationOnWeightsOnly() {
        MultiLayerNetwork adamw = net(OptimizerSpec.builder(Type.ADAMW, 1e-3).weightDecay(0.05).l1(0.001).build());
        for (int i = 0; i < 2; i++) {
            List<Regularization> w = layer(adamw, i).getRegularization();
            assertEquals(2, w.size(), w.toString());
            assertInstanceOf(L1Regularization.class, w.get(0));
            WeightDecay wd = assertInstanceOf(WeightDecay.class, w.get(1));
            assertTrue(wd.isApplyLR(), "decoupled: multiplied by the current rate");
            assertEquals(0.05, wd.getCoeff().valueAt(0, 0));
            assertTrue(layer(adamw, i).getRegularizationBias().isEmpty());
            assertEquals(Regularization.ApplyStep.POST_UPDATER, wd.applyStep());
            assertEquals(Regularization.ApplyStep.BEFORE_UPDATER, w.get(0).applyStep());
        }
        MultiLayerNetwork l2 = net(OptimizerSpec.builder(Type.ADAM, 1e-3).l2(0.01).build());
        List<Regularization> r = layer(l2, 1).getRegularization();
        assertEquals(1, r.size());
        assertEquals(Regularization.ApplyStep.BEFORE_UPDATER, assertInstanceOf(L2Regularization.class, r.get(0)).applyStep());
        assertTrue(layer(net(OptimizerSpec.adam(1e-3)), 0).getRegularization().isEmpty());
    }

    /**
     * DL4J M2.1 puts builder-level weight decay into each layer twice (copyConfigToLayer, then
     * LayerValidation.configureBaseLayer merges the list again, deduplicating only L1/L2), so the decay
     * applied is doubled; removeDuplicateRegularization leaves one, for layer lists and graphs alike.
     */
    @Test
    void dl4jDoublesBuilderWeightDecayAndTheFixLeavesOne() {
        OptimizerSpec spec = OptimizerSpec.builder(Type.ADAMW, 0.01).weightDecay(0.1).l1(0.001).build();
        NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder();
        Optimizers.configure(b, spec, 1, TOTAL);
        MultiLayerConfiguration raw = mlp(b);
        List<Regularization> doubled = ((BaseLayer) raw.getConf(0).getLayer()).getRegularization();
        assertEquals(2, doubled.stream().filter(r -> r instanceof WeightDecay).count(), "DL4J bug fixed? " + doubled);
        assertEquals(1, doubled.stream().filter(r -> r instanceof L1Regularization).count());

        // the doubled decay is real: one step of the raw configuration decays twice as much
        MultiLayerNetwork twice = init(MultiLayerConfiguration.fromJson(raw.toJson()));
        MultiLayerNetwork once = init(Optimizers.removeDuplicateRegularization(MultiLayerConfiguration.fromJson(raw.toJson())));
        MultiLayerNetwork none = net(OptimizerSpec.builder(Type.ADAMW, 0.01).weightDecay(0).l1(0.001).build());
        copyState(once, twice);
        copyState(once, none);
        double w = once.getParam("0_W").getDouble(0, 0);
        double u2 = stepUpdates(twice, 0).get("0_W")[0];
        double u1 = stepUpdates(once, 0).get("0_W")[0];
        double u0 = stepUpdates(none, 0).get("0_W")[0];
        assertEquals(0.01 * 0.1 * w, u1 - u0, 1e-8);
        assertEquals(2 * 0.01 * 0.1 * w, u2 - u0, 1e-8);

        Optimizers.removeDuplicateRegularization(raw);
        for (int i = 0; i < 2; i++) {
            assertEquals(2, ((BaseLayer) raw.getConf(i).getLayer()).getRegularization().size());
        }
        Optimizers.removeDuplicateRegularization(raw); // idempotent
        assertEquals(2, ((BaseLayer) raw.getConf(1).getLayer()).getRegularization().size());

        NeuralNetConfiguration.Builder gb = new NeuralNetConfiguration.Builder();
        Optimizers.configure(gb, spec, 1, TOTAL);
        ComputationGraphConfiguration graph = gb.graphBuilder().addInputs("in")
            .addLayer("h", new DenseLayer.Builder().nIn(3).nOut(4).build(), "in")
            .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(4).nOut(2)
                .activation(Activation.IDENTITY).build(), "h")
            .setOutputs("out").build();
        BaseLayer h = (BaseLayer) ((LayerVertex) graph.getVertices().get("h")).getLayerConf().getLayer();
        assertEquals(2, h.getRegularization().stream().filter(r -> r instanceof WeightDecay).count());
        Optimizers.removeDuplicateRegularization(graph);
        assertEquals(1, h.getRegularization().stream().filter(r -> r instanceof WeightDecay).count());
        assertEquals(graph, ComputationGraphConfiguration.fromJson(graph.toJson()));
    }

    /**
     * AdamW as DL4J runs it: the same step as Adam plus lr(t) * wd * w on the weights, after the updater,
     * with lr(t) the scheduled rate of that global step (warmup here) and nothing on the biases.
     */
    @Test
    void weightDecayIsDecoupledAndScaledByTheScheduledRate() {
        ScheduleSpec warmup = ScheduleSpec.cosine(4, 0);
        OptimizerSpec adamwSpec = OptimizerSpec.builder(Type.ADAMW, 0.01).weightDecay(0.1).schedule(warmup).build();
        OptimizerSpec adamSpec = OptimizerSpec.builder(Type.ADAM, 0.01).schedule(warmup).build();
        LrSchedule rate = LrSchedule.of(adamwSpec, 2, TOTAL);
        MultiLayerNetwork adamw = net(adamwSpec);
        MultiLayerNetwork adam = net(adamSpec);
        for (int t = 0; t < 8; t++) {
            copyState(adamw, adam);
            Map<String, double[]> w = snapshot(adamw.paramTable());
            Map<String, double[]> withDecay = stepUpdates(adamw, t);
            Map<String, double[]> without = stepUpdates(adam, t);
            for (String key : w.keySet()) {
                boolean weight = key.endsWith("_W");
                for (int i = 0; i < w.get(key).length; i++) {
                    double decay = weight ? rate.rate(t) * 0.1 * w.get(key)[i] : 0;
                    assertEquals(decay, withDecay.get(key)[i] - without.get(key)[i], 1e-7, key + " t=" + t);
                }
            }
        }
    }

    /** L2 and L1 are added to the gradient before the updater: with SGD, step = lr (g + l2 w + l1 sign(w)). */
    @Test
    void l1AndL2GoThroughTheGradient() {
        OptimizerSpec plain = OptimizerSpec.sgd(0.1);
        for (OptimizerSpec reg : new OptimizerSpec[]{
            OptimizerSpec.builder(Type.SGD, 0.1).l2(0.3).build(), OptimizerSpec.builder(Type.SGD, 0.1).l1(0.3).build()}) {
            MultiLayerNetwork a = net(reg);
            MultiLayerNetwork b = net(plain);
            copyState(a, b);
            Map<String, double[]> w = snapshot(a.paramTable());
            Map<String, double[]> ua = stepUpdates(a, 0);
            Map<String, double[]> ub = stepUpdates(b, 0);
            for (String key : w.keySet()) {
                for (int i = 0; i < w.get(key).length; i++) {
                    double wi = w.get(key)[i];
                    double penalty = !key.endsWith("_W") ? 0 : reg.l2() > 0 ? reg.l2() * wi : reg.l1() * Math.signum(wi);
                    assertEquals(0.1 * penalty, ua.get(key)[i] - ub.get(key)[i], 1e-7, key);
                }
            }
        }
    }

    /**
     * DL4J divides the gradient by the batch size before it adds any regularization, so the replica's call
     * (gradient already a mean, batch size 1) gives the same step as DL4J's own (batch sum, batch size B),
     * regularization included: neither L2 nor weight decay is divided by the batch size.
     */
    @Test
    void batchSizeOneOnAMeanGradientEqualsDl4jsOwnDivision() {
        for (OptimizerSpec spec : new OptimizerSpec[]{
            OptimizerSpec.builder(Type.SGD, 0.1).momentum(0.9).l2(0.05).l1(0.01).build(),
            OptimizerSpec.builder(Type.ADAMW, 0.01).weightDecay(0.2).build()}) {
            MultiLayerNetwork replica = net(spec);
            MultiLayerNetwork dl4j = net(spec);
            for (int t = 0; t < 5; t++) {
                copyState(replica, dl4j);
                INDArray[] xy = batch(t, DataType.FLOAT);
                meanGradient(replica, xy);
                apply(replica, t);
                dl4j.setInput(xy[0]);
                dl4j.setLabels(xy[1]);
                dl4j.computeGradientAndScore(); // the batch SUM
                dl4j.getUpdater().update(dl4j, dl4j.gradient(), t, 0, BATCH, LayerWorkspaceMgr.noWorkspaces());
                assertArrayEquals(dl4j.getGradientsViewArray().toDoubleVector(),
                    replica.getGradientsViewArray().toDoubleVector(), 1e-7, spec.type() + " t=" + t);
            }
        }
    }

    @Test
    void everyTypeRoundTripsThroughJson() {
        OptimizerSpec[] specs = {
            OptimizerSpec.sgd(0.1),
            OptimizerSpec.builder(Type.SGD, 0.1).momentum(0.9).nesterov(true).l2(1e-4).build(),
            OptimizerSpec.builder(Type.ADAMW, 1e-3).lrScaling(LrScaling.LINEAR).schedule(ScheduleSpec.cosine(5, 1e-5)).build(),
            OptimizerSpec.builder(Type.RMSPROP, 1e-3).l1(1e-5).schedule(ScheduleSpec.step(2, 0.5, 3)).build()};
        for (OptimizerSpec spec : specs) {
            NeuralNetConfiguration.Builder b = new NeuralNetConfiguration.Builder();
            LrSchedule s = Optimizers.configure(b, spec, 4, TOTAL);
            MultiLayerConfiguration conf = Optimizers.removeDuplicateRegularization(mlp(b));
            MultiLayerConfiguration back = MultiLayerConfiguration.fromJson(conf.toJson());
            assertEquals(conf, back, spec.toString());
            assertEquals(updaterOf(conf, 0), updaterOf(back, 1));
            assertEquals(s.rate(6), updaterOf(back, 0).getLearningRate(6, 0));
        }
    }

    @Test
    void validationNamesTheKey() {
        assertMessage("optimizer.lr must be > 0, got -1", () -> OptimizerSpec.sgd(-1));
        assertMessage("optimizer.lr must be > 0, got NaN", () -> OptimizerSpec.sgd(Double.NaN));
        assertMessage("optimizer.momentum must be in [0, 1), got 1", () -> OptimizerSpec.builder(Type.SGD, 0.1).momentum(1).build());
        assertMessage("optimizer.momentum must be in [0, 1), got -0.5", () -> OptimizerSpec.builder(Type.SGD, 0.1).momentum(-0.5).build());
        assertMessage("optimizer.nesterov needs optimizer.momentum > 0", () -> OptimizerSpec.builder(Type.SGD, 0.1).nesterov(true).build());
        assertMessage("optimizer.momentum applies to optimizer.type sgd only, got type adam (its momentum is optimizer.beta1)",
            () -> OptimizerSpec.builder(Type.ADAM, 0.1).momentum(0.9).build());
        assertMessage("optimizer.nesterov applies to optimizer.type sgd only, got type rmsprop",
            () -> OptimizerSpec.builder(Type.RMSPROP, 0.1).nesterov(true).build());
        assertMessage("optimizer.beta1 must be in [0, 1), got 1", () -> OptimizerSpec.builder(Type.ADAM, 0.1).beta1(1).build());
        assertMessage("optimizer.beta2 must be in [0, 1), got 2", () -> OptimizerSpec.builder(Type.ADAM, 0.1).beta2(2).build());
        assertMessage("optimizer.epsilon must be > 0, got 0", () -> OptimizerSpec.builder(Type.ADAM, 0.1).epsilon(0).build());
        assertMessage("optimizer.rms_decay must be in [0, 1), got 1", () -> OptimizerSpec.builder(Type.RMSPROP, 0.1).rmsDecay(1).build());
        assertMessage("optimizer.weight_decay must be >= 0, got -0.01", () -> OptimizerSpec.builder(Type.ADAMW, 0.1).weightDecay(-0.01).build());
        assertMessage("optimizer.l1 must be >= 0, got -1", () -> OptimizerSpec.builder(Type.SGD, 0.1).l1(-1).build());
        assertMessage("optimizer.l2 must be >= 0, got -1", () -> OptimizerSpec.builder(Type.SGD, 0.1).l2(-1).build());
        assertMessage("optimizer.weight_decay with optimizer.type adam is AdamW",
            () -> OptimizerSpec.builder(Type.ADAM, 0.1).weightDecay(0.01).build());
        assertMessage("optimizer.l2 and optimizer.weight_decay cannot both be > 0",
            () -> OptimizerSpec.builder(Type.ADAMW, 0.1).l2(0.01).build());
        assertMessage("optimizer.lr_scaling is required", () -> OptimizerSpec.builder(Type.SGD, 0.1).lrScaling(null).build());
        assertMessage("optimizer.type: unknown 'adagrad' (sgd, adam, adamw, rmsprop)", () -> Type.parse("adagrad"));
        assertEquals(Type.ADAMW, Type.parse("AdamW"));
    }

    static void assertMessage(String prefix, Executable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().startsWith(prefix), "message: " + e.getMessage());
    }
}
