package io.lockstep.driver.data;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.function.Function2;
import scala.Tuple2;

import java.util.Iterator;
import java.util.List;

/**
 * Dense row numbering and the seeded validation split. Indices are positions in RDD order
 * (partition by partition), so they only depend on the data and, for the split, the seed.
 */
final class Splits {
    private Splits() {
    }

    /** Rows numbered 0..count-1 in RDD order. */
    record Indexed<T>(JavaRDD<Tuple2<T, Long>> rows, long count) {
    }

    /**
     * Numbers the rows like {@code zipWithIndex} and also returns how many there are: one Spark
     * job counting each partition (none for a single partition whose size the caller knows: pass
     * {@code knownCount} >= 0, else -1). The RDD must give the same rows in the same order every
     * time it is computed (persist it when that is not certain).
     */
    static <T> Indexed<T> index(JavaRDD<T> rdd, long knownCount) {
        long[] offsets;
        long count;
        if (knownCount >= 0 && rdd.getNumPartitions() == 1) {
            offsets = new long[]{0};
            count = knownCount;
        } else {
            List<Long> sizes = rdd.mapPartitions((Iterator<T> it) -> {
                long n = 0;
                for (; it.hasNext(); it.next()) {
                    n++;
                }
                return List.of(n).iterator();
            }).collect();
            offsets = new long[sizes.size()];
            count = 0;
            for (int p = 0; p < offsets.length; p++) {
                offsets[p] = count;
                count += sizes.get(p);
            }
        }
        Function2<Integer, Iterator<T>, Iterator<Tuple2<T, Long>>> number = (p, it) -> new Iterator<>() {
            long next = offsets[p];

            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public Tuple2<T, Long> next() {
                return new Tuple2<>(it.next(), next++);
            }
        };
        return new Indexed<>(rdd.mapPartitionsWithIndex(number, true), count);
    }

    /** Renumbers a part's rows 0..n-1 (after a filter) and counts them. */
    static Part reindex(JavaRDD<Example> rows, String name, Part.Locator locator, String labelAt) {
        Indexed<Example> indexed = index(rows, -1);
        return new Part(indexed.rows().map(t -> t._1().at(t._2())), indexed.count(), name, locator, labelAt);
    }

    /**
     * Splits the training rows into {train, validation}: row i is held out when a hash of
     * (seed, i) falls below {@code fraction}. Deterministic for a seed, independent of the
     * partitioning, disjoint; both parts are renumbered densely.
     */
    static Part[] split(Part all, double fraction, long seed) {
        JavaRDD<Example> train = all.rows().filter(e -> !held(seed, e.index(), fraction));
        JavaRDD<Example> validation = all.rows().filter(e -> held(seed, e.index(), fraction));
        return new Part[]{reindex(train, all.name(), all.locator(), all.labelAt()),
            reindex(validation, all.name(), all.locator(), all.labelAt())};
    }

    /** Whether row {@code index} goes to the validation split. */
    static boolean held(long seed, long index, double fraction) {
        return uniform(seed, index) < fraction;
    }

    /** A uniform double in [0, 1) from (seed, index): two SplitMix64 finalizer rounds. */
    static double uniform(long seed, long index) {
        long z = mix(mix(seed + 0x9E3779B97F4A7C15L) ^ index);
        return (z >>> 11) * 0x1.0p-53;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
