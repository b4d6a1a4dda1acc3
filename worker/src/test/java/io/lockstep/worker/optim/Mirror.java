package io.lockstep.worker.optim;

import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.worker.data.Digits;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.model.Network;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The two placements of the optimizer side by side on one gradient sequence: a DL4J replica
 * ({@code ClippingSpec.apply} then {@code Network.applyUpdate}, as the Trainer does) and the parameter
 * server's {@link SliceOptimizer}s over the flat vector cut into slices (global-norm clipping summed over
 * the slices, as the shards will). Each step's gradient is a real one: the replica's, on sklearn digits.
 */
final class Mirror {
    static final int BATCH = 32;
    private static List<Sample> digits;

    final Network replica;
    final UpdateRule rule;
    final ParamRoles roles;
    final ClippingSpec clipping;
    final SliceOptimizer[] slices;
    private final UnsafeBuffer gradient;
    private final int n;

    /** Server slices loaded from the replica's parameters and (converted) updater state. */
    Mirror(Network replica, ServerPlan plan, ClippingSpec clipping, int sliceCount) {
        this(replica, plan, clipping, sliceCount, replica.params().toFloatVector(),
            plan.toServerState(ServerMirrorTest.vector(replica.updaterState())));
    }

    Mirror(Network replica, ServerPlan plan, ClippingSpec clipping, int sliceCount, float[] params, float[] state) {
        this(replica, plan.rule(), plan.roles(), clipping, sliceCount, params, state);
    }

    Mirror(Network replica, UpdateRule rule, ParamRoles roles, ClippingSpec clipping, int sliceCount, float[] params,
           float[] state) {
        this.replica = replica;
        this.rule = rule;
        this.roles = roles;
        this.clipping = clipping;
        this.n = Math.toIntExact(replica.parameterCount());
        this.slices = new SliceOptimizer[sliceCount];
        for (int s = 0; s < sliceCount; s++) {
            int from = (int) ((long) n * s / sliceCount);
            int to = (int) ((long) n * (s + 1) / sliceCount);
            slices[s] = new SliceOptimizer(rule, roles, from, to - from);
            slices[s].load(params, state);
        }
        this.gradient = new UnsafeBuffer(ByteBuffer.allocateDirect(n * Float.BYTES));
    }

    /** Steps {@code from .. to - 1} on both placements. */
    void run(long from, long to) {
        for (long t = from; t < to; t++) {
            step(t, batch((int) t));
        }
    }

    void step(long t, DataSet batch) {
        replica.computeGradient(batch.getFeatures(), batch.getLabels());
        replica.toBatchMean(batch.numExamples());
        float[] g = replica.gradient().toFloatVector(); // the averaged gradient both placements receive
        for (int i = 0; i < n; i++) {
            gradient.putFloat(i * Float.BYTES, g[i]);
        }
        applyOnServer(t);
        clipping.apply(replica.gradient());
        replica.applyUpdate(t, 0);
    }

    private void applyOnServer(long t) {
        double sum = 0; // each shard's partial sum, then the reduction across shards
        for (SliceOptimizer s : slices) {
            sum += s.stage(sliceOf(s));
        }
        double scale = rule.clip() == UpdateRule.Clip.NORM ? rule.clipScale(Math.sqrt(sum)) : 1;
        for (SliceOptimizer s : slices) {
            s.apply(t, scale);
        }
    }

    private UnsafeBuffer sliceOf(SliceOptimizer s) {
        return new UnsafeBuffer(gradient, s.start() * Float.BYTES, Math.max(1, s.length()) * Float.BYTES);
    }

    float[] serverParams() {
        float[] out = new float[n];
        for (SliceOptimizer s : slices) {
            for (int i = 0; i < s.length(); i++) {
                out[s.start() + i] = s.params().getFloat(i * Float.BYTES);
            }
        }
        return out;
    }

    /** The server's state over the whole vector, slot-major. */
    float[] serverState() {
        int slots = rule.stateSlots();
        float[] out = new float[slots * n];
        for (SliceOptimizer s : slices) {
            for (int k = 0; k < slots; k++) {
                for (int i = 0; i < s.length(); i++) {
                    out[k * n + s.start() + i] = s.state().getFloat((k * s.length() + i) * Float.BYTES);
                }
            }
        }
        return out;
    }

    float[] replicaParams() {
        return replica.params().toFloatVector();
    }

    static double maxDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs((double) a[i] - b[i]));
        }
        return max;
    }

    /** Max |a - b| over the elements of parameters whose role has optimizer state (weight, bias). */
    static double maxStateDiff(ParamRoles roles, int slots, float[] a, float[] b) {
        int n = roles.length();
        double max = 0;
        for (int r = 0; r < roles.ranges(); r++) {
            if (roles.role(r) != ParamRoles.WEIGHT && roles.role(r) != ParamRoles.BIAS) {
                continue;
            }
            for (int k = 0; k < slots; k++) {
                for (int i = roles.start(r); i < roles.end(r); i++) {
                    max = Math.max(max, Math.abs((double) a[k * n + i] - b[k * n + i]));
                }
            }
        }
        return max;
    }

    /** Rows of the sklearn digits for step {@code t}: 32 rows, cycling through the first 1536. */
    static DataSet batch(int t) {
        List<Sample> all = digits();
        int from = (t * BATCH) % 1536;
        float[][] x = new float[BATCH][];
        float[][] y = new float[BATCH][];
        for (int i = 0; i < BATCH; i++) {
            x[i] = all.get(from + i).features();
            y[i] = all.get(from + i).labels();
        }
        return new DataSet(Nd4j.create(x), Nd4j.create(y));
    }

    static synchronized List<Sample> digits() {
        if (digits == null) {
            try {
                digits = Digits.load();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return digits;
    }
}
