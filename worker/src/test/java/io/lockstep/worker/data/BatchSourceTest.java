package io.lockstep.worker.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

class BatchSourceTest {
    /** DataPartition whose single feature is the row number, so batches reveal which rows they hold. */
    static DataPartition numbered(int n) {
        float[] x = new float[n];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = i;
        }
        return new DataPartition(x, y, n, 1, 1);
    }

    static List<List<Integer>> epochs(DataPartition shard, int batch, int steps, long seed, boolean shuffle, int epochs)
        throws InterruptedException {
        List<List<Integer>> out = new ArrayList<>();
        try (BatchSource source = new BatchSource(shard, batch, steps, seed, shuffle, 0)) {
            for (int e = 0; e < epochs; e++) {
                List<Integer> rows = new ArrayList<>();
                for (int s = 0; s < steps; s++) {
                    Batch b = source.next();
                    for (int i = 0; i < b.size(); i++) {
                        rows.add(b.features().getInt(i, 0));
                    }
                }
                out.add(rows);
            }
        }
        return out;
    }

    @Test
    void everyEpochVisitsEveryRowOnceInANewSeededOrder() throws Exception {
        List<List<Integer>> a = epochs(numbered(103), 10, 11, 7, true, 3);
        for (List<Integer> epoch : a) {
            assertEquals(103, epoch.size());
            assertEquals(103, new HashSet<>(epoch).size());
        }
        assertNotEquals(a.get(0), a.get(1), "each epoch reshuffles");
        assertEquals(a, epochs(numbered(103), 10, 11, 7, true, 3), "same seed, same order");
        assertNotEquals(a, epochs(numbered(103), 10, 11, 8, true, 3), "other seed, other order");
    }

    @Test
    void fullBatchesTakeTurnsInTwoBuffersAndAShortLastBatchHasItsOwn() throws Exception {
        try (BatchSource source = new BatchSource(numbered(25), 8, 4, 1, false, 0)) {
            Batch b0 = source.next();
            assertEquals(0, b0.features().getInt(0, 0));
            Batch b1 = source.next();
            assertNotSame(b0.features(), b1.features(), "the next batch fills while this one trains");
            Batch b2 = source.next();
            assertSame(b0.features(), b2.features(), "the buffer of the step before last is reused");
            assertSame(b0.labels(), b2.labels());
            assertEquals(16, b2.features().getInt(0, 0), "and holds its own rows");
            Batch last = source.next();
            assertEquals(1, last.size());
            assertNotSame(b1.features(), last.features());
            assertEquals(24, last.features().getInt(0, 0));
        }
    }

    @Test
    void withoutShuffleBatchesFollowShardOrder() throws Exception {
        List<Integer> rows = epochs(numbered(25), 8, 4, 1, false, 1).get(0);
        for (int i = 0; i < 25; i++) {
            assertEquals(i, rows.get(i));
        }
    }

    @Test
    void extraStepsOfASmallerShardAreEmptyBatches() throws Exception {
        try (BatchSource source = new BatchSource(numbered(5), 4, 3, 1, true, 0)) {
            assertEquals(4, source.next().size());
            assertEquals(1, source.next().size());
            assertEquals(0, source.next().size());
            Set<Integer> seen = new HashSet<>();
            Batch b = source.next();
            assertEquals(4, b.size(), "next epoch starts full again");
            for (int i = 0; i < 4; i++) seen.add(b.features().getInt(i, 0));
            assertEquals(4, seen.size());
        }
    }
}
