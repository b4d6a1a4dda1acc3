package io.lockstep.bench;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;

import java.nio.ByteBuffer;

/**
 * A 64-byte aligned off-heap vector that is freed when closed, not when a GC gets round to it: the
 * benchmarks allocate and drop up to 100 MB per vector, several per configuration.
 * ({@code BufferUtil.allocateDirectAligned} returns a slice, which cannot be freed explicitly.)
 */
final class OffHeap implements AutoCloseable {
    private static final int ALIGNMENT = 64;
    private final ByteBuffer memory;
    final UnsafeBuffer buffer;

    OffHeap(int bytes) {
        memory = ByteBuffer.allocateDirect(bytes + ALIGNMENT);
        long address = BufferUtil.address(memory);
        int skip = (int) ((ALIGNMENT - (address & (ALIGNMENT - 1))) & (ALIGNMENT - 1));
        buffer = new UnsafeBuffer(memory, skip, bytes);
    }

    @Override
    public void close() {
        BufferUtil.free(memory);
    }
}
