package io.lockstep.worker.exchange;

import io.lockstep.ps.WeightedMean;
import io.lockstep.ps.optim.SliceOptimizer;
import org.agrona.BufferUtil;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;

/**
 * The workers of one job that share a JVM: before anything crosses a wire they combine their batch means
 * into one sample-weighted mean in shared memory, and only that goes to the parameter server. Over the wire
 * ({@link AeronGroupExchange}) the members split that reduction by shard, each reducing and sending its shards'
 * ranges ({@link Reduction}) and empty frames to the rest, which keep the server's per-rank bookkeeping (and
 * its deadlines) as they were; the server's weighting by samples is unchanged: the frames carry the group's
 * sample count and loss. With the whole job in this JVM ({@link InMemoryExchange}) the leader (lowest rank)
 * reduces for the replicas, or every member steps its own slice ({@link SplitStep}).
 *
 * <p>Each member posts the address, sample count and loss of its gradient for a step into its own slot
 * (an Agrona {@link AtomicBuffer}, two cache lines per member; the step written last with release
 * semantics); a reducing member waits, with the job's stall budget as deadline, until every slot shows the
 * step. A member may not touch its gradient again before the answer to the step is back, which cannot
 * happen before every reducing member has sent, hence read, its part: no second handshake is needed.
 */
public final class JvmWorkerGroup {
    private static final Map<Long, JvmWorkerGroup> GROUPS = new ConcurrentHashMap<>();
    private static final int SLOT = 128; // two cache lines per member
    private static final int ADDRESS = 8;
    private static final int SAMPLES = 16;
    private static final int LOSS = 20;
    // the leader's slot also carries the answer, for a group that is the whole job with the optimizer on the
    // replicas (InMemoryExchange)
    private static final int RESULT = 24;   // long: address of the answer vector
    private static final int DONE = 32;     // long: step whose answer is ready (release)
    private static final int ACK = 40;      // long, each member's slot: step whose answer it has copied
    private static final int TOTAL = 48;    // int: samples of the step, all workers
    private static final int MEAN_LOSS = 52;
    // the whole job in this JVM with the optimizer "on the server", split over the members (SplitStep)
    static final int STEP = 0;              // long: step whose gradient is posted (release)
    private static final int PARAMS = 64;   // long: the member's parameter vector
    private static final int PARTIAL = 72;  // double: sum of squares of the member's slice of the mean
    static final int PARTIAL_STEP = 80;     // long: step whose partial is posted
    static final int WRITTEN = 88;          // long: step whose new slice the member has written to every vector

    private final long jobId;
    private final int[] ranks; // in order; ranks[0] leads
    private final AtomicBuffer slots;
    private final AtomicReferenceArray<SliceOptimizer> slices; // the split step's optimizers, by member
    private int open;

    private JvmWorkerGroup(long jobId, int[] ranks) {
        this.jobId = jobId;
        this.ranks = ranks;
        this.slots = new UnsafeBuffer(BufferUtil.allocateDirectAligned(ranks.length * SLOT, SLOT));
        this.slices = new AtomicReferenceArray<>(ranks.length);
        this.leader = new Reduction(this);
        for (int i = 0; i < ranks.length; i++) {
            slots.putLongVolatile(i * SLOT, -1);
            slots.putLongVolatile(i * SLOT + DONE, -1);
            slots.putLongVolatile(i * SLOT + ACK, -1);
            slots.putLongVolatile(i * SLOT + PARTIAL_STEP, -1);
            slots.putLongVolatile(i * SLOT + WRITTEN, -1);
        }
    }

