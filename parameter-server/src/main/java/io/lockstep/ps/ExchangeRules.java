package io.lockstep.ps;

import io.aeron.logbuffer.FrameDescriptor;
import io.aeron.logbuffer.LogBufferDescriptor;
import io.lockstep.ps.ExchangeSpec.Transport;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.WireFormat;

/**
 * The rules an exchange's settings keep, each stated once with its message: {@link ExchangeSpec} checks them when it
 * is built, and the driver's config asks them for its keys, so a user reads the same rule either way. Each returns
 * null when the value keeps the rule, else what is wrong with it ({@code "must be ..., got ..."}), for the caller
 * to put after the name it knows the value by.
 */
public final class ExchangeRules {
    /** Smallest MTU: a frame must hold its headers (~120 bytes) and a chunk of a few hundred values. */
    public static final int MIN_MTU = 1024;
    /** Largest MTU: Aeron's largest UDP payload, a multiple of its 32-byte frame alignment. */
    public static final int MAX_MTU = 65504;

    /** Aeron's term lengths: powers of two in [64 KiB, 1 GiB]. */
    public static final int MIN_TERM = LogBufferDescriptor.TERM_MIN_LENGTH;
    public static final int MAX_TERM = LogBufferDescriptor.TERM_MAX_LENGTH;
    /**
     * The largest term {@code ps.term_length: auto} chooses: the fixed default before it (docs/benchmarks.md measured
     * 1M-25M floats with it). Past it a step no longer fits a publication's window, which costs little: over UDP
     * the receiver's window (at most the 2 MiB socket buffer) bounds what is in flight anyway, while every log
     * buffer of 3 terms would grow with the model (a 100M-parameter model would map gigabytes per process).
     */
    public static final int AUTO_TERM_CEILING = 8 * 1024 * 1024;

    private ExchangeRules() {
    }

    /** A term is a power of two in Aeron's range. */
    public static String termLengthProblem(long term) {
        return Long.bitCount(term) == 1 && term >= MIN_TERM && term <= MAX_TERM ? null
            : "must be auto or a power of two in [" + MIN_TERM + ", " + MAX_TERM + "], got " + term;
    }

    /** Aeron's largest message is a term / 8, and every frame of up to one MTU must be one message. */
    public static String termForMtuProblem(long term, int mtu) {
        return term >= 8L * mtu ? null : "must be a power of two >= 8 x ps.mtu (" + 8L * mtu + "), got " + term;
    }

    /**
     * The terms {@code ps.term_length: auto} gives an exchange. A publication may run half a term ahead of its
     * slowest receiver, so:
     * <ul>
     * <li>gradients: twice the longest run of frames any shard takes from a worker in one step, so a worker hands
     *     over its whole step without waiting;</li>
     * <li>answers: twice a shard's answer to one step. The optimizer state the shards send for a checkpoint (with
     *     the optimizer on the server) need not fit: every worker reads its answers for as long as any rank may
     *     still fetch (in the exchange, and at the end until every rank is done), so the publication, which waits
     *     for its slowest receiver, never waits for a rank that has stopped reading;</li>
     * <li>side streams (all-gather, step reports, norm links): a few frames a step, the smallest term.</li>
     * </ul>
     * Each is rounded up to a power of two, at least 8 frames and Aeron's 64 KiB ({@link #sideTermLength}); the
     * gradients' at most {@link #AUTO_TERM_CEILING}. The MNIST MLP (235,146 parameters, 2 shards) gets 1 MiB for
     * gradients and for answers: logs of 3 MiB instead of 24 MiB each.
     *
     * @param answer     the format of what the shards send back ({@link ExchangeSpec#answerWire()})
     * @param stateSlots optimizer state vectors the shards send for a checkpoint (0: the optimizer on the workers);
     *                   streamed through the answers' term, not held in it
     */
    public static Terms autoTerms(ShardLayout layout, int mtu, WireFormat wire, WireFormat answer, int stateSlots) {
        long up = 0;
        long back = 0;
        for (int s = 0; s < layout.shards(); s++) {
            up = Math.max(up, stepBytes(layout, s, wire));
            back = Math.max(back, stepBytes(layout, s, answer));
        }
        int side = sideTermLength(mtu);
        return new Terms((int) Math.min(AUTO_TERM_CEILING, Math.max(side, pow2(2 * up))),
            (int) Math.min(MAX_TERM, Math.max(side, pow2(2 * back))), side);
    }

    /** The smallest term that holds 8 frames of {@code mtu} (Aeron's message limit), at least Aeron's 64 KiB. */
    public static int sideTermLength(int mtu) {
        return (int) Math.max(MIN_TERM, pow2(8L * mtu));
    }

    private static long pow2(long n) {
        return n <= 1 ? 1 : Long.highestOneBit(n - 1) << 1;
    }

    /** The bytes shard s's frames of one step take in a term: each chunk a frame behind Aeron's header, aligned. */
    static long stepBytes(ShardLayout layout, int shard, WireFormat format) {
        long bytes = 0;
        for (int c = 0; c < layout.chunkCount(shard); c++) {
            int frame = ExchangeSpec.AERON_HEADER + GradientFrame.frameLength(layout.chunkLength(shard, c), format);
            bytes += (frame + FrameDescriptor.FRAME_ALIGNMENT - 1) & -FrameDescriptor.FRAME_ALIGNMENT;
        }
        return bytes;
    }

    /** Aeron aligns frames to 32 bytes; 1024 leaves a chunk room for more than a header; 65504 is UDP's largest. */
    public static String mtuProblem(int mtu) {
        return mtu % 32 == 0 && mtu >= MIN_MTU && mtu <= MAX_MTU ? null
            : "must be a multiple of 32 in [" + MIN_MTU + ", " + MAX_MTU + "], got " + mtu;
    }

    /** Shards on the executors run in other JVMs than most of their workers: only UDP reaches them. */
    public static String executorShardsProblem(Transport transport) {
        return transport == Transport.UDP ? null : "shards on the executors need udp (they run in other JVMs than"
            + " most workers and cannot share memory with them), got " + transport.configName();
    }
}
