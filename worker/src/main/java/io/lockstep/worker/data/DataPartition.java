package io.lockstep.worker.data;

import java.util.Iterator;

/**
 * One worker's training samples packed row-major into two float arrays, so batches are
 * cheap slices and an epoch's shuffle only permutes row indices.
 */
public final class DataPartition {
    private final float[] features;
    private final float[] labels;
    private final int size;
    private final int featureCount;
    private final int labelCount;

    public DataPartition(float[] features, float[] labels, int size, int featureCount, int labelCount) {
        if (features.length != size * featureCount || labels.length != size * labelCount) {
            throw new IllegalArgumentException("partition arrays do not match " + size + " x (" + featureCount
                + " + " + labelCount + ")");
        }
        this.features = features;
        this.labels = labels;
        this.size = size;
        this.featureCount = featureCount;
        this.labelCount = labelCount;
    }

    /** Packs samples (in iteration order) into a partition; every sample must have the same widths. */
    public static DataPartition of(Iterator<Sample> samples, int featureCount, int labelCount) {
        FloatList x = new FloatList(1 << 16);
        FloatList y = new FloatList(1 << 12);
        int n = 0;
        while (samples.hasNext()) {
            Sample s = samples.next();
            if (s.features().length != featureCount || s.labels().length != labelCount) {
                throw new IllegalArgumentException("sample " + s.index() + " has " + s.features().length
                    + " features and " + s.labels().length + " label values; expected " + featureCount
                    + " and " + labelCount);
            }
            x.addAll(s.features());
            y.addAll(s.labels());
            n++;
        }
        return new DataPartition(x.toArray(), y.toArray(), n, featureCount, labelCount);
    }

    public int size() { return size; }
    public int featureCount() { return featureCount; }
    public int labelCount() { return labelCount; }

    void copyRow(int row, float[] x, float[] y, int into) {
        System.arraycopy(features, row * featureCount, x, into * featureCount, featureCount);
        System.arraycopy(labels, row * labelCount, y, into * labelCount, labelCount);
    }

    /** A growable float array: avoids boxing 47M pixels while a partition is packed. */
    private static final class FloatList {
        private float[] data;
        private int size;

        FloatList(int capacity) {
            data = new float[capacity];
        }

        void addAll(float[] values) {
            if (size + values.length > data.length) {
                data = java.util.Arrays.copyOf(data, Math.max(data.length * 2, size + values.length));
            }
            System.arraycopy(values, 0, data, size, values.length);
            size += values.length;
        }

        float[] toArray() {
            return java.util.Arrays.copyOf(data, size);
        }
    }
}
