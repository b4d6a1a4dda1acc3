package io.lockstep.ps.server;

import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.HalfCodec;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.UnsafeApi;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The arithmetic of one shard for one step, free of any transport so it can be proven on its
 * own: validates each frame, sums the chunks of the current step from every worker and, once
 * all have arrived, turns the sum into the sample-weighted average.
 *
 * <p>Workers send the MEAN gradient of their batch, g_r, with its sample count n_r. The shard
 * returns sum_r(n_r * g_r) / sum_r(n_r): the sample-weighted mean, which is exactly the mean
 * gradient of one big batch holding every worker's samples, however unevenly they are split.
 *
 * <p>Each chunk is averaged the moment the last worker's copy of it arrives (every worker's
 * sample count is known by then: each chunk frame carries it), so a shard can send early
 * chunks back while later ones are still arriving.
 *
 * <p>Nothing is summed unless it is proven to come from the rank it names: every check on the
 * header comes first and changes nothing, then the frame is opened with that rank's key
 * ({@link FrameCipher}) into a scratch array, and only a frame whose tag holds is recorded and summed.
 * A forged frame (a zero-sample frame "from rank 1", say) is dropped as unauthenticated and can
 * neither count as that rank's contribution nor stall the step; a replay of a real frame carries its
 * old step and is stale, or a chunk already in and is a duplicate.
 *
 * <p>Values arrive in the job's {@link WireFormat}: float32 are summed as they are, 16-bit values are
 * widened to float32 as they are summed (the sum and the average stay float32); a frame of another
 * format than the job's is malformed.
 *
 * <p>Single-threaded (owned by one {@link ShardAgent}); nothing is allocated per frame but what the
 * JDK's GCM allocates ({@link FrameCipher}). Which ranks are still missing is kept as a bitset and a count
 * too, for the agent to publish to other threads ({@link WaitingBoard}).
 */
public final class ShardAggregator {

    /** Outcome of {@link #onFrame}: CHUNK_READY averaged one chunk, COMPLETED the shard's last. */
    public enum Outcome {
        ACCEPTED, CHUNK_READY, COMPLETED, FOREIGN_JOB, STALE_STEP, MALFORMED, DUPLICATE, UNAUTHENTICATED
    }

    private final long jobId;
    private final int shard;
    private final ShardLayout layout;
    private final int workers;
    private final int chunkCount;
    private final int shardStart;
    private final GradientFrame frame = new GradientFrame();
    private final GradientFrame opened = new GradientFrame(); // over the opened header
    private UnsafeBuffer sum;
    private UnsafeBuffer previous; // the last step's averages, while a worker may still ask for them again
    private final boolean[] received;
    private final int[] samplesByRank;
    private final int[] arrivals;
    private final int[] ready;
    private final DropCounters drops;
    private final FrameCipher[] fromRank;
    private final WireFormat wire;
    private final int[] chunksByRank; // chunks of the current step in, by rank

    private long step;
    private int accepted; // frames summed this step
    private int readyCount;
    private long totalSamples;
    private double weightedLoss;
    private long previousSamples;
    private float previousLoss;
    private long missingMask;   // ranks 0-63 whose chunks are not all in
    private int missingCount;   // ranks whose chunks are not all in

    public ShardAggregator(long jobId, int shard, ShardLayout layout, int workers, long firstStep, JobSecret secret,
                           DropCounters drops) {
        this(jobId, shard, layout, workers, firstStep, secret, drops, WireFormat.FP32);
    }

