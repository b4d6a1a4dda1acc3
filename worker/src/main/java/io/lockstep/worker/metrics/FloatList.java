package io.lockstep.worker.metrics;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.Arrays;

/**
 * A growable float[] (4 bytes a value, no boxing) that sorts itself on demand and serializes only its used part, so
 * shipping a worker's scores to the driver costs what they are worth.
 */
final class FloatList implements Serializable {
    private static final long serialVersionUID = 1L;

    private transient float[] data = new float[64];
    private transient int size;
    /** Whether data[0, size) is ascending; false after deserialization, which is only a wasted sort. */
    private transient boolean sorted = true;

    int size() {
        return size;
    }

    void add(float v) {
        if (size == data.length) {
            data = Arrays.copyOf(data, Math.max(64, size + (size >> 1)));
        }
        data[size++] = v;
        sorted = false;
    }

    void addAll(FloatList other) {
        int n = other.size;
        if (size + n > data.length) {
            data = Arrays.copyOf(data, Math.max(size + n, size + (size >> 1)));
        }
        System.arraycopy(other.data, 0, data, size, n);
        size += n;
        sorted = false;
    }

    /** The backing array with [0, size()) sorted ascending; do not modify it. */
    float[] sorted() {
        if (!sorted) {
            Arrays.sort(data, 0, size);
            sorted = true;
        }
        return data;
    }

    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        out.writeObject(Arrays.copyOf(data, size));
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        data = (float[]) in.readObject();
        size = data.length;
    }
}
