package io.lockstep.ps.wire;

import org.agrona.DirectBuffer;
import org.agrona.MutableDirectBuffer;

import java.nio.ByteOrder;

/**
 * What every v1 flyweight shares (cf. Aeron's HeaderFlyweight): the buffer region it is wrapped
 * around, for reading or for writing, and the common header of {@link FrameHeader} — version, type,
 * job id. Subclasses add their own fields after it.
 *
 * @param <F> the concrete frame, so wrapping stays fluent
 */
abstract class WireFrame<F extends WireFrame<F>> {
    static final ByteOrder ORDER = FrameHeader.ORDER;

    MutableDirectBuffer mutable;
    DirectBuffer buffer;
    int base;
    int frameLength;

    /** Wraps a received frame for reading. */
    public F wrap(DirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = null;
        this.base = offset;
        this.frameLength = length;
        return self();
    }

    /** Wraps a claimed region for writing. */
    public F wrapForWrite(MutableDirectBuffer buffer, int offset, int length) {
        this.buffer = buffer;
        this.mutable = buffer;
        this.base = offset;
        this.frameLength = length;
        return self();
    }

    /** The frame is long enough for a header of {@code headerLength} bytes and a tag, and of this wire version. */
    boolean holdsHeaderOfThisVersion(int headerLength) {
        return frameLength >= headerLength + FrameHeader.TAG_LENGTH && version() == FrameHeader.VERSION;
    }

    public int version() { return buffer.getByte(base + FrameHeader.VERSION_OFFSET); }
    public int type() { return buffer.getShort(base + FrameHeader.TYPE_OFFSET, ORDER); }
    public long jobId() { return buffer.getLong(base + FrameHeader.JOB_ID_OFFSET, ORDER); }
    public DirectBuffer buffer() { return buffer; }

    @SuppressWarnings("unchecked")
    private F self() {
        return (F) this;
    }
}
