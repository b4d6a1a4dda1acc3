package io.lockstep.worker.checkpoint;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.*;

class CheckpointTest {

    @Test
    void nullsBecomeEmpty() {
        Checkpoint c = new Checkpoint(0, 0, 0, 1, null, null, null, null, null, null, 0);
        assertEquals(0, c.params().length);
        assertEquals(0, c.updaterState().length);
        assertEquals("", c.configDigest());
        assertEquals(Map.of(), c.configKeys());
        assertEquals(0, c.normalization().length);
        assertEquals(0, c.trainerState().length);
    }

    @Test
    void arraysAreCopiedOnTheWayInAndOut() {
        float[] params = {1, 2, 3};
        byte[] state = {7};
        Checkpoint c = new Checkpoint(5, 0, 5, 1, params, null, "", null, null, state, 0);
        params[0] = 99;
        state[0] = 99;
        c.params()[1] = 99;
        c.trainerState()[0] = 98;
        assertArrayEquals(new float[] {1, 2, 3}, c.params());
        assertArrayEquals(new byte[] {7}, c.trainerState());
        assertThrows(UnsupportedOperationException.class, () -> c.configKeys().put("a", "b"));
    }

    @Test
    void negativeCountersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new Checkpoint(-1, 0, 0, 1, null, null, "", null, null, null, 0));
        assertThrows(IllegalArgumentException.class, () -> new Checkpoint(1, 0, -1, 1, null, null, "", null, null, null, 0));
    }

    @Test
    void digestIgnoresMapOrderButSeesEveryKeyAndValue() {
        Map<String, String> a = new TreeMap<>(Map.of("a", "1", "b", "2"));
        Map<String, String> reversed = new TreeMap<>(java.util.Comparator.reverseOrder());
        reversed.putAll(a);
        assertEquals(Checkpoint.digest(a), Checkpoint.digest(reversed));
        assertEquals(64, Checkpoint.digest(a).length());
        assertNotEquals(Checkpoint.digest(a), Checkpoint.digest(Map.of("a", "1", "b", "3")));
        assertNotEquals(Checkpoint.digest(Map.of("a", "1b")), Checkpoint.digest(Map.of("a1", "b")));
    }

    @Test
    void configDifferencesExplainEachKey() {
        Checkpoint c = new Checkpoint(1, 0, 1, 1, null, null, "", Map.of("model.hidden", "[256, 128]", "seed", "42",
            "loss", "mse"), null, null, 0);
        assertEquals(List.of(), c.configDifferences(Map.of("seed", "42", "model.hidden", "[256, 128]", "loss", "mse")));
        assertEquals(List.of(
                "batch_size: not in checkpoint, now '64'",
                "loss: checkpoint 'mse', now not set",
                "model.hidden: checkpoint '[256, 128]', now '[512, 256]'"),
            c.configDifferences(Map.of("seed", "42", "model.hidden", "[512, 256]", "batch_size", "64")));
    }
}
