package io.lockstep.bench;

import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.job.TrainingJob;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;

import java.util.ArrayList;
import java.util.List;

/**
 * What plain Spark does with the same exchange: N partitions each holding a float[] (cached, built on
 * the executors), summed with {@code treeAggregate}, the sum broadcast and copied back into every
 * partition's vector on the executors. Local mode: task results go through Spark's serializer and
 * block manager as on a cluster, but the broadcast is read from the one local block manager.
 */
final class SparkAggregate implements AutoCloseable {
    private final JavaSparkContext sc;
    private final int partitions;

    /** A local[N] Spark context in this JVM (the settings a local training job gets). */
    SparkAggregate(int partitions) {
        JobConfig cfg = JobConfig.defaults()
            .with("workers", partitions)
            .with("spark.master", "local[" + partitions + "]")
            .with("spark.conf.spark.driver.maxResultSize", "0"); // N vectors of up to 100 MB come back
        this.sc = new JavaSparkContext(SparkConfs.of(cfg).setAppName("lockstep-bench-exchange"));
        this.partitions = partitions;
    }

    /** Seconds per treeAggregate + broadcast + read-back of {@code floats}-float vectors, one per measured repeat. */
    double[] roundSeconds(int floats, int warmup, int repeats) {
        List<Integer> ranks = new ArrayList<>();
        for (int r = 0; r < partitions; r++) {
            ranks.add(r);
        }
        JavaRDD<float[]> vectors = sc.parallelize(ranks, partitions).map(r -> {
            float[] v = new float[floats];
            for (int i = 0; i < floats; i++) {
                v[i] = (r + 1) * 1e-3f * (i % 1000);
            }
            return v;
        }).persist(StorageLevel.MEMORY_ONLY());
        try {
            vectors.count();
            double[] seconds = new double[repeats];
            for (int round = 0; round < warmup + repeats; round++) {
                long start = System.nanoTime();
                float[] sum = vectors.treeAggregate(new float[0], SparkAggregate::add, SparkAggregate::merge);
                Broadcast<float[]> average = sc.broadcast(sum);
                vectors.foreachPartition(it -> {
                    float[] avg = average.value();
                    while (it.hasNext()) {
                        float[] v = it.next();
                        System.arraycopy(avg, 0, v, 0, v.length);
                    }
                });
                long end = System.nanoTime();
                average.destroy();
                if (round == 0) {
                    check(sum, floats);
                }
                if (round >= warmup) {
                    seconds[round - warmup] = (end - start) / 1e9;
                }
            }
            return seconds;
        } finally {
            vectors.unpersist(true);
        }
    }

    /** The first round's sum of the last value, against the partitions' values added up here (rounds later sum averages). */
    private void check(float[] sum, int floats) {
        int i = floats - 1;
        double expected = 0;
        for (int r = 0; r < partitions; r++) {
            expected += (r + 1) * 1e-3f * (i % 1000);
        }
        if (sum.length != floats || Math.abs(sum[i] - expected) > 1e-4 * Math.abs(expected) + 1e-6) {
            throw new IllegalStateException("treeAggregate summed wrong: " + sum.length + " values, last "
                + (sum.length == floats ? sum[i] : Float.NaN) + ", expected " + expected);
        }
    }

    /** Adds a partition's vector into the running sum; the empty zero value becomes a copy (the cached vector stays). */
    static float[] add(float[] sum, float[] v) {
        if (sum.length == 0) {
            return v.clone();
        }
        for (int i = 0; i < v.length; i++) {
            sum[i] += v[i];
        }
        return sum;
    }

    static float[] merge(float[] a, float[] b) {
        if (a.length == 0) {
            return b;
        }
        if (b.length == 0) {
            return a;
        }
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
        return a;
    }

    @Override
    public void close() {
        sc.close();
    }
}
