package io.lockstep.worker.optim;

import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.optim.OptimizerSpec.LrScaling;
import io.lockstep.worker.optim.OptimizerSpec.Type;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.File;
import java.io.IOException;
import java.util.function.BiFunction;
import java.util.stream.Stream;

import static io.lockstep.worker.optim.Mirror.maxDiff;
import static io.lockstep.worker.optim.Mirror.maxStateDiff;
import static io.lockstep.worker.optim.MirrorNets.TOTAL_STEPS;
import static org.junit.jupiter.api.Assertions.*;

/**
 * {@code optimizer.step_placement: server} equals {@code replica}: the parameter server's {@link SliceOptimizer}s,
 * set up by {@link ServerPlan}, and DL4J's updater on a replica, fed the same 100 real gradients, end within
 * 1e-5 of each other in every parameter, with the same optimizer state — whatever the optimizer, penalties,
 * schedule, clipping, network kind, and however the vector is cut into slices.
 */
class ServerMirrorTest {
    static final double TOLERANCE = 1e-5;

    @TempDir
    File dir;

    static Stream<Arguments> optimizers() {
        ClippingSpec none = ClippingSpec.NONE;
        return Stream.of(
            Arguments.of("sgd", OptimizerSpec.sgd(0.1), none, 1, 1),
            Arguments.of("sgd momentum", OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).build(), none, 1, 3),
            Arguments.of("sgd nesterov", OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).nesterov(true).build(), none, 1, 2),
            Arguments.of("adam", OptimizerSpec.adam(0.003), none, 1, 3),
            Arguments.of("adamw", OptimizerSpec.builder(Type.ADAMW, 0.003).weightDecay(0.05).build(), none, 1, 3),
            Arguments.of("rmsprop", OptimizerSpec.builder(Type.RMSPROP, 0.002).build(), none, 1, 3),
            Arguments.of("sgd l1 l2", OptimizerSpec.builder(Type.SGD, 0.1).l1(1e-3).l2(1e-2).build(), none, 1, 3),
            Arguments.of("adam l1 l2", OptimizerSpec.builder(Type.ADAM, 0.003).l1(1e-4).l2(1e-2).build(), none, 1, 2),
            Arguments.of("rmsprop l2", OptimizerSpec.builder(Type.RMSPROP, 0.002).l2(1e-2).build(), none, 1, 3),
            Arguments.of("sgdw momentum", OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).weightDecay(0.01).build(), none, 1, 3),
            Arguments.of("adam warmup cosine linear x4", OptimizerSpec.builder(Type.ADAM, 0.001)
                .lrScaling(LrScaling.LINEAR).schedule(ScheduleSpec.cosine(10, 1e-5)).build(), none, 4, 3),
            Arguments.of("nesterov warmup step", OptimizerSpec.builder(Type.SGD, 0.02).momentum(0.9).nesterov(true)
                .lrScaling(LrScaling.LINEAR).schedule(ScheduleSpec.step(5, 0.5, 30)).build(), none, 2, 3),
            Arguments.of("adam clip norm", OptimizerSpec.adam(0.003), ClippingSpec.norm(0.5), 1, 3),
            Arguments.of("momentum clip norm", OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).build(),
                ClippingSpec.norm(0.3), 1, 2),
            Arguments.of("sgd clip value", OptimizerSpec.sgd(0.1), ClippingSpec.value(0.01), 1, 3),
            Arguments.of("rmsprop clip value", OptimizerSpec.builder(Type.RMSPROP, 0.002).build(), ClippingSpec.value(0.02), 1, 3));
    }

    @ParameterizedTest(name = "mlp {0}")
    @MethodSource("optimizers")
    void mlp(String name, OptimizerSpec spec, ClippingSpec clipping, int workers, int slices) {
        assertMirrors(MirrorNets.mlp(spec, workers), spec, clipping, workers, slices);
    }

    static Stream<Arguments> networks() {
        OptimizerSpec adamW = OptimizerSpec.builder(Type.ADAMW, 0.003).weightDecay(0.05).build();
        OptimizerSpec l2 = OptimizerSpec.builder(Type.SGD, 0.05).momentum(0.9).l2(1e-2).l1(1e-4).build();
        OptimizerSpec rms = OptimizerSpec.builder(Type.RMSPROP, 0.002).l2(1e-2).build();
        return Stream.of(
            Arguments.of("adamw clip norm", adamW, ClippingSpec.norm(0.5)),
            Arguments.of("momentum l1 l2", l2, ClippingSpec.NONE),
            Arguments.of("rmsprop l2 clip value", rms, ClippingSpec.value(0.05)));
    }

    @ParameterizedTest(name = "graph {0}")
    @MethodSource("networks")
    void computationGraph(String name, OptimizerSpec spec, ClippingSpec clipping) {
        assertMirrors(MirrorNets.graph(spec, 1), spec, clipping, 1, 3);
    }

    @ParameterizedTest(name = "batch norm {0}")
    @MethodSource("networks")
    void batchNormRunningStatisticsAreAssigned(String name, OptimizerSpec spec, ClippingSpec clipping) {
        for (boolean logStd : new boolean[]{true, false}) {
            Network net = MirrorNets.batchNorm(spec, 1, logStd);
            ServerPlan plan = assertMirrors(net, spec, clipping, 1, 3);
            // dense W, b | BN gamma, beta | BN mean, var-or-log-std | dense W, b | out W, b
            assertEquals(ParamRoles.ASSIGN, plan.roles().role(plan.roles().rangeOf(64 * 32 + 32 + 2 * 32)));
            assertEquals(ParamRoles.BIAS, plan.roles().role(plan.roles().rangeOf(64 * 32 + 32)), "gamma, beta: no penalty");
        }
    }

    @ParameterizedTest(name = "fine-tuned, first layer frozen, {0}")
    @MethodSource("networks")
    void fineTunedFrozenLayerStaysPut(String name, OptimizerSpec spec, ClippingSpec clipping) throws IOException {
        Network net = MirrorNets.fineTuned(spec, 1, dir);
        float[] before = net.params().toFloatVector();
        ServerPlan plan = assertMirrors(net, spec, clipping, 1, 3);
        assertEquals(ParamRoles.FROZEN, plan.roles().role(0));
        assertEquals(64 * 32 + 32, plan.roles().end(0));
        float[] after = net.params().toFloatVector();
        for (int i = 0; i < 64 * 32 + 32; i++) {
            assertEquals(before[i], after[i], "frozen parameter " + i);
        }
    }

    @ParameterizedTest(name = "FrozenLayerWithBackprop {0}")
    @MethodSource("networks")
    void frozenWithBackprop(String name, OptimizerSpec spec, ClippingSpec clipping) {
        ServerPlan plan = assertMirrors(MirrorNets.frozenWithBackprop(spec, 1), spec, clipping, 1, 2);
        assertEquals(ParamRoles.FROZEN, plan.roles().role(0));
    }

    /** A checkpoint's DL4J state resumes on the server, and the server's state resumes in a replica. */
    @Test
    void stateCrossesPlacementsBothWays() {
        OptimizerSpec spec = OptimizerSpec.builder(Type.ADAMW, 0.003).weightDecay(0.05).build();
        ClippingSpec clip = ClippingSpec.norm(0.5);
        LrSchedule schedule = LrSchedule.of(spec, 1, TOTAL_STEPS);
        Network net = MirrorNets.batchNorm(spec, 1, true);
        // 30 replica-only steps, as a run with placement: replica would take them
        for (int t = 0; t < 30; t++) {
            var b = Mirror.batch(t);
            net.computeGradient(b.getFeatures(), b.getLabels());
            net.toBatchMean(b.numExamples());
            clip.apply(net.gradient());
            net.applyUpdate(t, 0);
        }
        // its checkpoint resumes on the server
        ServerPlan plan = ServerPlan.of(net, spec, clip, schedule);
        Mirror first = new Mirror(net, plan, clip, 3);
        first.run(30, 60);
        assertEquals(0, maxDiff(first.replicaParams(), first.serverParams()), TOLERANCE);

        // the server's parameters and state, checkpointed in DL4J's layout, are the replica's checkpoint
        float[] params = first.serverParams();
        float[] dl4jState = plan.toDl4jState(first.serverState());
        assertTrue(maxDiff(vector(net.updaterState()), dl4jState) <= TOLERANCE);
        // and resume in a fresh replica, which the server keeps mirroring
        Network resumed = Network.fromJson(net.toJson(), params);
        resumed.setUpdaterState(dl4jState);
        ServerPlan again = ServerPlan.of(resumed, spec, clip, schedule);
        assertEquals(plan.roles(), again.roles());
        Mirror second = new Mirror(resumed, again, clip, 2, params, first.serverState());
        second.run(60, 100);
        double diff = maxDiff(second.replicaParams(), second.serverParams());
        assertTrue(diff <= TOLERANCE, "max |replica - server| after resuming both ways: " + diff);
    }

    /** The comparison can fail: a server that penalizes the biases too drifts measurably from the replica. */
    @Test
    void aWrongRoleIsVisible() {
        OptimizerSpec spec = OptimizerSpec.builder(Type.SGD, 0.1).l2(0.05).build();
        Network net = MirrorNets.mlp(spec, 1);
        ServerPlan right = ServerPlan.of(net, spec, ClippingSpec.NONE, LrSchedule.of(spec, 1, TOTAL_STEPS));
        Mirror m = new Mirror(net, right.rule(), ParamRoles.allWeights(right.parameterCount()), ClippingSpec.NONE, 1,
            net.params().toFloatVector(), null);
        m.run(0, 100);
        double diff = maxDiff(m.replicaParams(), m.serverParams());
        assertTrue(diff > 100 * TOLERANCE, "penalized biases must show: " + diff);
    }

    /** Runs 100 mirrored steps; asserts parameters and state agree and the state conversions round-trip. */
    static ServerPlan assertMirrors(Network net, OptimizerSpec spec, ClippingSpec clipping, int workers, int slices) {
        LrSchedule schedule = LrSchedule.of(spec, workers, TOTAL_STEPS);
        ServerPlan plan = ServerPlan.of(net, spec, clipping, schedule);
        float[] initial = net.params().toFloatVector();
        float[] freshDl4j = vector(net.updaterState());
        // a fresh server state is DL4J's fresh state (zeros; epsilon for RMSProp)
        Mirror m = new Mirror(net, plan, clipping, slices, initial, null);
        assertEquals(0, maxStateDiff(plan.roles(), plan.stateSlots(), plan.toServerState(freshDl4j), m.serverState()));

        m.run(0, TOTAL_STEPS);

        float[] replica = m.replicaParams();
        float[] server = m.serverParams();
        double diff = maxDiff(replica, server);
        assertTrue(diff <= TOLERANCE, "max |replica - server| after " + TOTAL_STEPS + " steps: " + diff);
        assertTrue(maxDiff(initial, replica) > 1000 * TOLERANCE, "training moved the parameters");

        float[] dl4jState = vector(net.updaterState());
        float[] serverState = m.serverState();
        double stateDiff = maxStateDiff(plan.roles(), plan.stateSlots(), plan.toServerState(dl4jState), serverState);
        assertTrue(stateDiff <= TOLERANCE, "max |state difference|: " + stateDiff);
        // the conversions are inverses on the parameters that have state
        float[] back = plan.toDl4jState(plan.toServerState(dl4jState));
        if (!hasFrozenState(plan)) {
            assertArrayEquals(dl4jState, back);
        }
        assertEquals(0, maxStateDiff(plan.roles(), plan.stateSlots(), serverState,
            plan.toServerState(plan.toDl4jState(serverState))));
        System.out.printf("mirror %s, %d slices: max |dparam| %.3g, max |dstate| %.3g%n", plan.rule().kind(), slices,
            diff, stateDiff);
        return plan;
    }

    /** A flat copy; empty for SGD, whose DL4J state is an empty array. */
    static float[] vector(INDArray a) {
        return a.isEmpty() ? new float[0] : a.toFloatVector();
    }

    private static boolean hasFrozenState(ServerPlan plan) {
        for (int r = 0; r < plan.roles().ranges(); r++) {
            if (plan.roles().role(r) == ParamRoles.FROZEN) {
                return true;
            }
        }
        return false;
    }
}