    /** The group of {@code ranks} (this JVM's ranks of the job, the same array on every member), joined once per member. */
    public static JvmWorkerGroup join(long jobId, int[] ranks) {
        int[] sorted = ranks.clone();
        Arrays.sort(sorted);
        JvmWorkerGroup group = GROUPS.computeIfAbsent(jobId, id -> new JvmWorkerGroup(id, sorted));
        if (!Arrays.equals(group.ranks, sorted)) {
            throw new IllegalStateException("job " + Long.toHexString(jobId) + ": this JVM's ranks are "
                + Arrays.toString(group.ranks) + ", a task claims " + Arrays.toString(sorted));
        }
        synchronized (group) {
            group.open++;
        }
        return group;
    }

    /** A member is done; the last one removes the group. */
    void leave() {
        synchronized (this) {
            if (--open == 0) {
                GROUPS.remove(jobId, this);
            }
        }
    }

    public int size() { return ranks.length; }

    /** True for the lowest rank, which reduces and sends for the group. */
    public boolean leads(int rank) { return ranks[0] == rank; }

    int index(int rank) {
        int i = Arrays.binarySearch(ranks, rank);
        if (i < 0) {
            throw new IllegalArgumentException("rank " + rank + " is not in this JVM's group " + Arrays.toString(ranks));
        }
        return i;
    }

    /** A member's gradient (batch mean of {@code samples} samples) for {@code step} is ready at {@code address}. */
    void post(int rank, long step, long address, int samples, float loss) {
        post(rank, step, address, samples, loss, 0);
    }

    /** As above, with the member's parameter vector, which the split step writes the new parameters into. */
    void post(int rank, long step, long address, int samples, float loss, long params) {
        int at = index(rank) * SLOT;
        slots.putLong(at + PARAMS, params);
        slots.putLong(at + ADDRESS, address);
        slots.putInt(at + SAMPLES, samples);
        slots.putFloat(at + LOSS, loss);
        slots.putLongOrdered(at, step);
    }

    /**
     * The leader: waits for every member's gradient of {@code step}, then overwrites its own vector
     * ({@code n} floats at {@code address}, already posted) with the group's sample-weighted mean, summed
     * in rank order. Returns the group's samples; {@link #loss()} then holds the group's weighted loss
     * (NaN if any member's was).
     */
    long reduce(long step, long address, int n, long timeoutNs) throws TimeoutException, InterruptedException {
        long total = leader.collect(ranks[0], step, timeoutNs);
        leader.mean(address, 0, (long) n * Float.BYTES);
        return total;
    }

    private final Reduction leader; // InMemoryExchange's and the unsplit reduction's

    /** The group's weighted loss of the last {@link #reduce}. */
    float loss() { return leader.loss(); }

    /**
     * One member's side of a step's reduction: which members' vectors carry samples, with what weights, and the
     * group's mean over any byte range of the vector written into the member's own. Members that split the
     * vector reduce disjoint ranges, each into its own vector, at the same time.
     */
    static final class Reduction {
        private final JvmWorkerGroup group;
        private final long[] addresses; // the vectors with samples, in rank order
        private final float[] weights;
        private int count;
        private long total;
        private float loss;

        Reduction(JvmWorkerGroup group) {
            this.group = group;
            this.addresses = new long[group.ranks.length];
            this.weights = new float[group.ranks.length];
        }

        /**
         * Waits (as {@code rank}, already posted) for every member's gradient of {@code step} and lists the vectors
         * that carry samples. Returns the group's samples; {@link #loss()} is then the group's weighted loss (NaN if
         * any member's was).
         */
        long collect(int rank, long step, long timeoutNs) throws TimeoutException, InterruptedException {
            group.awaitEvery(STEP, step, rank, timeoutNs, "gradient from rank");
            total = 0;
            double lossSum = 0;
            count = 0;
            for (int i = 0; i < group.ranks.length; i++) {
                int s = group.samplesOf(i);
                if (s > 0) {
                    total += s;
                    lossSum += (double) group.lossOf(i) * s;
                    addresses[count] = group.addressOf(i);
                    weights[count++] = s;
                }
            }
            loss = total == 0 ? 0f : (float) (lossSum / total);
            return total;
        }

