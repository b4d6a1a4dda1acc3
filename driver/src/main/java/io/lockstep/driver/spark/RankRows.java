package io.lockstep.driver.spark;

import io.lockstep.worker.data.Sample;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import scala.Tuple2;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** A rank's training and validation rows, paired by zipPartitions: what one barrier task trains on. */
public record RankRows(List<Sample> train, List<Sample> validation) implements Serializable {

    /**
     * One partition per rank. Row i goes to worker i mod N: balanced to within one row, and N workers at batch b
     * see exactly the rows one worker at batch N*b would see in each step. Validation rows (null: none) likewise,
     * paired with the training rows of the same rank.
     */
    public static JavaRDD<RankRows> byRank(JavaSparkContext sc, JavaRDD<Sample> train, JavaRDD<Sample> validation,
                                           int workers) {
        return byRank(train, workers).zipPartitions(byRank(validation == null ? sc.emptyRDD() : validation, workers),
            (t, v) -> List.of(new RankRows(list(t), list(v))).iterator());
    }

    private static JavaRDD<Sample> byRank(JavaRDD<Sample> samples, int workers) {
        return samples.mapToPair(s -> new Tuple2<>((int) (s.index() % workers), s))
            .partitionBy(new HashPartitioner(workers))
            .values();
    }

    private static List<Sample> list(Iterator<Sample> it) {
        List<Sample> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
