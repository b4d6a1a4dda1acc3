package io.lockstep.worker.train;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

/** Each step's phase times are the growth of the trainer's totals; windows ship whole and number their steps. */
class StepClockTest {

    /** Steps whose phases take data 1 ms, compute 2 ms, exchange 3 ms, apply 4 ms (as totals, in ns). */
    static void record(StepClock clock, long fromStep, int steps) {
        for (int i = 0; i < steps; i++) {
            long n = fromStep + i + 1;
            clock.stepStarting();
            clock.stepEnded(fromStep + i, n * 1_000_000, n * 2_000_000, n * 3_000_000, n * 4_000_000);
        }
    }

    @Test
    void aShippedWindowReadsBackAsEachStepsShareOfTheTotals() {
        StepClock clock = new StepClock();
        record(clock, 0, 3);
        assertEquals(3, clock.steps());
        StepClock.Window w = StepClock.read(clock.ship().clone());
        assertEquals(0, clock.steps(), "shipping empties the window");
        assertEquals(0, w.firstStep());
        assertEquals(3, w.steps());
        for (int s = 0; s < 3; s++) {
            assertEquals(1000, w.get(s, StepClock.DATA));
            assertEquals(2000, w.get(s, StepClock.COMPUTE));
            assertEquals(3000, w.get(s, StepClock.EXCHANGE));
            assertEquals(4000, w.get(s, StepClock.APPLY));
            assertTrue(w.get(s, StepClock.WALL) >= 0);
        }

        record(clock, 3, 2);
        StepClock.Window next = StepClock.read(clock.ship());
        assertEquals(3, next.firstStep(), "the next window starts where the last one ended");
        assertEquals(2, next.steps());
        assertEquals(1000, next.get(1, StepClock.DATA));
        assertArrayEquals(next.micros(), StepClock.read(next.toBlob()).micros());
    }

    @Test
    void theBlobIsOneFixedReusedArrayAndAFullUnshippedWindowStartsOver() {
        StepClock clock = new StepClock();
        record(clock, 0, 1);
        byte[] first = clock.ship();
        record(clock, 1, StepClock.WINDOW);
        assertTrue(clock.full());
        byte[] second = clock.ship();
        assertSame(first, second, "no array per shipment");
        assertEquals(StepClock.WINDOW, StepClock.read(second).steps());

        record(clock, 1 + StepClock.WINDOW, StepClock.WINDOW + 5); // nobody shipped the full window
        StepClock.Window w = StepClock.read(clock.ship());
        assertEquals(5, w.steps());
        assertEquals(1 + 2L * StepClock.WINDOW, w.firstStep(), "the dropped window's steps are skipped, not renumbered");
    }

    @Test
    void recordingAndShippingStepsAllocatesNothing() {
        com.sun.management.ThreadMXBean threads =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        StepClock clock = new StepClock();
        record(clock, 0, 2 * StepClock.WINDOW); // class loading and the first calls
        clock.ship();
        long before = threads.getCurrentThreadAllocatedBytes();
        int steps = 100_000;
        for (int i = 0; i < steps; i++) {
            clock.stepStarting();
            clock.stepEnded(i, i * 1_000L, i * 2_000L, i * 3_000L, i * 4_000L);
            if (clock.full()) {
                clock.ship();
            }
        }
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertTrue(allocated < 1024, allocated + " bytes over " + steps + " steps");
    }

    @Test
    void somethingElseIsRefusedByName() {
        var e = assertThrows(IllegalArgumentException.class, () -> StepClock.read(new byte[]{1, 2, 3}));
        assertTrue(e.getMessage().contains("step timeline"), e.getMessage());
        byte[] lying = new StepClock.Window(0, 2, new int[2 * StepClock.FIELDS]).toBlob();
        e = assertThrows(IllegalArgumentException.class, () -> StepClock.read(Arrays.copyOf(lying, lying.length - 4)));
        assertTrue(e.getMessage().contains("2 steps"), e.getMessage());
    }
}
