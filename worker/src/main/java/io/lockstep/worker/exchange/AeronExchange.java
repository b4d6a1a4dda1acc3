package io.lockstep.worker.exchange;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * The exchange through the Aeron parameter server: the gradient goes out straight from its
 * off-heap buffer and the answer (average, or parameters with the optimizer on the server) is
 * written back over the replica's own off-heap vector (no Java-heap copy).
 */
public final class AeronExchange implements GradientExchange {
    private final GradientClient client;
    private final ExchangeSpec spec;
    private UnsafeBuffer state; // placement server: where fetched optimizer state lands (allocated on first use)

    public AeronExchange(GradientClient client, ExchangeSpec spec) {
        this.client = client;
        this.spec = spec;
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss)
        throws TimeoutException, InterruptedException {
        exchange(step, gradient, params, samples, loss, -1L);
    }

    /** As {@link #exchange(long, INDArray, INDArray, int, float)}, contributing to the shards in {@code shardMask} only. */
    void exchange(long step, INDArray gradient, INDArray params, int samples, float loss, long shardMask)
        throws TimeoutException, InterruptedException {
        long g = GradientExchange.address(gradient, "gradient");
        client.exchange(step, g, samples, loss, spec.serverOptimizer() ? GradientExchange.address(params, "parameter vector")
            : g, shardMask);
    }

    /** The spec it exchanges by: with the shards on the executors, the one naming every shard's endpoint. */
    public ExchangeSpec spec() {
        return spec;
    }

    /** The shards' layout: which ranges of the vector each shard owns. */
    ShardLayout layout() {
        return spec.layout();
    }

    @Override public boolean appliesOptimizer() { return spec.serverOptimizer(); }
    @Override public boolean skipped() { return client.skipped(); }
    @Override public double gradientNorm() { return client.gradientNorm(); }

    @Override
    public float[] optimizerState(long step) throws TimeoutException, InterruptedException {
        int length = Math.toIntExact(spec.optimizer().stateLength());
        if (state == null) {
            state = new UnsafeBuffer(BufferUtil.allocateDirectAligned(Math.max(1, length) * Float.BYTES, 64));
        }
        client.fetchState(step, state.addressOffset());
        float[] out = new float[length];
        for (int i = 0; i < length; i++) {
            out[i] = state.getFloat(i * Float.BYTES);
        }
        return out;
    }

    @Override public long totalSamples() { return client.totalSamples(); }
    @Override public float meanLoss() { return client.meanLoss(); }

    @Override
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        return client.allGather(round, blob);
    }

    @Override public int rank() { return client.rank(); }
    @Override public int workers() { return spec.workers(); }
    @Override public void close() { client.close(); }
}
