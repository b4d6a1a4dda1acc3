package io.lockstep.worker.exchange;

import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.SliceOptimizer;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.TimeoutException;

/**
 * One member's part of a step with the optimizer "on the server" when the whole job runs in one JVM: the
 * vector is split into one slice per member of the {@link JvmWorkerGroup}, and every member, on its own core,
 * sums its slice of the group's gradients where they lie straight into its own {@link SliceOptimizer}, posts
 * that slice's sum of squares, and once all have (the total decides finiteness and the clip factor alike
 * everywhere) applies the step to its slice and writes the new values into every member's parameters. The
 * parameter server's sharding, in shared memory: no member waits through another's work.
 *
 * <p>Three waits per step, each for every other member, each with the stall budget as deadline: their
 * gradients, their partial sums, their writes. A member may touch its vectors again only after the last.
 */
final class SplitStep {
    private final JvmWorkerGroup group;
    private final int rank;
    private final int members;
    private final int n;
    private final int lo;
    private final ServerOptimizer optimizer;
    private final SliceOptimizer slice;
    private final long[] addresses;
    private final float[] weights;
    private long total;
    private float loss;
    private boolean skipped;
    private double norm = Double.NaN;

    /** This member's slice of {@code params} (the starting parameters) and of {@code state} (slot-major; null: fresh). */
    SplitStep(JvmWorkerGroup group, int rank, ServerOptimizer optimizer, float[] params, float[] state) {
        this.group = group;
        this.rank = rank;
        this.members = group.size();
        this.n = params.length;
        int me = group.index(rank);
        this.lo = slice(me);
        this.optimizer = optimizer;
        this.slice = new SliceOptimizer(optimizer.rule(), optimizer.roles(), lo, slice(me + 1) - lo);
        slice.load(params, state);
        this.addresses = new long[members];
        this.weights = new float[members];
        group.register(rank, slice);
    }

    /** Where member {@code m}'s slice starts (m = members: the end). */
    private int slice(int m) {
        return (int) ((long) n * m / members);
    }

    void step(long step, long gradient, long params, int samples, float localLoss, long timeoutNs)
        throws TimeoutException, InterruptedException {
        group.post(rank, step, gradient, samples, localLoss, params);
        group.awaitEvery(JvmWorkerGroup.STEP, step, rank, timeoutNs, "gradient from rank");
        long sum = 0;
        double lossSum = 0;
        int count = 0;
        for (int i = 0; i < members; i++) { // every member reads the same slots: the same totals everywhere
            int s = group.samplesOf(i);
            sum += s;
            if (s > 0) {
                lossSum += (double) group.lossOf(i) * s;
                addresses[count] = group.addressOf(i) + (long) lo * Float.BYTES;
                weights[count++] = s;
            }
        }
        total = sum;
        loss = sum == 0 ? 0f : (float) (lossSum / sum);
        group.postPartial(rank, step, slice.stage(addresses, weights, count, sum));
        group.awaitEvery(JvmWorkerGroup.PARTIAL_STEP, step, rank, timeoutNs, "sum of squares from rank");
        double sumOfSquares = group.partialTotal();
        norm = Math.sqrt(sumOfSquares);
        skipped = !Double.isFinite(sumOfSquares) || !Float.isFinite(loss);
        if (!skipped) {
            slice.apply(step, optimizer.rule().clipScale(norm));
            long bytes = (long) slice.length() * Float.BYTES;
            for (int i = 0; i < members; i++) {
                UnsafeApi.copyMemory(null, slice.params().addressOffset(), null,
                    group.paramsOf(i) + (long) lo * Float.BYTES, bytes);
            }
        }
        group.postWritten(rank, step);
        group.awaitEvery(JvmWorkerGroup.WRITTEN, step, rank, timeoutNs, "new parameters from rank");
    }

    /** The whole optimizer state, slot-major, assembled from every member's slice (between steps). */
    float[] state() {
        int slots = optimizer.rule().stateSlots();
        float[] all = new float[slots * n];
        for (int m = 0; m < members; m++) {
            SliceOptimizer s = group.slice(m);
            UnsafeBuffer st = s.state();
            for (int k = 0; k < slots; k++) {
                for (int i = 0; i < s.length(); i++) {
                    all[k * n + s.start() + i] = st.getFloat((k * s.length() + i) * Float.BYTES);
                }
            }
        }
        return all;
    }

    long total() { return total; }
    float loss() { return loss; }
    boolean skipped() { return skipped; }
    double norm() { return norm; }
}
