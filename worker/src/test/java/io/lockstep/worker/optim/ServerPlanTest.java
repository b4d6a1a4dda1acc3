package io.lockstep.worker.optim;

import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.optim.OptimizerSpec.Type;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.schedule.ScheduleType;
import org.nd4j.linalg.schedule.StepSchedule;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;

import static io.lockstep.worker.optim.MirrorNets.TOTAL_STEPS;
import static io.lockstep.worker.optim.MirrorNets.builder;
import static io.lockstep.worker.optim.MirrorNets.output;
import static org.junit.jupiter.api.Assertions.*;

/** What {@link ServerPlan} reads from a network: the rule, the roles, the state layout, and what it refuses. */
class ServerPlanTest {
    static final OptimizerSpec ADAM_L2 = OptimizerSpec.builder(Type.ADAM, 0.003).l2(1e-3).build();

    static ServerPlan plan(Network net, OptimizerSpec spec) {
        return ServerPlan.of(net, spec, ClippingSpec.NONE, LrSchedule.of(spec, 1, TOTAL_STEPS));
    }

    /** The mlp with {@code hidden} changing its second layer's builder. */
    static Network mlpWith(OptimizerSpec spec, Consumer<DenseLayer.Builder> hidden) {
        DenseLayer.Builder second = new DenseLayer.Builder().nIn(32).nOut(16).activation(Activation.TANH);
        hidden.accept(second);
        return MirrorNets.init(builder(spec, 1).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(32).activation(Activation.RELU).build())
            .layer(second.build())
            .layer(output(16))
            .build());
    }

    static String refusal(Network net, OptimizerSpec spec) {
        String msg = assertThrows(IllegalArgumentException.class, () -> plan(net, spec)).getMessage();
        assertTrue(msg.contains("optimizer.step_placement: replica"), msg);
        return msg;
    }

    @Test
    void ruleCarriesTheJobsOptimizerScheduleAndClipping() {
        OptimizerSpec spec = OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).nesterov(true).l1(1e-4).l2(1e-3)
            .lrScaling(OptimizerSpec.LrScaling.LINEAR).schedule(ScheduleSpec.cosine(10, 1e-4)).build();
        LrSchedule schedule = LrSchedule.of(spec, 4, TOTAL_STEPS);
        UpdateRule rule = ServerPlan.of(MirrorNets.mlp(spec, 4), spec, ClippingSpec.norm(2), schedule).rule();
        assertEquals(UpdateRule.Kind.MOMENTUM, rule.kind());
        assertSame(schedule, rule.rate());
        assertEquals(0.9, rule.momentum());
        assertTrue(rule.nesterov());
        assertEquals(1e-4, rule.l1());
        assertEquals(1e-3, rule.l2());
        assertEquals(UpdateRule.Clip.NORM, rule.clip());
        assertEquals(2, rule.threshold());
        for (long t : new long[]{0, 9, 10, 55, 99}) {
            assertEquals(schedule.valueAt((int) t, 0), rule.rate().rate(t));
        }
        assertEquals(UpdateRule.Kind.ADAM, ServerPlan.rule(OptimizerSpec.builder(Type.ADAMW, 1e-3).build(),
            ClippingSpec.NONE, schedule).kind());
        assertEquals(UpdateRule.Kind.RMSPROP, ServerPlan.rule(OptimizerSpec.builder(Type.RMSPROP, 1e-3).build(),
            ClippingSpec.value(1), schedule).kind());
    }

    @Test
    void rolesFollowEachParametersUpdaterAndRegularization() {
        ServerPlan plan = plan(MirrorNets.batchNorm(ADAM_L2, 1, true), ADAM_L2);
        int dense0 = 64 * 32, bn = 32;
        int dense1 = 32 * 16, out = 16 * 10;
        assertEquals("ParamRoles[weight 0-" + dense0
                + ", bias " + dense0 + "-" + (dense0 + 32 + 2 * bn)                       // b, gamma, beta
                + ", assign " + (dense0 + 32 + 2 * bn) + "-" + (dense0 + 32 + 4 * bn)     // running mean, log-std
                + ", weight " + (dense0 + 32 + 4 * bn) + "-" + (dense0 + 32 + 4 * bn + dense1)
                + ", bias " + (dense0 + 32 + 4 * bn + dense1) + "-" + (dense0 + 32 + 4 * bn + dense1 + 16)
                + ", weight " + (dense0 + 32 + 4 * bn + dense1 + 16) + "-" + (dense0 + 32 + 4 * bn + dense1 + 16 + out)
                + ", bias " + (dense0 + 32 + 4 * bn + dense1 + 16 + out) + "-" + plan.parameterCount() + "]",
            plan.roles().toString());
        // without penalties nothing distinguishes weights from biases: one range with the rule
        OptimizerSpec plain = OptimizerSpec.adam(0.003);
        assertEquals(1, plan(MirrorNets.mlp(plain, 1), plain).roles().ranges());
    }

    /** DL4J's own per-block Adam state ("M", "V" of each block's updater) lands where the server expects m and v. */
    @Test
    void stateLayoutMatchesDl4jsUpdaterBlocks() {
        Network net = MirrorNets.batchNorm(ADAM_L2, 1, false);
        ServerPlan plan = plan(net, ADAM_L2);
        int n = plan.parameterCount();
        float[] dl4j = new float[plan.dl4jStateLength()];
        Random random = new Random(3);
        for (int i = 0; i < dl4j.length; i++) {
            dl4j[i] = random.nextFloat();
        }
        net.setUpdaterState(dl4j);
        assertEquals(2 * (n - 2 * 32), dl4j.length, "Adam state for all but the running statistics");
        float[] server = plan.toServerState(dl4j);
        assertEquals(2 * n, server.length);

        int blocksWithState = 0;
        for (UpdaterBlock block : updater(net).getUpdaterBlocks()) {
            Map<String, INDArray> state = block.getGradientUpdater().getState();
            if (state.isEmpty()) {
                for (int i = block.getParamOffsetStart(); i < block.getParamOffsetEnd(); i++) {
                    assertEquals(ParamRoles.ASSIGN, plan.roles().role(plan.roles().rangeOf(i)));
                    assertEquals(0f, server[i]);
                    assertEquals(0f, server[n + i]);
                }
                continue;
            }
            blocksWithState++;
            float[] m = state.get("M").toFloatVector();
            float[] v = state.get("V").toFloatVector();
            for (int j = 0; j < m.length; j++) {
                assertEquals(m[j], server[block.getParamOffsetStart() + j]);
                assertEquals(v[j], server[n + block.getParamOffsetStart() + j]);
            }
        }
        assertEquals(2, blocksWithState, "Adam blocks before and after BatchNorm's NoOp block");
        assertArrayEquals(dl4j, plan.toDl4jState(server));
    }

    /** The plan travels to the shards with the job: Java serialization keeps the rule, schedule and roles. */
    @Test
    void survivesSerialization() throws Exception {
        OptimizerSpec spec = OptimizerSpec.builder(Type.ADAMW, 0.003).schedule(ScheduleSpec.cosine(10, 0)).build();
        ServerPlan plan = ServerPlan.of(MirrorNets.batchNorm(spec, 2, true), spec, ClippingSpec.norm(1),
            LrSchedule.of(spec, 2, TOTAL_STEPS));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(plan);
        }
        ServerPlan copy;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            copy = (ServerPlan) in.readObject();
        }
        assertEquals(plan.rule(), copy.rule());
        assertEquals(plan.roles(), copy.roles());
        assertEquals(plan.rule().rate().rate(42), copy.rule().rate().rate(42));
        float[] state = new float[plan.dl4jStateLength()];
        for (int i = 0; i < state.length; i++) {
            state[i] = i;
        }
        assertArrayEquals(plan.toServerState(state), copy.toServerState(state));
    }

    @Test
    void stateLengthsAreChecked() {
        ServerPlan plan = plan(MirrorNets.mlp(ADAM_L2, 1), ADAM_L2);
        String msg = assertThrows(IllegalArgumentException.class, () -> plan.toServerState(new float[3])).getMessage();
        assertTrue(msg.contains("holds " + plan.dl4jStateLength()), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> plan.toDl4jState(new float[3])).getMessage();
        assertTrue(msg.contains("2 per parameter for ADAM"), msg);
        ServerPlan sgd = plan(MirrorNets.mlp(OptimizerSpec.sgd(0.1), 1), OptimizerSpec.sgd(0.1));
        assertEquals(0, sgd.toServerState(new float[0]).length);
        assertEquals(0, sgd.toDl4jState(new float[0]).length);
    }

    @Test
    void aLayerWithItsOwnUpdaterIsRefusedByName() {
        String msg = refusal(mlpWith(ADAM_L2, b -> b.updater(new Sgd(0.5))), ADAM_L2);
        assertTrue(msg.contains("layer 1 (DenseLayer) parameter 'W'"), msg);
        assertTrue(msg.contains("has its own updater Sgd"), msg);
    }

    @Test
    void aLayerWithItsOwnLearningRateIsRefused() {
        String msg = refusal(mlpWith(ADAM_L2, b -> b.updater(new Adam(0.01))), ADAM_L2);
        assertTrue(msg.contains("layer 1 (DenseLayer)") && msg.contains("own learning rate or settings"), msg);
    }

    @Test
    void aScheduleByEpochIsRefused() {
        Sgd byEpoch = new Sgd(new StepSchedule(ScheduleType.EPOCH, 0.1, 0.5, 1));
        OptimizerSpec sgd = OptimizerSpec.sgd(0.1);
        String msg = refusal(mlpWith(sgd, b -> b.updater(byEpoch)), sgd);
        assertTrue(msg.contains("layer 1 (DenseLayer)"), msg);
    }

    @Test
    void aLayerWithItsOwnPenaltyIsRefused() {
        String msg = refusal(mlpWith(ADAM_L2, b -> b.l2(0.1)), ADAM_L2);
        assertTrue(msg.contains("layer 1 (DenseLayer) parameter 'W'") && msg.contains("own regularization"), msg);
    }

    @Test
    void perLayerGradientNormalizationIsRefused() {
        OptimizerSpec spec = OptimizerSpec.adam(0.003);
        String msg = refusal(mlpWith(spec, b -> b.gradientNormalization(GradientNormalization.ClipL2PerLayer)
            .gradientNormalizationThreshold(1)), spec);
        assertTrue(msg.contains("layer 1 (DenseLayer)") && msg.contains("ClipL2PerLayer")
            && msg.contains("clipping.mode"), msg);
    }

    @Test
    void doubledWeightDecayIsRefusedWithTheCause() {
        OptimizerSpec adamW = OptimizerSpec.builder(Type.ADAMW, 0.003).build();
        MultiLayerConfiguration conf = builder(adamW, 1).list()
            .layer(new DenseLayer.Builder().nIn(64).nOut(32).build())
            .layer(output(32))
            .build(); // without Optimizers.removeDuplicateRegularization: DL4J lists the decay twice
        MultiLayerNetwork raw = new MultiLayerNetwork(conf);
        raw.init();
        String msg = refusal(Network.of(raw), adamW);
        assertTrue(msg.contains("layer 0 (DenseLayer)") && msg.contains("removeDuplicateRegularization"), msg);
    }

    @Test
    void aGraphVertexIsNamed() {
        NeuralNetConfiguration.Builder b = builder(ADAM_L2, 1);
        ComputationGraphConfiguration conf = b.graphBuilder()
            .addInputs("in")
            .addLayer("encoder", new DenseLayer.Builder().nIn(64).nOut(32).build(), "in")
            .addLayer("head", new org.deeplearning4j.nn.conf.layers.OutputLayer.Builder().nIn(32).nOut(10)
                .activation(Activation.SOFTMAX).updater(new Sgd(0.1)).build(), "encoder")
            .setOutputs("head")
            .build();
        ComputationGraph graph = new ComputationGraph(Optimizers.removeDuplicateRegularization(conf));
        graph.init();
        String msg = refusal(Network.of(graph), ADAM_L2);
        assertTrue(msg.contains("layer 'head' (OutputLayer) parameter 'W'"), msg);
    }

    private static BaseMultiLayerUpdater<?> updater(Network net) {
        return (BaseMultiLayerUpdater<?>) ((MultiLayerNetwork) net.dl4j()).getUpdater();
    }
}
