package io.lockstep.bench;

import io.lockstep.ps.ExchangeSpec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import static org.junit.jupiter.api.Assertions.*;

/** The benchmarks' moving parts on the real embedded Aeron and Spark local mode, with small vectors. */
@Tag("slow")
class ExchangeRunTest {
    @ParameterizedTest
    @EnumSource(ExchangeSpec.Transport.class)
    void everyPlannedStepIsTimedAndEveryRankFinishes(ExchangeSpec.Transport transport) throws Exception {
        try (ExchangeRun run = new ExchangeRun(transport, 3, 50_000, 2, 1 << 20, ExchangeSpec.DEFAULT_MTU, 7, 7)) {
            double[] seconds = run.stepSeconds(2, 5);
            assertEquals(5, seconds.length);
            for (double s : seconds) {
                assertTrue(s > 0, "a step takes time");
            }
            assertEquals(7, run.completedSteps());
            for (Thread t : run.clientThreads()) {
                assertFalse(t.isAlive(), t.getName() + " finished");
            }
            assertNull(run.server().failure());
        }
    }

    @Test
    void aStopRequestEndsEveryRankAfterTheSameStep() throws Exception {
        try (ExchangeRun run = new ExchangeRun(ExchangeSpec.Transport.IPC, 4, 10_000, 1, 1 << 20,
            ExchangeSpec.DEFAULT_MTU, Long.MAX_VALUE, 0)) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (run.completedSteps() < 20 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            run.requestStop();
            run.await(60_000); // a rank left waiting for a step the others skipped would time out here
            assertTrue(run.completedSteps() >= 20);
        }
    }

    @Test
    void rawAeronAndMemcpyMoveEveryByte() throws Exception {
        for (ExchangeSpec.Transport t : ExchangeSpec.Transport.values()) {
            double[] seconds = RawAeron.transferSeconds(t, 3_000_000, 1 << 20, ExchangeSpec.DEFAULT_MTU, 1, 2);
            assertEquals(2, seconds.length);
            assertTrue(seconds[0] > 0 && seconds[1] > 0);
        }
        assertEquals(3, Memcpy.copySeconds(1_000_000, 1, 3).length);
    }

    @Test
    void sparkTreeAggregateSumsThePartitionsVectors() {
        float[] a = {1, 2, 3};
        float[] b = {10, 20, 30};
        float[] sum = SparkAggregate.merge(SparkAggregate.add(new float[0], a), SparkAggregate.add(new float[0], b));
        assertArrayEquals(new float[]{11, 22, 33}, sum);
        assertArrayEquals(new float[]{1, 2, 3}, a, "the cached vector is not summed into");
        try (SparkAggregate spark = new SparkAggregate(2)) {
            assertEquals(2, spark.roundSeconds(1000, 1, 2).length);
        }
    }
}
