package io.lockstep.driver.spark;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The task slots of each form of local master (a job that needs more fails at once instead of waiting). */
class SparkConfsTest {
    @Test
    void localMastersHaveTheirSlots() {
        assertEquals(1, SparkConfs.localSlots("local"));
        assertEquals(3, SparkConfs.localSlots("local[3,2]"));
        assertEquals(Runtime.getRuntime().availableProcessors(), SparkConfs.localSlots("local[*]"));
        assertEquals(Integer.MAX_VALUE, SparkConfs.localSlots("local-cluster[2,1,1024]"));
    }
}