        float loss() { return loss; }

        /**
         * Overwrites bytes {@code [from, to)} of the vector at {@code own} with the group's mean of the last
         * {@link #collect}: members in rank order, on raw memory (every vector is a dense direct float vector,
         * checked by GradientExchange.address: a bounds check per element costs more than the arithmetic). A
         * single contributor's vector is the mean as it is; members without samples add nothing, whatever their
         * vectors hold (NaN included).
         */
        void mean(long own, long from, long to) {
            if (count == 0) {
                return; // no samples: the frames go out empty
            }
            if (count == 1) {
                if (addresses[0] != own) {
                    UnsafeApi.copyMemory(null, addresses[0] + from, null, own + from, to - from);
                }
                return;
            }
            // block by block (a few KB, cache-resident): per value the one loop's operations in its order
            for (long b = from; b < to; b += BLOCK * Float.BYTES) {
                int n = (int) (Math.min(to - b, BLOCK * Float.BYTES) / Float.BYTES);
                blockMean.into(block, addresses, b, weights, count, total, n);
                UnsafeApi.copyMemory(block, FLOATS, null, own + b, (long) n * Float.BYTES);
            }
        }

        private static final int BLOCK = 4096; // floats
        private static final long FLOATS = UnsafeApi.arrayBaseOffset(float[].class);
        private final float[] block = new float[BLOCK];
        private final WeightedMean blockMean = new WeightedMean(BLOCK);
    }

    // ------------------------------------------------------------------ the whole job in this JVM

    long addressOf(int member) { return slots.getLong(member * SLOT + ADDRESS); }
    int samplesOf(int member) { return slots.getInt(member * SLOT + SAMPLES); }
    float lossOf(int member) { return slots.getFloat(member * SLOT + LOSS); }
    long paramsOf(int member) { return slots.getLong(member * SLOT + PARAMS); }

    /** A member's sum of squares of its slice of the mean of {@code step}. */
    void postPartial(int rank, long step, double sumOfSquares) {
        int at = index(rank) * SLOT;
        slots.putDouble(at + PARTIAL, sumOfSquares);
        slots.putLongOrdered(at + PARTIAL_STEP, step);
    }

    /** The sum of every member's partial, in member order: the same on every member. */
    double partialTotal() {
        double total = 0;
        for (int i = 0; i < ranks.length; i++) {
            total += slots.getDouble(i * SLOT + PARTIAL);
        }
        return total;
    }

    /** A member has written its new slice of {@code step} to every member's parameters. */
    void postWritten(int rank, long step) {
        slots.putLongOrdered(index(rank) * SLOT + WRITTEN, step);
    }

