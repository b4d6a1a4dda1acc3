package io.lockstep.worker.exchange;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * One member of a {@link LocalGroup}: the leader reduces the group's gradients in shared memory and sends
 * the group's mean through its exchange; the other members send empty contributions through theirs and,
 * like the leader, take the answer (the average, or the parameters) from the server. Everything but the
 * gradient step (all-gathers, the optimizer state) goes through the member's own exchange unchanged.
 */
public final class GroupExchange implements GradientExchange {
    private final LocalGroup group;
    private final GradientExchange upstream;
    private final int rank;
    private final long timeoutNs;

    public GroupExchange(LocalGroup group, GradientExchange upstream, long timeoutMillis) {
        this.group = group;
        this.upstream = upstream;
        this.rank = upstream.rank();
        this.timeoutNs = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        group.index(rank); // fails early for a rank outside the group
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException {
        long address = GradientExchange.address(gradient, "gradient");
        group.post(rank, step, address, samples, loss);
        if (group.leads(rank)) {
            long total = group.reduce(step, address, Math.toIntExact(gradient.length()), timeoutNs);
            upstream.exchange(step, gradient, params, Math.toIntExact(total), group.loss());
        } else {
            upstream.exchange(step, gradient, params, 0, 0f); // the leader's frames carry this rank's samples
        }
    }

    @Override public boolean appliesOptimizer() { return upstream.appliesOptimizer(); }
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
