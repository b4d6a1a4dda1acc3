package io.lockstep.driver.data;

import org.apache.spark.api.java.JavaRDD;

import java.io.Serializable;

/**
 * One split as read: rows indexed 0..count-1 in source order, its name for messages (the path or
 * "train dataset"), how to name one row's place from {@link Example#pos}, and where the label is
 * within a row, appended to the place in label messages (", column 65", ", column 'label'" or "").
 */
record Part(JavaRDD<Example> rows, long count, String name, Locator locator, String labelAt) {

    /** A row's place in a message, e.g. "data/train.csv: line 37", from its {@code pos}. */
    interface Locator extends Serializable {
        String where(long pos);

        /** "name: unit pos", e.g. "train.csv: line 37". */
        static Locator of(String name, String unit) {
            return pos -> name + ": " + unit + " " + pos;
        }
    }
}
