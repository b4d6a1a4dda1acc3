package io.lockstep.worker.exchange;

import io.lockstep.ps.GradientClient;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.concurrent.TimeoutException;

/**
 * The exchange through the Aeron parameter server: the gradient goes out straight from its
 * off-heap buffer and the average is written back over it (no Java-heap copy).
 */
public final class AeronExchange implements GradientExchange {
    private final GradientClient client;
    private final int workers;

    public AeronExchange(GradientClient client, int workers) {
        this.client = client;
        this.workers = workers;
    }

    @Override
    public void exchange(long step, INDArray gradient, int samples, float loss)
        throws TimeoutException, InterruptedException {
        if (gradient.dataType() != DataType.FLOAT || gradient.offset() != 0) {
            throw new IllegalArgumentException("the exchange needs a dense float32 vector at offset 0, got " + gradient.dataType()
                + " at offset " + gradient.offset());
        }
        client.exchange(step, gradient.data().address(), samples, loss);
    }

    @Override public long totalSamples() { return client.totalSamples(); }
    @Override public float meanLoss() { return client.meanLoss(); }

    @Override
    public byte[][] allGather(long round, byte[] blob) throws TimeoutException, InterruptedException {
        return client.allGather(round, blob);
    }

    @Override public int rank() { return client.rank(); }
    @Override public int workers() { return workers; }
    @Override public void close() { client.close(); }
}
