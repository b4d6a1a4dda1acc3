package io.lockstep.bench;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.ps.server.StepListener;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.concurrent.UnsafeBuffer;

import java.security.SecureRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The real exchange path with nothing else around it: a {@link ParameterServer} and N threads in this
 * JVM, each with its own {@link GradientClient} and off-heap vector, exchanging back to back (the
 * drivers as a training job uses them: one shared for IPC, one for the server and one for the
 * workers over UDP). Rank 0 records how long each step took, from the return of the previous
 * exchange to the return of this one: the exchange is itself a barrier, so that is the cycle time of
 * the whole group.
 *
 * <p>Runs a planned number of steps, or until {@link #requestStop()}; every rank stops after the same
 * step (see there), so none is left waiting for the others.
 */
final class ExchangeRun implements AutoCloseable {
    /** Stall budget of the benchmark's exchanges: generous, a 25M-float step over UDP takes seconds. */
    static final long TIMEOUT_MS = 300_000;

    final ExchangeSpec spec;
    private final int floats;
    private final Thread[] threads;
    private final long[] stepNanos;
    private final AtomicLong completed = new AtomicLong(); // steps rank 0 finished
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private final EmbeddedAeron serverAeron;
    private final EmbeddedAeron workerAeron;
    private final ParameterServer server;
    private volatile long lastStep;
    private volatile boolean stopRequested;

    /**
     * Starts the server and the client threads; they connect, then exchange until stopped.
     *
     * @param steps       steps to run, or {@code Long.MAX_VALUE} to run until {@link #requestStop()}
     * @param recordSteps how many step times rank 0 keeps (later steps still run, unrecorded)
     */
    ExchangeRun(ExchangeSpec.Transport transport, int clients, int floats, int shards, int termLength, int mtu,
                long steps, int recordSteps) {
        this(transport, clients, floats, shards, termLength, mtu, steps, recordSteps, false);
    }

    /** As above; {@code clear}: frames in the clear, unsealed (what the exchange costs without AES-GCM). */
    ExchangeRun(ExchangeSpec.Transport transport, int clients, int floats, int shards, int termLength, int mtu,
                long steps, int recordSteps, boolean clear) {
        this.floats = floats;
        this.lastStep = steps == Long.MAX_VALUE ? Long.MAX_VALUE : steps - 1;
        ShardLayout layout = new ShardLayout(floats, shards, ExchangeSpec.chunkValuesFor(mtu));
        ExchangeSpec created = ExchangeSpec.builder(new SecureRandom().nextLong(), layout, clients)
            .transport(transport).termLength(termLength).mtu(mtu).timeoutMillis(TIMEOUT_MS).build();
        this.spec = clear ? created.withSecret(JobSecret.plaintextForBenchmarks()) : created;
        this.stepNanos = new long[recordSteps];
        this.serverAeron = EmbeddedAeron.forServer(spec);
        EmbeddedAeron workers = null;
        ParameterServer started = null;
        try {
            workers = EmbeddedAeron.forWorkers(spec);
            started = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
        } catch (RuntimeException e) {
            if (workers != null) {
                workers.close();
            }
            serverAeron.close();
            throw e;
        }
        this.workerAeron = workers;
        this.server = started;
        threads = new Thread[clients];
        for (int r = 0; r < clients; r++) {
            int rank = r;
            threads[r] = new Thread(() -> runClient(rank), "bench-client-" + r);
            threads[r].setDaemon(true);
        }
        for (Thread t : threads) {
            t.start();
        }
    }

    private void runClient(int rank) {
        try (OffHeap memory = new OffHeap(floats * Float.BYTES)) {
            exchangeUntilLastStep(rank, memory.buffer);
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        }
    }

    private void exchangeUntilLastStep(int rank, UnsafeBuffer vector) throws Exception {
        for (int i = 0; i < floats; i++) {
            vector.putFloat(i * Float.BYTES, (rank + 1) * 1e-3f * (i % 1000));
        }
        try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
            client.awaitConnected();
            long previous = System.nanoTime();
            for (long step = 0; step <= lastStep; step++) {
                client.exchange(step, vector.addressOffset(), 32, 0.5f);
                if (rank == 0) {
                    long now = System.nanoTime();
                    if (step < stepNanos.length) {
                        stepNanos[(int) step] = now - previous;
                    }
                    previous = now;
                    completed.lazySet(step + 1);
                    if (stopRequested && lastStep > step + 1) {
                        lastStep = step + 1;
                    }
                }
            }
        }
    }

    /** Steps rank 0 has finished so far. */
    long completedSteps() {
        return completed.get();
    }

    Thread[] clientThreads() {
        return threads.clone();
    }

    ParameterServer server() {
        return server;
    }

    /**
     * Asks the clients to stop soon. Rank 0 alone picks the last step: having finished step k, it makes
     * k + 1 the last before it sends any frame of k + 1. No rank can finish k + 1 without those frames,
     * so every rank reads the new last step by then, and all stop after k + 1.
     */
    void requestStop() {
        stopRequested = true;
    }

    /** Waits for every client to finish its planned or requested last step; rethrows the first client's failure. */
    void await(long timeoutMillis) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        for (Thread t : threads) {
            long left = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            t.join(Math.max(1, left));
            if (t.isAlive()) {
                throw new TimeoutException(t.getName() + " still exchanging after " + timeoutMillis + " ms (step "
                    + completed.get() + "; server waits for: " + server.waitingFor() + ")");
            }
        }
        Throwable e = failure.get();
        if (e == null) {
            e = server.failure();
        }
        if (e != null) {
            throw new IllegalStateException("exchange benchmark failed: " + e.getMessage(), e);
        }
    }

    /**
     * Runs {@code warmup + measured} steps and returns the measured ones' durations in seconds (rank 0's
     * cycle times); the run is finished afterwards.
     */
    double[] stepSeconds(int warmup, int measured) throws TimeoutException, InterruptedException {
        if (warmup + measured > stepNanos.length || lastStep != warmup + measured - 1) {
            throw new IllegalArgumentException("this run was planned for " + (lastStep + 1) + " steps, "
                + stepNanos.length + " recorded");
        }
        await(TIMEOUT_MS * (warmup + measured));
        double[] seconds = new double[measured];
        for (int i = 0; i < measured; i++) {
            seconds[i] = stepNanos[warmup + i] / 1e9;
        }
        return seconds;
    }

    /** Stops the clients if still running (after the step they are in) and closes server and drivers. */
    @Override
    public void close() {
        requestStop();
        try {
            for (Thread t : threads) {
                t.join(TimeUnit.SECONDS.toMillis(30));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                server.close();
            } finally {
                workerAeron.close();
                serverAeron.close();
            }
        }
    }
}
