package io.lockstep.ps;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class ShardLayoutTest {
    @Test
    void chunksTileTheVectorWithoutGapsOrOverlap() {
        for (int shards = 1; shards <= 5; shards++) {
            ShardLayout layout = new ShardLayout(1003, shards, 37);
            int next = 0;
            for (int s = 0; s < shards; s++) {
                for (int c = 0; c < layout.chunkCount(s); c++) {
                    assertEquals(next, layout.chunkStart(s, c));
                    assertTrue(layout.chunkLength(s, c) > 0 && layout.chunkLength(s, c) <= 37);
                    next += layout.chunkLength(s, c);
                }
            }
            assertEquals(1003, next);
        }
    }

    @Test
    void rejectsMoreShardsThanParameters() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ShardLayout(2, 3, 10));
        assertTrue(e.getMessage().contains("ps.shards"));
    }
}
