package io.lockstep.ps.server;

import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.Bf16;
import io.lockstep.ps.wire.Fp16;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.JoinFrame;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteOrder;

/** Frames built and sealed as real senders do, each in its own buffer, for tests and rogues. */
final class TestFrames {
    /** The secret the aggregator tests' jobs use. */
    static final JobSecret SECRET = JobSecret.of(new byte[]{
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        31, 32});

    private TestFrames() {
    }

    /**
     * A gradient-layout frame of {@code type} for a chunk, with header rank {@code rank}, sealed with the
     * key of {@code sealer} (the rank for an honest frame; another rank or secret for a forgery).
     */
    static UnsafeBuffer gradient(JobSecret secret, short type, int sealer, long job, long step, int rank,
                                 ShardLayout layout, int shard, int chunk, int samples, float loss, float[] gradient) {
        int length = samples == 0 ? 0 : layout.chunkLength(shard, chunk);
        int start = layout.chunkStart(shard, chunk);
        UnsafeBuffer buf = new UnsafeBuffer(new byte[GradientFrame.frameLength(length)]);
        new GradientFrame().wrapForWrite(buf, 0, buf.capacity())
            .header(type, job, step, rank, shard, chunk, layout.chunkCount(shard), samples, loss, start, length);
        UnsafeBuffer plain = new UnsafeBuffer(new byte[Math.max(1, length * Float.BYTES)]);
        for (int i = 0; i < length; i++) {
            plain.putFloat(i * Float.BYTES, gradient[start + i], ByteOrder.LITTLE_ENDIAN);
        }
        new FrameCipher(secret, job, type, sealer, new FrameCipher.Scratch())
            .seal(buf, 0, GradientFrame.HEADER_LENGTH, plain, 0, length * Float.BYTES, step, start);
        return buf;
    }

    /**
     * An honest worker's gradient frame with its values in {@code format} (16-bit ones rounded plainly, no
     * error feedback) and {@code encodingField} in the header (the format's code for an honest frame).
     */
    static UnsafeBuffer gradient(long job, long step, int rank, ShardLayout layout, int shard, int chunk,
                                 int samples, float[] gradient, WireFormat format, int encodingField) {
        int length = samples == 0 ? 0 : layout.chunkLength(shard, chunk);
        int start = layout.chunkStart(shard, chunk);
        int width = format.bytesPerValue();
        UnsafeBuffer buf = new UnsafeBuffer(new byte[GradientFrame.frameLength(length, format)]);
        new GradientFrame().wrapForWrite(buf, 0, buf.capacity())
            .header(FrameHeader.TYPE_GRADIENT, job, step, rank, shard, chunk, layout.chunkCount(shard), samples, 0f,
                start, length);
        buf.putInt(GradientFrame.ENCODING_OFFSET, encodingField, ByteOrder.LITTLE_ENDIAN);
        UnsafeBuffer plain = new UnsafeBuffer(new byte[Math.max(1, length * width)]);
        for (int i = 0; i < length; i++) {
            float v = gradient[start + i];
            switch (format) {
                case FP32 -> plain.putFloat(i * 4, v, ByteOrder.LITTLE_ENDIAN);
                case BF16 -> plain.putShort(i * 2, Bf16.fromFloat(v), ByteOrder.LITTLE_ENDIAN);
                case FP16 -> plain.putShort(i * 2, Fp16.fromFloat(v), ByteOrder.LITTLE_ENDIAN);
            }
        }
        new FrameCipher(SECRET, job, FrameHeader.TYPE_GRADIENT, rank, new FrameCipher.Scratch())
            .seal(buf, 0, GradientFrame.HEADER_LENGTH, plain, 0, length * width, step, start);
        return buf;
    }

    /** An honest worker's gradient frame. */
    static UnsafeBuffer gradient(long job, long step, int rank, ShardLayout layout, int shard, int chunk,
                                 int samples, float loss, float[] gradient) {
        return gradient(SECRET, FrameHeader.TYPE_GRADIENT, rank, job, step, rank, layout, shard, chunk, samples, loss,
            gradient);
    }

    /** Bytes [at, at + length) of {@code owner}'s blob as one frame of {@code type}, sealed with {@code sealer}'s key. */
    static UnsafeBuffer gather(JobSecret secret, short type, int sealer, long job, long round, int owner, byte[] blob,
                               int at, int length) {
        UnsafeBuffer buf = new UnsafeBuffer(new byte[GatherFrame.frameLength(length)]);
        new GatherFrame().wrapForWrite(buf, 0, buf.capacity()).header(type, job, round, owner, blob.length, at, length);
        new FrameCipher(secret, job, type, sealer, new FrameCipher.Scratch())
            .seal(buf, 0, GatherFrame.HEADER_LENGTH, new UnsafeBuffer(blob), at, length, round, at);
        return buf;
    }

    /** An honest worker's gather upload. */
    static UnsafeBuffer gather(long job, long round, int rank, byte[] blob, int at, int length) {
        return gather(SECRET, FrameHeader.TYPE_GATHER, rank, job, round, rank, blob, at, length);
    }

    static UnsafeBuffer join(JobSecret secret, int sealer, long job, int rank, int target, String endpoint) {
        UnsafeBuffer bytes = new UnsafeBuffer(new byte[endpoint.length()]);
        bytes.putStringWithoutLengthAscii(0, endpoint);
        UnsafeBuffer buf = new UnsafeBuffer(new byte[JoinFrame.frameLength(bytes.capacity())]);
        new JoinFrame().wrapForWrite(buf, 0, buf.capacity()).header(job, rank, target, bytes.capacity());
        new FrameCipher(secret, job, FrameHeader.TYPE_JOIN, sealer, new FrameCipher.Scratch())
            .seal(buf, 0, JoinFrame.HEADER_LENGTH, bytes, 0, bytes.capacity(), target, 0);
        return buf;
    }
}