    /** An aggregator whose workers send their gradients in {@code wire}. */
    public ShardAggregator(long jobId, int shard, ShardLayout layout, int workers, long firstStep, JobSecret secret,
                           DropCounters drops, WireFormat wire) {
        if (workers < 1) {
            throw new IllegalArgumentException("workers must be >= 1, got " + workers);
        }
        GradientFrame.requireLittleEndian();
        this.jobId = jobId;
        this.shard = shard;
        this.layout = layout;
        this.workers = workers;
        this.chunkCount = layout.chunkCount(shard);
        this.shardStart = layout.shardStart(shard);
        this.sum = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * Float.BYTES, 64));
        this.previous = new UnsafeBuffer(BufferUtil.allocateDirectAligned(
            Math.max(1, layout.shardLength(shard)) * Float.BYTES, 64));
        this.received = new boolean[workers * chunkCount];
        this.samplesByRank = new int[workers];
        this.arrivals = new int[chunkCount];
        this.ready = new int[chunkCount];
        this.drops = drops;
        this.fromRank = FrameCipher.perRank(secret, jobId, FrameHeader.TYPE_GRADIENT, workers, new FrameCipher.Scratch());
        this.wire = wire;
        this.chunksByRank = new int[workers];
        this.step = firstStep;
        resetStep();
    }

    public Outcome onFrame(DirectBuffer buffer, int offset, int length) {
        frame.wrap(buffer, offset, length);
        if (length < GradientFrame.HEADER_LENGTH + FrameHeader.TAG_LENGTH
            || FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_GRADIENT) {
            return drop(Outcome.MALFORMED); // read no field a frame this short does not hold
        }
        if (frame.jobId() != jobId) {
            return drop(Outcome.FOREIGN_JOB);
        }
        long frameStep = frame.step();
        if (frameStep < step || (isComplete() && frameStep == step)) {
            // an older step, or a resend of the step whose average is already going out
            return drop(frameStep < step ? Outcome.STALE_STEP : Outcome.DUPLICATE);
        }
        int rank = frame.rank();
        int chunk = frame.chunk();
        if (frameStep != step || !frame.isWellFormed() || frame.encoding() != wire.code()
            || rank < 0 || rank >= workers || frame.shard() != shard
            || frame.chunkCount() != chunkCount || chunk < 0 || chunk >= chunkCount
            || frame.valueOffset() != layout.chunkStart(shard, chunk)) {
            return drop(Outcome.MALFORMED);
        }
        int n = frame.length();
        int expected = layout.chunkLength(shard, chunk);
        if (n != expected && n != 0) {
            return drop(Outcome.MALFORMED);
        }
        int slot = rank * chunkCount + chunk;
        if (received[slot]) {
            return drop(Outcome.DUPLICATE);
        }
        // nothing above changed any state: only now, and only for a frame this rank sealed, does it count; its sample
        // count and loss are sealed with its values (GradientFrame.hiddenFields), so they are checked once it opened
        FrameCipher cipher = fromRank[rank];
        DirectBuffer plain = cipher.open(buffer, offset, GradientFrame.HEADER_LENGTH,
            n * wire.bytesPerValue(), frame.nonceStep(), frame.valueOffset());
        if (plain == null) {
            return drop(Outcome.UNAUTHENTICATED);
        }
        GradientFrame sealed = opened.wrap(cipher.openedHeader(), 0, GradientFrame.HEADER_LENGTH);
        int samples = sealed.samples();
        if (samples < 0 || n == 0 && n != expected && samples != 0
            || samplesByRank[rank] >= 0 && samplesByRank[rank] != samples) {
            return drop(Outcome.MALFORMED); // sealed by the rank, but not a frame an honest one sends
        }
        if (samplesByRank[rank] < 0) {
            samplesByRank[rank] = samples;
            totalSamples += samples;
            weightedLoss += (double) sealed.loss() * samples;
        }
        received[slot] = true;
        accepted++;
        if (++chunksByRank[rank] == chunkCount) {
            missingMask &= ~WaitingBoard.bit(rank);
            missingCount--;
        }
        int dst = (frame.valueOffset() - shardStart) * Float.BYTES;
        if (n > 0 && wire == WireFormat.FP32) {
            accumulate(plain, 0, dst, n, samples);
        } else if (n > 0) {
            HalfCodec.accumulate(wire, plain, 0, sum, dst, n, samples);
        }
        if (++arrivals[chunk] < workers) {
            return Outcome.ACCEPTED;
        }
        average(layout.chunkStart(shard, chunk) - shardStart, layout.chunkLength(shard, chunk));
        ready[readyCount++] = chunk;
        return isComplete() ? Outcome.COMPLETED : Outcome.CHUNK_READY;
    }

    /**
     * Adds {@code samples ×} the chunk to the sum. Both ranges are bounds-checked once, then the loop runs on
     * raw memory: a check per element cost more than the arithmetic (a third of the shards' time in a
     * profile of the exchange alone).
     */
    private void accumulate(DirectBuffer src, int srcIndex, int dstIndex, int n, int samples) {
        src.boundsCheck(srcIndex, n * Float.BYTES);
        sum.boundsCheck(dstIndex, n * Float.BYTES);
        float weight = samples;
        byte[] srcArray = src.byteArray();
        long from = src.addressOffset() + srcIndex;
        long to = sum.addressOffset() + dstIndex;
        for (long o = 0, end = (long) n * Float.BYTES; o < end; o += Float.BYTES) {
            UnsafeApi.putFloat(null, to + o, UnsafeApi.getFloat(null, to + o) + weight * UnsafeApi.getFloat(srcArray, from + o));
        }
    }

    /** Every rank has sent this chunk, so totalSamples is final: turn the weighted sum into the mean. */
    private void average(int from, int n) {
        if (totalSamples == 0) {
            return;
        }
        float divisor = (float) totalSamples;
        sum.boundsCheck(from * Float.BYTES, n * Float.BYTES);
        long base = sum.addressOffset();
        for (long o = (long) from * Float.BYTES, end = (long) (from + n) * Float.BYTES; o < end; o += Float.BYTES) {
            UnsafeApi.putFloat(null, base + o, UnsafeApi.getFloat(null, base + o) / divisor);
        }
    }

    private Outcome drop(Outcome outcome) {
        drops.record(outcome);
        return outcome;
    }

    /** Moves on to the next step once the average has been sent. */
    public void advance() {
        if (!isComplete()) {
            throw new IllegalStateException("shard " + shard + " step " + step + " is not complete");
        }
        step++;
        previousSamples = totalSamples;
        previousLoss = meanLoss();
        UnsafeBuffer done = sum; // the averages just sent stay readable until the next step completes
        sum = previous;
        previous = done;
        resetStep();
    }

    private void resetStep() {
        sum.setMemory(0, sum.capacity(), (byte) 0);
        java.util.Arrays.fill(received, false);
        java.util.Arrays.fill(samplesByRank, -1);
        java.util.Arrays.fill(arrivals, 0);
        java.util.Arrays.fill(chunksByRank, 0);
        missingMask = WaitingBoard.allRanks(workers);
        missingCount = workers;
        accepted = 0;
        readyCount = 0;
        totalSamples = 0;
        weightedLoss = 0;
    }

    /** True once a frame of the current step has been summed. */
    public boolean isStarted() { return accepted > 0; }

    /** True once every chunk of the current step is averaged. */
    public boolean isComplete() { return readyCount == chunkCount; }

    /** Chunks averaged so far this step; {@link #readyChunk(int)} lists them in the order they completed. */
    public int readyCount() { return readyCount; }

    public int readyChunk(int i) { return ready[i]; }
    public long step() { return step; }
    public int shard() { return shard; }
    public int chunkCount() { return chunkCount; }
    public long totalSamples() { return totalSamples; }
    public float meanLoss() { return totalSamples == 0 ? 0f : (float) (weightedLoss / totalSamples); }
    public WireFormat wire() { return wire; }

    /** Ranks 0-63 whose chunks of the current step have not all arrived, as a bitset. */
    long missingMask() { return missingMask; }

    /** Ranks whose chunks of the current step have not all arrived. */
    int missingCount() { return missingCount; }

    /** Averaged values of the ready chunks (weighted sums of the others), indexed from the shard start. */
    public UnsafeBuffer values() { return sum; }

    /**
     * The averages of the step before the current one, indexed from the shard start: a worker that lost one of
     * them cannot have sent the current step yet, so they stay needed (and are kept) until the current step completes.
     */
    public UnsafeBuffer previousValues() { return previous; }

    /** Samples behind the previous step's averages. */
    public long previousSamples() { return previousSamples; }

    /** Mean loss of the previous step. */
    public float previousLoss() { return previousLoss; }

    /** True once every chunk of the current step from {@code rank} is in. */
    boolean hasAll(int rank) { return chunksByRank[rank] == chunkCount; }

    /** True once chunk {@code chunk} of the current step from {@code rank} is in. */
    boolean has(int rank, int chunk) { return received[rank * chunkCount + chunk]; }

    /** The lowest chunk of the current step not yet in from {@code rank}, or {@link #chunkCount()} when all are. */
    int lowestMissingFrom(int rank) {
        int base = rank * chunkCount;
        for (int c = 0; c < chunkCount; c++) {
            if (!received[base + c]) {
                return c;
            }
        }
        return chunkCount;
    }

    /** The number of workers whose gradients this shard sums. */
    int workers() { return workers; }

    /** Ranks whose chunks of the current step have not all arrived, for timeouts and diagnostics. */
    public String missingRanks() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < workers; r++) {
            for (int c = 0; c < chunkCount; c++) {
                if (!received[r * chunkCount + c]) {
                    sb.append(sb.length() == 0 ? "" : ",").append(r);
                    break;
                }
            }
        }
        return sb.toString();
    }
}
