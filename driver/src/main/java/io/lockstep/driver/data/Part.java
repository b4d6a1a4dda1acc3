package io.lockstep.driver.data;

import org.apache.spark.api.java.JavaRDD;

/**
 * One split as read: rows indexed 0..count-1 in source order, and how to name a row in a message
 * ({@code name}: the path or "train dataset"; {@code unit}: line, row or item).
 */
record Part(JavaRDD<Example> rows, long count, String name, String unit) {
    String where(long pos) {
        return name + ": " + unit + " " + pos;
    }
}
