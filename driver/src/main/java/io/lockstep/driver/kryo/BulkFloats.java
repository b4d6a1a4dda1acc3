package io.lockstep.driver.kryo;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;

/**
 * float[] in bulk: the length, then the values as little-endian bytes copied a block at a time through a
 * buffer view (one bulk copy per 64 KiB, not one write per element as Kryo's own array serializer does with
 * Spark's default Output). 4 bytes a value plus a few for the length; null is allowed.
 *
 * <p>A serializer holds a block buffer, so each Kryo instance gets its own (Kryo instances are single-threaded;
 * Spark asks the registrator once per instance).
 */
final class BulkFloats extends Serializer<float[]> {
    private static final int BLOCK_FLOATS = 1 << 14;

    private final byte[] block = new byte[BLOCK_FLOATS * Float.BYTES];
    private final FloatBuffer view = ByteBuffer.wrap(block).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();

    BulkFloats() {
        setAcceptsNull(true);
    }

    @Override
    public void write(Kryo kryo, Output output, float[] values) {
        if (values == null) {
            output.writeVarInt(0, true);
            return;
        }
        output.writeVarInt(values.length + 1, true);
        for (int off = 0; off < values.length; off += BLOCK_FLOATS) {
            int n = Math.min(BLOCK_FLOATS, values.length - off);
            view.clear();
            view.put(values, off, n);
            output.writeBytes(block, 0, n * Float.BYTES);
        }
    }

    @Override
    public float[] read(Kryo kryo, Input input, Class<float[]> type) {
        int length = input.readVarInt(true);
        if (length == 0) {
            return null;
        }
        float[] values = new float[length - 1];
        for (int off = 0; off < values.length; off += BLOCK_FLOATS) {
            int n = Math.min(BLOCK_FLOATS, values.length - off);
            input.readBytes(block, 0, n * Float.BYTES);
            view.clear();
            view.get(values, off, n);
        }
        return values;
    }

    @Override
    public float[] copy(Kryo kryo, float[] original) {
        return original.clone();
    }
}
