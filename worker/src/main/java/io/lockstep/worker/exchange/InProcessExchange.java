package io.lockstep.worker.exchange;

import io.lockstep.ps.JobListeners;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The exchange of a job whose workers all run in the driver's JVM (embedded Spark): nothing crosses a
 * wire and no parameter server is involved. The {@link LocalGroup}'s leader reduces the gradients in
 * shared memory, takes the step with a {@link LocalExchange} (with the optimizer "on the server", the
 * shards' {@code SliceOptimizer} over the whole vector, run once; else the replicas' DL4J updaters each
 * apply the mean) and reports it to the driver's listeners; the members copy the answer (the mean, or the
 * new parameters) from the leader's vector and acknowledge, after which the leader may write it again.
 * All-gathers happen in memory.
 */
public final class InProcessExchange implements GradientExchange {
    private final LocalGroup group;
    private final int rank;
    private final int workers;
    private final LocalExchange leader; // null on the members
    private final JobListeners listeners;
    private final long timeoutNs;
    private final boolean serverPlacement;
    private final UnsafeBuffer answer = new UnsafeBuffer(0, 0);
    private final UnsafeBuffer mine = new UnsafeBuffer(0, 0);
    private long total;
    private float meanLoss;
    private boolean skipped;
    private double norm = Double.NaN;

    /**
     * @param leader the step-taker for the lowest rank of the group ({@code new LocalExchange(...)} with the
     *               optimizer and state of the job), null for every other rank
     */
    public InProcessExchange(LocalGroup group, int rank, int workers, boolean serverPlacement, LocalExchange leader,
                             JobListeners listeners, long timeoutMillis) {
        if (group.size() != workers) {
            throw new IllegalArgumentException("an in-process exchange needs every worker in this JVM: " + group.size()
                + " of " + workers);
        }
        if (group.leads(rank) != (leader != null)) {
            throw new IllegalArgumentException("rank " + rank + (leader == null ? " leads its group and needs"
                : " does not lead its group and takes no") + " step-taker");
        }
        this.group = group;
        this.rank = rank;
        this.workers = workers;
        this.leader = leader;
        this.listeners = listeners;
        this.timeoutNs = TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.serverPlacement = serverPlacement;
        if (leader != null && leader.appliesOptimizer() != serverPlacement) {
            throw new IllegalArgumentException("the leader's step-taker disagrees on the optimizer placement");
        }
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException {
        long g = GradientExchange.address(gradient, "gradient");
        int n = Math.toIntExact(gradient.length());
        group.post(rank, step, g, samples, loss);
        boolean server = serverPlacement;
        if (leader != null) {
            if (server) { // the group's mean goes straight into the optimizer, summed where the gradients lie
                total = group.contributors(step, g, n, timeoutNs);
                leader.exchangeGroup(step, group, params, total, group.loss());
            } else {      // the replicas apply DL4J's updater to the mean: it must be in the vectors
                total = group.reduce(step, g, n, timeoutNs);
                leader.exchange(step, gradient, params, Math.toIntExact(total), group.loss());
            }
            meanLoss = leader.meanLoss();
            skipped = leader.skipped();
            norm = leader.gradientNorm();
            group.publish(step, server ? GradientExchange.address(params, "parameter vector") : g, total, meanLoss,
                skipped, norm);
            group.awaitAcks(step, timeoutNs);
            return;
        }
        long from = group.awaitAnswer(rank, step, timeoutNs);
        total = group.total();
        meanLoss = group.meanLoss();
        skipped = group.skipped();
        norm = group.norm();
        if (!(server && skipped)) {
            answer.wrap(from, n * Float.BYTES);
            mine.wrap(server ? GradientExchange.address(params, "parameter vector") : g, n * Float.BYTES);
            mine.putBytes(0, answer, 0, n * Float.BYTES);
        }
        group.ack(rank, step);
    }

    @Override public boolean appliesOptimizer() { return serverPlacement; }
    @Override public boolean skipped() { return skipped; }
    @Override public double gradientNorm() { return norm; }

    @Override
    public float[] optimizerState(long step) {
        if (leader == null) {
            throw new IllegalStateException("rank " + rank + ": the optimizer state is kept by rank 0 (in-process exchange)");
        }
        return leader.optimizerState(step);
    }

    @Override public long totalSamples() { return total; }
    @Override public float meanLoss() { return meanLoss; }

    @Override
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        byte[][] all = group.gather(rank, round, blob, timeoutNs);
        if (leader != null && listeners != null) {
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
