package io.lockstep.driver.data;

import java.io.Serializable;

/**
 * One parsed row before label encoding and scaling: its dense index in its split (0..n-1), its
 * position in the source for messages ({@code pos}: line, row or item number), the features and
 * the checked label (class index, 0/1 or target).
 */
record Example(long index, long pos, float[] x, float label) implements Serializable {
    Example at(long newIndex) {
        return new Example(newIndex, pos, x, label);
    }
}
