package io.lockstep.worker.exchange;

import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.server.JobListeners;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The exchange of a job whose workers all run in the driver's JVM (embedded Spark): nothing crosses a
 * wire and no parameter server is involved; all-gathers happen in memory, and the group's lowest rank
 * reports each step to the driver's listeners.
 * <ul>
 *   <li>Optimizer "on the server": the members split the vector and each reduces, checks and steps its
 *       slice on its own core ({@link SplitStep}), then writes it into every member's parameters.</li>
 *   <li>Optimizer on the replicas: the {@link JvmWorkerGroup}'s leader reduces the gradients into its own
 *       vector; the members copy that mean and acknowledge, after which the leader may write it again;
 *       every replica applies its DL4J updater.</li>
 * </ul>
 */
public final class InMemoryExchange implements GradientExchange {
    private final JvmWorkerGroup group;
    private final int rank;
    private final int workers;
    private final ServerOptimizer serverOptimizer; // null: the replicas apply the optimizer
    private final float[] serverState;
    private final SingleWorkerExchange leader; // replica placement, on the lowest rank: reports the step
    private final JobListeners listeners;
    private final long timeoutNs;
    private final UnsafeBuffer answer = new UnsafeBuffer(0, 0);
    private final UnsafeBuffer mine = new UnsafeBuffer(0, 0);
    private SplitStep split;
    private long total;
    private float meanLoss;
    private boolean skipped;
    private double norm = Double.NaN;

    /**
     * @param serverOptimizer the job's optimizer when it runs "on the server" (split over the members), or null
     * @param serverState     its state to start from, slot-major (null: fresh)
     * @param listeners       the driver's, or null
     */
    public InMemoryExchange(JvmWorkerGroup group, int rank, int workers, ServerOptimizer serverOptimizer,
                             float[] serverState, JobListeners listeners, long timeoutMillis) {
        if (group.size() != workers) {
            throw new IllegalArgumentException("an in-process exchange needs every worker in this JVM: " + group.size()
                + " of " + workers);
        }
        group.index(rank); // fails early for a rank outside the group
        this.group = group;
        this.rank = rank;
        this.workers = workers;
        this.serverOptimizer = serverOptimizer;
        this.serverState = serverState;
        this.listeners = listeners;
        this.leader = serverOptimizer == null && group.leads(rank) ? new SingleWorkerExchange(null, null, listeners) : null;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException {
        long g = GradientExchange.address(gradient, "gradient");
        if (serverOptimizer != null) {
            if (split == null) {
                split = new SplitStep(group, rank, serverOptimizer, params.toFloatVector(), serverState);
            }
            split.step(step, g, GradientExchange.address(params, "parameter vector"), samples, loss, timeoutNs);
            total = split.total();
            meanLoss = split.loss();
            skipped = split.skipped();
            norm = split.norm();
            if (group.leads(rank) && listeners != null) {
                listeners.steps().onStep(step, total, meanLoss, System.nanoTime());
            }
            return;
        }
        int n = Math.toIntExact(gradient.length());
        group.post(rank, step, g, samples, loss);
        if (leader != null) {
            total = group.reduce(step, g, n, timeoutNs);
            leader.exchange(step, gradient, params, Math.toIntExact(total), group.loss());
            meanLoss = leader.meanLoss();
            group.publish(step, g, total, meanLoss);
            group.awaitAcks(step, timeoutNs);
            return;
        }
        long from = group.awaitAnswer(rank, step, timeoutNs);
        total = group.total();
        meanLoss = group.meanLoss();
        answer.wrap(from, n * Float.BYTES);
        mine.wrap(g, n * Float.BYTES);
        mine.putBytes(0, answer, 0, n * Float.BYTES);
        group.ack(rank, step);
    }

    @Override public boolean appliesOptimizer() { return serverOptimizer != null; }
    @Override public boolean skipped() { return skipped; }
    @Override public double gradientNorm() { return norm; }

    @Override
    public float[] optimizerState(long step) {
        if (serverOptimizer == null) {
            throw new IllegalStateException("rank " + rank + ": the optimizer state is the replica's (placement replica)");
        }
        if (split != null) {
            return split.state();
        }
        if (serverState != null && serverState.length > 0) {
            return serverState.clone();
        }
        float[] fresh = new float[Math.toIntExact(serverOptimizer.stateLength())];
        java.util.Arrays.fill(fresh, SliceOptimizer.initialState(serverOptimizer.rule()));
        return fresh;
    }

    @Override public long totalSamples() { return total; }
    @Override public float meanLoss() { return meanLoss; }

    @Override
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        byte[][] all = group.gather(rank, round, blob, timeoutNs);
        if (group.leads(rank) && listeners != null) {
            byte[][] copy = new byte[all.length][];
            for (int i = 0; i < all.length; i++) {
                copy[i] = all[i].clone();
            }
            listeners.gathers().onGathered(round, copy);
        }
        return all;
    }

    @Override public int rank() { return rank; }
    @Override public int workers() { return workers; }

    @Override
    public void close() {
        group.leave();
    }
}
