package io.lockstep.worker.exchange;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * One member of a {@link JvmWorkerGroup} exchanging through the Aeron parameter server: the members split the
 * group's reduction by shard. Member m of k owns the shards s with {@code s·k/S = m}; it waits for every
 * member's gradient, writes the group's sample-weighted mean of its shards' ranges (summed in rank order)
 * into its own vector and sends those shards that mean with the group's sample count and loss, and every
 * other shard an empty frame. So one full contribution per JVM crosses the wire, every shard's slice of it
 * reduced on its own member's core. Every member takes every shard's answer (the average, or the
 * parameters). Everything but the gradient step (all-gathers, the optimizer state) goes through the
 * member's own exchange unchanged.
 *
 * <p>The ranges are disjoint, so members read each other's vectors while overwriting their own. No answer
 * exists before every member has sent every shard a frame, which each does only after all its reading, so a
 * member that has its answers may write its vectors again.
 */
public final class AeronGroupExchange implements GradientExchange {
    private final JvmWorkerGroup group;
    private final AeronExchange upstream;
    private final int rank;
    private final long timeoutNs;
    private final JvmWorkerGroup.Reduction reduction;
    private final long shardMask;   // the shards this member reduces and sends
    private final long from;        // their byte range of the vector (empty: none)
    private final long to;

    public AeronGroupExchange(JvmWorkerGroup group, AeronExchange upstream, long timeoutMillis) {
        this.group = group;
        this.upstream = upstream;
        this.rank = upstream.rank();
        this.timeoutNs = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        this.reduction = new JvmWorkerGroup.Reduction(group);
        int member = group.index(rank); // fails early for a rank outside the group
        // the shards spread over the members as over ranks (ExchangeSpec.hostRank): a member's are contiguous,
        // so its part of the vector is one range
        ShardLayout layout = upstream.layout();
        int shards = layout.shards();
        long mask = 0;
        long from = 0;
        long to = 0;
        for (int s = 0; s < shards; s++) {
            if (ExchangeSpec.hostRank(s, shards, group.size()) == member) {
                from = mask == 0 ? (long) layout.shardStart(s) * Float.BYTES : from;
                to = (long) (layout.shardStart(s) + layout.shardLength(s)) * Float.BYTES;
                mask |= 1L << s;
            }
        }
        this.shardMask = mask;
        this.from = from;
        this.to = to;
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException {
        long address = GradientExchange.address(gradient, "gradient");
        group.post(rank, step, address, samples, loss);
        long total = reduction.collect(rank, step, timeoutNs);
        reduction.mean(address, from, to);
        upstream.exchange(step, gradient, params, Math.toIntExact(total), reduction.loss(), shardMask);
    }

    @Override public boolean appliesOptimizer() { return upstream.appliesOptimizer(); }
    @Override public boolean keepsGradient() { return false; } // its shards' ranges now hold the group's mean
    @Override public boolean skipped() { return upstream.skipped(); }
    @Override public double gradientNorm() { return upstream.gradientNorm(); }

    @Override
    public float[] optimizerState(long step) throws TimeoutException, InterruptedException {
        return upstream.optimizerState(step);
    }

    @Override public long totalSamples() { return upstream.totalSamples(); }
    @Override public float meanLoss() { return upstream.meanLoss(); }

    @Override
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        return upstream.allGather(round, blob);
    }

    @Override public int rank() { return rank; }
    @Override public int workers() { return upstream.workers(); }

    @Override
    public void close() {
        try {
            upstream.close();
        } finally {
            group.leave();
        }
    }
}
