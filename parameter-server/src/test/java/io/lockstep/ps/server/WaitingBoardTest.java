package io.lockstep.ps.server;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/** What agents publish for other threads: ranks named up to 63, the rest counted, snapshots never torn. */
class WaitingBoardTest {

    @Test
    void describesTheMissingRanksOfEachSlot() {
        WaitingBoard board = new WaitingBoard(3);
        assertEquals("", board.describe(0, "shard 0 step"), "nothing published: waits for nobody");
        board.publish(0, 7, WaitingBoard.bit(1) | WaitingBoard.bit(3), 2);
        board.publish(1, 7, 0, 0);
        board.publish(2, 4, WaitingBoard.allRanks(70) & ~WaitingBoard.bit(0), 69); // ranks 64-69 only counted
        assertEquals("shard 0 step 7 waits for rank(s) 1,3", board.describe(0, "shard 0 step"));
        assertEquals("", board.describe(1, "shard 1 step"));
        String many = board.describe(2, "gather round");
        assertTrue(many.startsWith("gather round 4 waits for rank(s) 1,2,3,"), many);
        assertTrue(many.endsWith(",62,63 and 6 more"), many);
        board.publish(0, 8, 0, 6);
        assertEquals("shard 0 step 8 waits for 6 rank(s) from 64 up", board.describe(0, "shard 0 step"));
    }

    @Test
    void aReaderNeverSeesOneSlotHalfWritten() throws Exception {
        WaitingBoard board = new WaitingBoard(1);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<String> torn = new AtomicReference<>();
        Thread writer = new Thread(() -> {
            for (long step = 0; !stop.get(); step++) {
                // step s always waits for rank s % 64 alone: any mix of two writes shows
                board.publish(0, step, WaitingBoard.bit((int) (step % 64)), 1);
            }
        });
        writer.start();
        try {
            for (int i = 0; i < 200_000; i++) {
                String line = board.describe(0, "shard 0 step");
                if (line.isEmpty()) {
                    continue; // a read that kept colliding gives up: allowed, never wrong
                }
                String[] parts = line.split(" ");
                long step = Long.parseLong(parts[3]);
                if (!parts[parts.length - 1].equals(Long.toString(step % 64))) {
                    torn.set(line);
                    break;
                }
            }
        } finally {
            stop.set(true);
            writer.join(10_000);
        }
        assertNull(torn.get(), "a torn snapshot");
    }
}