    /**
     * Waits until every member but {@code rank} shows {@code step} in {@code field} ({@link #STEP} ...), all
     * of them within one stall budget.
     */
    void awaitEvery(int field, long step, int rank, long timeoutNs, String what)
        throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeoutNs;
        for (int i = 0; i < ranks.length; i++) {
            if (ranks[i] != rank) {
                await(i * SLOT + field, step, rank, ranks[i], deadline, timeoutNs, what);
            }
        }
    }


    /** The split step's optimizer of a member, for the rank that assembles the state for a checkpoint. */
    void register(int rank, SliceOptimizer slice) {
        slices.set(index(rank), slice);
    }

    SliceOptimizer slice(int member) { return slices.get(member); }

    /** The leader: the answer to {@code step} is at {@code address}; the members may copy it. */
    void publish(long step, long address, long total, float meanLoss) {
        slots.putLong(RESULT, address);
        slots.putInt(TOTAL, Math.toIntExact(total));
        slots.putFloat(MEAN_LOSS, meanLoss);
        slots.putLongOrdered(DONE, step);
    }

    /** A member: waits for the leader's answer to {@code step}; returns its address. */
    long awaitAnswer(int rank, long step, long timeoutNs) throws TimeoutException, InterruptedException {
        await(DONE, step, rank, ranks[0], System.nanoTime() + timeoutNs, timeoutNs, "answer from rank");
        return slots.getLong(RESULT);
    }

    long total() { return slots.getInt(TOTAL); }
    float meanLoss() { return slots.getFloat(MEAN_LOSS); }

    /** A member has copied the answer to {@code step}: the leader may write its vectors again. */
    void ack(int rank, long step) {
        slots.putLongOrdered(index(rank) * SLOT + ACK, step);
    }

    /** The leader: waits until every member has copied the answer to {@code step}. */
    void awaitAcks(long step, long timeoutNs) throws TimeoutException, InterruptedException {
        awaitEvery(ACK, step, ranks[0], timeoutNs, "copy of the answer by rank");
    }

    /** One wait of the group: spins, then parks, until {@code at} shows {@code step}; the message only once it failed. */
    private void await(int at, long step, int waiter, int waitedFor, long deadline, long timeoutNs, String what)
        throws TimeoutException, InterruptedException {
        for (int spins = 0; slots.getLongVolatile(at) != step; spins++) {
            if (Thread.interrupted()) {
                throw new InterruptedException("rank " + waiter + " step " + step + ": waiting for " + what + " "
                    + waitedFor + " (same JVM)");
            }
            if (System.nanoTime() - deadline > 0) {
                throw new TimeoutException("rank " + waiter + " step " + step + ": no " + what + " " + waitedFor
                    + " (same JVM) within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
            }
            pause(spins);
        }
    }

    /** Spins briefly (the answer is usually microseconds away), then parks: waiters must not starve the cores. */
    private static void pause(int spins) {
        if (spins < 200) {
            Thread.onSpinWait();
        } else {
            LockSupport.parkNanos(spins < 2_000 ? 1_000 : 50_000);
        }
    }

    private final Map<Long, Round> rounds = new ConcurrentHashMap<>();

    /** One all-gather round in memory: every member's blob, and how many have taken the result. */
    private static final class Round {
        final byte[][] blobs;
        final java.util.concurrent.atomic.AtomicInteger in = new java.util.concurrent.atomic.AtomicInteger();
        final java.util.concurrent.atomic.AtomicInteger out = new java.util.concurrent.atomic.AtomicInteger();

        Round(int size) {
            blobs = new byte[size][];
        }
    }

    /** All-gather among the members (the whole job): every rank's blob of {@code round}, by position in the group. */
    byte[][] gather(int rank, long round, byte[] blob, long timeoutNs) throws TimeoutException, InterruptedException {
        Round r = rounds.computeIfAbsent(round, k -> new Round(ranks.length));
        r.blobs[index(rank)] = blob.clone();
        r.in.incrementAndGet(); // a volatile write after the blob: whoever sees the count sees the blob
        long deadline = System.nanoTime() + timeoutNs;
        while (r.in.get() < ranks.length) {
            if (Thread.interrupted()) {
                throw new InterruptedException("rank " + rank + " gather round " + round);
            }
            if (System.nanoTime() - deadline > 0) {
                StringBuilder missing = new StringBuilder();
                for (int i = 0; i < ranks.length; i++) {
                    if (r.blobs[i] == null) {
                        missing.append(missing.length() == 0 ? "" : ",").append(ranks[i]);
                    }
                }
                throw new TimeoutException("rank " + rank + " gather round " + round + ": no blob from rank(s) "
                    + missing + " (same JVM) within " + TimeUnit.NANOSECONDS.toMillis(timeoutNs) + " ms");
            }
            LockSupport.parkNanos(10_000);
        }
        byte[][] out = new byte[ranks.length][];
        for (int i = 0; i < out.length; i++) {
            out[i] = r.blobs[i].clone();
        }
        if (r.out.incrementAndGet() == ranks.length) {
            rounds.remove(round);
        }
        return out;
    }
}
