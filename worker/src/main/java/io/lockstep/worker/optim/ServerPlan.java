package io.lockstep.worker.optim;

import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.worker.model.Network;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.TrainingConfig;
import org.deeplearning4j.nn.api.Trainable;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.updater.BaseMultiLayerUpdater;
import org.deeplearning4j.nn.updater.UpdaterBlock;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.NoOp;
import org.nd4j.linalg.learning.regularization.L1Regularization;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.nd4j.linalg.schedule.ISchedule;

import java.io.Serial;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * What {@code optimizer.step_placement: server} needs to apply, on the parameter-server shards, exactly the step
 * that DL4J's updater applies on a replica: the {@link UpdateRule} (the job's optimizer, schedule and
 * clipping) and the {@link ParamRoles} (which ranges of the flat vector get the rule with the weight
 * penalties, the rule alone, {@code w -= g}, or nothing), read from the network's DL4J updater blocks and
 * each parameter's regularization; plus the conversion of optimizer state between DL4J's updater state
 * layout (what checkpoints store) and the server's slot-major layout.
 *
 * <p>What DL4J 1.0.0-M2.1 does per parameter, and the role that mirrors it:
 * <ul>
 *   <li>the job's updater ({@link Optimizers#updater}) and the job's L1/L2/weight decay → WEIGHT;</li>
 *   <li>the job's updater and no regularization (biases, BatchNorm's gamma and beta) → BIAS;</li>
 *   <li>{@code NoOp} updater and no regularization → ASSIGN: the replica subtracts the "gradient" as it is
 *       (BatchNorm's running mean / variance / log-std, whose gradient DL4J computes as the change
 *       {@code (1 - decay) * (global - batch)} and does not divide by the batch size);</li>
 *   <li>a {@code FrozenLayer} / {@code FrozenLayerWithBackprop} → FROZEN (Network zeroes their step).</li>
 * </ul>
 * Anything else (a layer's own updater or learning rate, its own L1/L2/weight decay, per-layer gradient
 * normalization, layerwise-pretraining parameters) has no server equivalent and is refused with an
 * {@link IllegalArgumentException} naming the layer, the parameter and the reason.
 *
 * <p>State layouts. DL4J ({@link Network#updaterState()}): updater block after updater block, each block's
 * state arrays back to back over the block's parameter range: slot {@code k} of the block's element
 * {@code j} at {@code stateStart + k * blockLength + j} (Adam: m then v, {@code AdamUpdater.setStateViewArray};
 * RMSProp's mean square and {@link Momentum}'s buffer: one slot). Server: slot {@code k} of parameter
 * {@code i} at {@code k * parameterCount + i}. The two conversions are exact inverses on the parameters
 * that have state (roles WEIGHT and BIAS); ASSIGN and FROZEN parameters have no server state (zeros), and
 * a frozen layer's DL4J state, which its zeroed step never reads, comes back as zeros.
 *
 * <p>Immutable and serializable: it can travel to the shards with the job.
 */
public final class ServerPlan implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    private final UpdateRule rule;
    private final ParamRoles roles;
    private final int dl4jStateLength;
    // DL4J's updater blocks that hold state: parameter range [blockStart, blockEnd), state from stateStart
    private final int[] blockStart;
    private final int[] blockEnd;
    private final int[] stateStart;

    private ServerPlan(UpdateRule rule, ParamRoles roles, int dl4jStateLength, int[] blockStart, int[] blockEnd,
                       int[] stateStart) {
        this.rule = rule;
        this.roles = roles;
        this.dl4jStateLength = dl4jStateLength;
        this.blockStart = blockStart;
        this.blockEnd = blockEnd;
        this.stateStart = stateStart;
    }

    /**
     * The plan for {@code network}, trained with {@code spec} at the rate {@code schedule} (the run's, as
     * {@link LrSchedule#of} gives it and as the network's updater was configured with), clipped by
     * {@code clipping}.
     *
     * @throws IllegalArgumentException if some parameter is updated in a way the server cannot mirror
     */
    public static ServerPlan of(Network network, OptimizerSpec spec, ClippingSpec clipping, LrSchedule schedule) {
        UpdateRule rule = rule(spec, clipping, schedule);
        IUpdater expected = Optimizers.updater(spec, schedule);
        Penalties weights = new Penalties(spec.l1(), spec.l2(), spec.weightDecay());
        BaseMultiLayerUpdater<?> updater = updater(network.dl4j());

        ParamRoles.Builder roles = new ParamRoles.Builder();
        List<int[]> stateful = new ArrayList<>();
        long covered = 0;
        long frozen = 0;
        for (UpdaterBlock block : updater.getUpdaterBlocks()) {
            if (block.getParamOffsetStart() != covered) {
                throw new IllegalStateException("updater block starts at parameter " + block.getParamOffsetStart()
                    + ", expected " + covered);
            }
            for (UpdaterBlock.ParamState p : block.getLayersAndVariablesInBlock()) {
                byte role = role(p.getLayer(), p.getParamName(), expected, weights);
                long n = p.getParamOffsetEnd() - p.getParamOffsetStart();
                roles.add(role, n);
                frozen += role == ParamRoles.FROZEN ? n : 0;
                covered += n;
            }
            if (covered != block.getParamOffsetEnd()) {
                throw new IllegalStateException("updater block ends at parameter " + block.getParamOffsetEnd()
                    + ", its parameters at " + covered);
            }
            int stateLength = block.getUpdaterViewOffsetEnd() - block.getUpdaterViewOffsetStart();
            if (stateLength > 0) {
                stateful.add(new int[]{block.getParamOffsetStart(), block.getParamOffsetEnd(),
                    block.getUpdaterViewOffsetStart(), stateLength});
            }
        }
        if (covered != network.parameterCount()) {
            throw new IllegalStateException("updater blocks cover " + covered + " of " + network.parameterCount()
                + " parameters");
        }
        long frozenViews = network.frozenViews().stream().mapToLong(v -> v.length()).sum();
        if (frozen != frozenViews) {
            throw new IllegalStateException("found " + frozen + " frozen parameters, the network zeroes " + frozenViews);
        }
        ParamRoles built = roles.build();

        int[] starts = new int[stateful.size()];
        int[] ends = new int[stateful.size()];
        int[] stateStarts = new int[stateful.size()];
        for (int b = 0; b < stateful.size(); b++) {
            int[] s = stateful.get(b);
            starts[b] = s[0];
            ends[b] = s[1];
            stateStarts[b] = s[2];
            long slots = s[3] / Math.max(1, s[1] - s[0]);
            if ((long) s[3] != slots * (s[1] - s[0]) || (slots != rule.stateSlots() && !allFrozen(built, s[0], s[1]))) {
                throw new IllegalStateException("updater block of parameters " + s[0] + "-" + s[1] + " holds " + s[3]
                    + " state values, expected " + rule.stateSlots() + " per parameter for " + rule.kind());
            }
        }
        long dl4jLength = network.updaterState().length();
        return new ServerPlan(rule, built, Math.toIntExact(dl4jLength), starts, ends, stateStarts);
    }

    /** The server's rule for the job: the optimizer's kind and values, the run's schedule, the clipping. */
    public static UpdateRule rule(OptimizerSpec spec, ClippingSpec clipping, LrSchedule schedule) {
        UpdateRule.Kind kind = switch (spec.type()) {
            case SGD -> spec.momentum() > 0 ? UpdateRule.Kind.MOMENTUM : UpdateRule.Kind.SGD;
            case ADAM, ADAMW -> UpdateRule.Kind.ADAM;
            case RMSPROP -> UpdateRule.Kind.RMSPROP;
        };
        UpdateRule.Clip clip = switch (clipping.mode()) {
            case NONE -> UpdateRule.Clip.NONE;
            case NORM -> UpdateRule.Clip.NORM;
            case VALUE -> UpdateRule.Clip.VALUE;
        };
        return new UpdateRule(kind, schedule, spec.momentum(), spec.nesterov(), spec.beta1(), spec.beta2(),
            spec.epsilon(), spec.rmsDecay(), spec.l1(), spec.l2(), spec.weightDecay(), clip, clipping.threshold());
    }

    public UpdateRule rule() { return rule; }
    public ParamRoles roles() { return roles; }
    public int parameterCount() { return roles.length(); }
    /** Floats of optimizer state per parameter on the server (Adam 2, momentum and RMSProp 1, SGD 0). */
    public int stateSlots() { return rule.stateSlots(); }
    /** Length of DL4J's updater state view ({@link Network#updaterState()}), what checkpoints store. */
    public int dl4jStateLength() { return dl4jStateLength; }
    /** Length of the server's state over the whole vector: {@code stateSlots() * parameterCount()}. */
    public int serverStateLength() { return Math.multiplyExact(rule.stateSlots(), roles.length()); }

    /** DL4J's updater state (a checkpoint's, or {@code Network.updaterState()}) in the server's slot-major layout. */
    public float[] toServerState(float[] dl4jState) {
        if (dl4jState.length != dl4jStateLength) {
            throw new IllegalArgumentException("optimizer state has " + dl4jState.length
                + " values, this network's DL4J updater holds " + dl4jStateLength);
        }
        float[] server = new float[serverStateLength()];
        copy(dl4jState, server, true);
        return server;
    }

    /** The server's slot-major state in DL4J's updater state layout (zeros where DL4J's state is never read). */
    public float[] toDl4jState(float[] serverState) {
        if (serverState.length != serverStateLength()) {
            throw new IllegalArgumentException("server optimizer state has " + serverState.length + " values, expected "
                + serverStateLength() + " (" + rule.stateSlots() + " per parameter for " + rule.kind() + ")");
        }
        float[] dl4j = new float[dl4jStateLength];
        copy(dl4j, serverState, false);
        return dl4j;
    }

    /** Copies every stateful run of parameters between the two layouts, in the direction asked. */
    private void copy(float[] dl4j, float[] server, boolean toServer) {
        int n = roles.length();
        int slots = rule.stateSlots();
        for (int b = 0; b < blockStart.length; b++) {
            int blockLength = blockEnd[b] - blockStart[b];
            for (int r = roles.rangeOf(blockStart[b]); r < roles.ranges() && roles.start(r) < blockEnd[b]; r++) {
                byte role = roles.role(r);
                if (role != ParamRoles.WEIGHT && role != ParamRoles.BIAS) {
                    continue;
                }
                int from = Math.max(roles.start(r), blockStart[b]);
                int to = Math.min(roles.end(r), blockEnd[b]);
                for (int k = 0; k < slots; k++) {
                    int d = stateStart[b] + k * blockLength + (from - blockStart[b]);
                    int s = k * n + from;
                    if (toServer) {
                        System.arraycopy(dl4j, d, server, s, to - from);
                    } else {
                        System.arraycopy(server, s, dl4j, d, to - from);
                    }
                }
            }
        }
    }

    private static boolean allFrozen(ParamRoles roles, int from, int to) {
        for (int r = roles.rangeOf(from); r < roles.ranges() && roles.start(r) < to; r++) {
            if (roles.role(r) != ParamRoles.FROZEN) {
                return false;
            }
        }
        return true;
    }

    private static BaseMultiLayerUpdater<?> updater(Model model) {
        if (model instanceof MultiLayerNetwork net) {
            return (BaseMultiLayerUpdater<?>) net.getUpdater();
        }
        return ((ComputationGraph) model).getUpdater();
    }

    /** The role of one parameter of {@code owner} (a layer, or a graph's layer vertex), or the refusal. */
    private static byte role(Trainable owner, String param, IUpdater expected, Penalties weights) {
        Object layer = owner instanceof GraphVertex v ? (v.hasLayer() ? v.getLayer() : null) : owner;
        if (layer instanceof FrozenLayer || layer instanceof FrozenLayerWithBackprop) {
            return ParamRoles.FROZEN;
        }
        TrainingConfig conf = owner.getConfig();
        if (conf.isPretrainParam(param)) {
            throw refuse(owner, param, "is a layerwise-pretraining parameter");
        }
        GradientNormalization norm = conf.getGradientNormalization();
        if (norm != null && norm != GradientNormalization.None) {
            throw refuse(owner, param, "has per-layer gradient normalization " + norm
                + " (use clipping.mode norm or value, which the server applies to the whole gradient)");
        }
        IUpdater u = conf.getUpdaterByParam(param);
        Penalties own = Penalties.of(owner, param, conf.getRegularizationByParam(param));
        if (u instanceof NoOp) {
            if (!own.none()) {
                throw refuse(owner, param, "has a NoOp updater with regularization " + own);
            }
            return ParamRoles.ASSIGN;
        }
        if (!expected.equals(u)) {
            String why = u != null && u.getClass() == expected.getClass()
                ? "has its own learning rate or settings: " + u + ", the job's optimizer is " + expected
                : "has its own updater " + (u == null ? "none" : u.getClass().getSimpleName() + " " + u)
                  + ", the job's optimizer is " + expected;
            throw refuse(owner, param, why);
        }
        if (own.equals(weights)) {
            return ParamRoles.WEIGHT;
        }
        if (own.none()) {
            return ParamRoles.BIAS;
        }
        throw refuse(owner, param, "has its own regularization " + own + ", the job's is " + weights
            + " (for weights) or none (for biases)");
    }

    private static IllegalArgumentException refuse(Trainable owner, String param, String reason) {
        return new IllegalArgumentException("optimizer.step_placement server cannot mirror " + describe(owner)
            + " parameter '" + param + "': it " + reason + "; set optimizer.step_placement: replica to train this model "
            + "with DL4J's updater on every worker");
    }

    /** "layer 'name' (DenseLayer)" or "layer 2 (DenseLayer)", as the user configured it. */
    static String describe(Trainable owner) {
        String name;
        Object conf;
        if (owner instanceof GraphVertex v) {
            name = "'" + v.getVertexName() + "'";
            conf = v.hasLayer() ? v.getLayer().conf().getLayer() : null;
        } else if (owner instanceof org.deeplearning4j.nn.api.Layer l) {
            String given = l.conf().getLayer().getLayerName();
            name = given != null && !given.equals("layer" + l.getIndex()) && !given.equals(String.valueOf(l.getIndex()))
                ? l.getIndex() + " '" + given + "'" : String.valueOf(l.getIndex());
            conf = l.conf().getLayer();
        } else {
            name = "'" + owner.getConfig().getLayerName() + "'";
            conf = null;
        }
        return "layer " + name + (conf == null ? "" : " (" + conf.getClass().getSimpleName() + ")");
    }

    /** A parameter's L1, L2 and decoupled weight decay coefficients, or the reason they cannot be mirrored. */
    private record Penalties(double l1, double l2, double weightDecay) {
        static Penalties of(Trainable owner, String param, List<Regularization> list) {
            double l1 = 0, l2 = 0, wd = 0;
            for (Regularization r : list == null ? List.<Regularization>of() : list) {
                if (r instanceof L1Regularization l && l1 == 0) {
                    l1 = fixed(owner, param, "L1", l.getL1());
                } else if (r instanceof L2Regularization l && l2 == 0) {
                    l2 = fixed(owner, param, "L2", l.getL2());
                } else if (r instanceof WeightDecay w && wd == 0) {
                    if (!w.isApplyLR()) {
                        throw refuse(owner, param, "has weight decay not scaled by the learning rate (applyLR false)");
                    }
                    wd = fixed(owner, param, "weight decay", w.getCoeff());
                } else {
                    throw refuse(owner, param, "has regularization " + r + (r instanceof WeightDecay
                        ? " listed twice (DL4J doubles builder-level weight decay: pass the configuration through "
                          + "Optimizers.removeDuplicateRegularization)" : " listed twice or of an unknown kind"));
                }
            }
            return new Penalties(l1, l2, wd);
        }

        private static double fixed(Trainable owner, String param, String what, ISchedule s) {
            if (!(s instanceof FixedSchedule f)) {
                throw refuse(owner, param, "has a scheduled " + what + " coefficient " + s);
            }
            return f.getValue();
        }

        boolean none() {
            return l1 == 0 && l2 == 0 && weightDecay == 0;
        }

        @Override
        public String toString() {
            return "l1=" + l1 + ", l2=" + l2 + ", weight_decay=" + weightDecay;
        }
    }
}
