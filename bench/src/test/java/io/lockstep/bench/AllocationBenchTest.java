package io.lockstep.bench;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class AllocationBenchTest {
    @Test
    void threadsAreGroupedByTheNamesLockstepAndAeronGiveThem() {
        assertEquals("exchange clients (GradientClient)", AllocationBench.role("bench-client-3"));
        assertEquals("parameter-server shards", AllocationBench.role("[lockstep-ps-shard-0,lockstep-ps-gather]"));
        assertEquals("parameter-server shards", AllocationBench.role("lockstep-ps-shard-1"));
        assertEquals("Aeron client conductors", AllocationBench.role("aeron-client"));
        assertEquals("Aeron media drivers", AllocationBench.role("/dev/shm/lockstep-1-ab [sender,receiver,driver-conductor]"));
        assertEquals("other (main, JVM, monitoring)", AllocationBench.role("main"));
    }

    @Test
    void bytesPerStepAreTheDifferencesOverTheStepsBetweenSnapshots() {
        AllocationBench.Snapshot before = new AllocationBench.Snapshot(100,
            Map.of(1L, "bench-client-0", 2L, "bench-client-1", 3L, "lockstep-ps-shard-0"),
            Map.of(1L, 1_000L, 2L, 5_000L, 3L, 0L), 50_000, 4, 30);
        AllocationBench.Snapshot after = new AllocationBench.Snapshot(110,
            Map.of(1L, "bench-client-0", 2L, "bench-client-1", 3L, "lockstep-ps-shard-0", 4L, "late-thread"),
            Map.of(1L, 2_000L, 2L, 5_000L, 3L, 300L, 4L, 9_999L), 51_500, 6, 45);
        String report = AllocationBench.report(before, after);
        assertTrue(report.contains("10 steps measured"), report);
        assertTrue(report.contains("| exchange clients (GradientClient) | 2 | 100.0 |"), report); // (1000 + 0) / 10
        assertTrue(report.contains("| parameter-server shards | 1 | 30.0 |"), report);
        assertTrue(report.contains("| whole JVM (getTotalThreadAllocatedBytes) | - | 150.0 |"), report);
        assertTrue(report.contains("GC: 2 collections, 15 ms"), report);
        assertFalse(report.contains("late-thread"), "a thread started during the span is not counted: " + report);
    }

    @Test
    void aSpanWithoutStepsIsAnError() {
        AllocationBench.Snapshot s = new AllocationBench.Snapshot(5, Map.of(), Map.of(), 0, 0, 0);
        assertThrows(IllegalStateException.class, () -> AllocationBench.report(s, s));
    }
}
