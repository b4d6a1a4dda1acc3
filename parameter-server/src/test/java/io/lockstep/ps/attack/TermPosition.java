package io.lockstep.ps.attack;

import io.aeron.logbuffer.LogBufferDescriptor;

/**
 * A stream position as it appears on the wire: the (term id, term offset) pair in DATA, PAD, SM and
 * NAK headers. An on-path sniffer knows a stream's initial term id and term length from its SETUP,
 * so it can turn any position into the pair the receiver will accept next.
 */
public record TermPosition(int termId, int termOffset) {
    /** The wire coordinates of {@code position}, with Aeron's own arithmetic (term lengths are powers of two). */
    public static TermPosition at(long position, int initialTermId, int termLength) {
        LogBufferDescriptor.checkTermLength(termLength);
        int bits = LogBufferDescriptor.positionBitsToShift(termLength);
        // LogBufferDescriptor has no computeTermOffsetFromPosition; the driver masks, as here
        return new TermPosition(
            LogBufferDescriptor.computeTermIdFromPosition(position, bits, initialTermId),
            (int) (position & (termLength - 1)));
    }

    /** The inverse: the absolute position of these coordinates. */
    public long position(int initialTermId, int termLength) {
        return LogBufferDescriptor.computePosition(
            termId, termOffset, LogBufferDescriptor.positionBitsToShift(termLength), initialTermId);
    }
}
