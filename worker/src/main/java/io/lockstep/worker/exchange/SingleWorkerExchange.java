package io.lockstep.worker.exchange;

import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.SliceOptimizer;
import io.lockstep.ps.server.JobListeners;
import org.agrona.concurrent.UnsafeBuffer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The exchange of a job with a single worker: its own mean already is the global mean, so nothing
 * crosses a network. With the optimizer "on the server", the server is this object: one
 * {@link SliceOptimizer} over the whole vector, the same code the shards run, in the worker's thread.
 * Given the driver's {@link JobListeners} (the worker runs in the driver's JVM), it tells them of every
 * step and all-gather, as the parameter server would.
 */
public final class SingleWorkerExchange implements GradientExchange {
    private final ServerOptimizer serverOptimizer; // null: the replica applies its DL4J updater
    private final float[] initialState;
    private final JobListeners listeners; // null: nobody to tell
    private final UnsafeBuffer gradientView = new UnsafeBuffer(0, 0);
    private final UnsafeBuffer paramsView = new UnsafeBuffer(0, 0);
    private SliceOptimizer optimizer;
    private long samples;
    private float loss;
    private boolean skipped;
    private double norm = Double.NaN;

    /** Placement replica. */
    public SingleWorkerExchange() {
        this(null, null, null);
    }

    /**
     * Placement server, starting from the parameters of the first exchange and {@code state}
     * (slot-major; null or empty: a fresh optimizer).
     */
    public SingleWorkerExchange(ServerOptimizer serverOptimizer, float[] state) {
        this(serverOptimizer, state, null);
    }

    /** As above, reporting steps and gathers to the driver's {@code listeners} (null: none). */
    public SingleWorkerExchange(ServerOptimizer serverOptimizer, float[] state, JobListeners listeners) {
        this.serverOptimizer = serverOptimizer;
        this.initialState = state;
        this.listeners = listeners;
    }

    @Override
    public void exchange(long step, INDArray gradient, INDArray params, int samples, float loss) {
        this.samples = samples;
        this.loss = loss;
        if (serverOptimizer != null) {
            step(step, gradient, params);
        }
        if (listeners != null) {
            listeners.steps().onStep(step, samples, loss, System.nanoTime());
        }
    }

    private void optimizer(int n, INDArray params) {
        if (optimizer == null) {
            optimizer = new SliceOptimizer(serverOptimizer.rule(), serverOptimizer.roles(), 0, n);
            optimizer.load(params.toFloatVector(), initialState);
        }
    }

    private void step(long step, INDArray gradient, INDArray params) {
        int n = Math.toIntExact(gradient.length());
        optimizer(n, params);
        gradientView.wrap(GradientExchange.address(gradient, "gradient"), n * Float.BYTES);
        decide(step, n, optimizer.stage(gradientView), params);
    }

    /** Skips a step whose gradient is not finite; else applies it (clipped) and writes the parameters out. */
    private void decide(long step, int n, double total, INDArray params) {
        norm = Math.sqrt(total);
        skipped = !Double.isFinite(total) || !Float.isFinite(loss);
        if (!skipped) {
            optimizer.apply(step, serverOptimizer.rule().clipScale(norm));
            paramsView.wrap(GradientExchange.address(params, "parameter vector"), n * Float.BYTES);
            paramsView.putBytes(0, optimizer.params(), 0, n * Float.BYTES);
        }
    }

    @Override public boolean appliesOptimizer() { return serverOptimizer != null; }
    @Override public boolean skipped() { return skipped; }
    @Override public double gradientNorm() { return norm; }

    @Override
    public float[] optimizerState(long step) {
        if (serverOptimizer == null) {
            throw new IllegalStateException("the optimizer state is the replica's (placement replica)");
        }
        int length = Math.toIntExact(serverOptimizer.stateLength());
        if (optimizer == null) { // no step yet: the state it started from
            if (initialState != null && initialState.length > 0) {
                return initialState.clone();
            }
            float[] fresh = new float[length];
            java.util.Arrays.fill(fresh, SliceOptimizer.initialState(serverOptimizer.rule()));
            return fresh;
        }
        float[] out = new float[length];
        org.agrona.concurrent.UnsafeBuffer state = optimizer.state();
        for (int i = 0; i < length; i++) {
            out[i] = state.getFloat(i * Float.BYTES);
        }
        return out;
    }

    @Override public long totalSamples() { return samples; }
    @Override public float meanLoss() { return loss; }
    @Override
    public byte[][] allGather(long round, byte[] blob) {
        if (listeners != null) {
            listeners.gathers().onGathered(round, new byte[][]{blob.clone()});
        }
        return new byte[][]{blob};
    }
    @Override public int rank() { return 0; }
    @Override public int workers() { return 1; }
    @Override public void close() { }
}
