package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.server.GatherAggregator.Outcome;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GatherFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.*;

class GatherAggregatorTest {
    static final long JOB = 0x6A7L;

    /** Bytes [at, at + length) of a rank's blob as one honest gather frame in its own buffer. */
    static UnsafeBuffer frame(long job, long round, int rank, byte[] blob, int at, int length) {
        return TestFrames.gather(job, round, rank, blob, at, length);
    }

    static GatherAggregator aggregator(int workers, DropCounters drops) {
        return new GatherAggregator(JOB, workers, ExchangeSpec.DEFAULT_MTU, TestFrames.SECRET, drops);
    }

    static Outcome feed(GatherAggregator agg, UnsafeBuffer frame) {
        return agg.onFrame(frame, 0, frame.capacity());
    }

    static byte[] blob(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void assemblesChunkedBlobsAndListsThemAsTheyComplete() {
        DropCounters drops = new DropCounters();
        GatherAggregator agg = aggregator(3, drops);
        byte[] big = blob(1000, 1);
        byte[] small = blob(10, 2);
        byte[] empty = new byte[0];
        for (long round : new long[]{7, 8, 20}) {
            assertFalse(agg.isOpen());
            assertEquals(Outcome.ACCEPTED, feed(agg, frame(JOB, round, 0, big, 0, 400)));
            assertEquals("round " + round + " waits for rank(s) 0,1,2", agg.waitingFor());
            assertEquals(Outcome.BLOB_READY, feed(agg, frame(JOB, round, 2, empty, 0, 0)));
            assertEquals(Outcome.ACCEPTED, feed(agg, frame(JOB, round, 0, big, 400, 400)));
            assertEquals(Outcome.BLOB_READY, feed(agg, frame(JOB, round, 1, small, 0, 10)));
            assertEquals("round " + round + " waits for rank(s) 0", agg.waitingFor());
            assertEquals(Outcome.COMPLETED, feed(agg, frame(JOB, round, 0, big, 800, 200)));
            assertTrue(agg.isComplete());
            assertEquals("", agg.waitingFor());
            assertEquals(3, agg.readyCount());
            assertArrayEquals(new int[]{2, 1, 0}, new int[]{agg.readyRank(0), agg.readyRank(1), agg.readyRank(2)});
            byte[][] blobs = agg.blobs();
            assertArrayEquals(big, blobs[0]);
            assertArrayEquals(small, blobs[1]);
            assertArrayEquals(empty, blobs[2]);
            agg.advance();
            assertNotSame(blobs, agg.blobs(), "a completed round's arrays are handed on, never reused");
        }
        assertEquals(0, drops.total(), drops.toString());
    }

    @Test
    void foreignStaleDuplicateAndMalformedFramesAreDroppedAndCounted() {
        DropCounters drops = new DropCounters();
        GatherAggregator agg = aggregator(2, drops);
        byte[] b = blob(100, 3);
        assertEquals(Outcome.FOREIGN_JOB, feed(agg, frame(JOB + 1, 5, 0, b, 0, 100)));
        assertFalse(agg.isOpen(), "a foreign frame opens no round");
        assertEquals(Outcome.MALFORMED, feed(agg, frame(JOB, 5, 0, b, 50, 50)));
        assertFalse(agg.isOpen(), "a blob must start at offset 0");
        assertEquals(Outcome.ACCEPTED, feed(agg, frame(JOB, 5, 0, b, 0, 50)));
        assertEquals(Outcome.DUPLICATE, feed(agg, frame(JOB, 5, 0, b, 0, 50)));
        assertEquals(Outcome.MALFORMED, feed(agg, frame(JOB, 5, 0, b, 60, 40)), "a gap");
        assertEquals(Outcome.MALFORMED, feed(agg, frame(JOB, 6, 1, b, 0, 100)), "ranks disagree on the round");
        assertEquals(Outcome.MALFORMED, feed(agg, frame(JOB, 5, 2, b, 0, 100)), "rank out of range");
        assertEquals(Outcome.MALFORMED, feed(agg, new UnsafeBuffer(frame(JOB, 5, 1, b, 0, 100), 0, 90)), "cut short");
        assertEquals(Outcome.MALFORMED, feed(agg, new UnsafeBuffer(new byte[GatherFrame.HEADER_LENGTH - 1])));
        UnsafeBuffer tooBig = frame(JOB, 5, 1, b, 0, 0);
        tooBig.putInt(GatherFrame.BLOB_LENGTH_OFFSET, GatherFrame.MAX_BLOB_LENGTH + 1, java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(Outcome.MALFORMED, feed(agg, tooBig), "larger than any blob may be");
        assertEquals(Outcome.BLOB_READY, feed(agg, frame(JOB, 5, 0, b, 50, 50)));
        assertEquals(Outcome.DUPLICATE, feed(agg, frame(JOB, 5, 0, b, 0, 100)), "rank 0 is complete");
        assertEquals(Outcome.STALE_ROUND, feed(agg, frame(JOB, 4, 1, b, 0, 100)));
        assertEquals("round 5 waits for rank(s) 1", agg.waitingFor());
        assertEquals(Outcome.COMPLETED, feed(agg, frame(JOB, 5, 1, b, 0, 100)));
        agg.advance();
        assertEquals(Outcome.DUPLICATE, feed(agg, frame(JOB, 5, 1, b, 0, 100)), "the round just sent");
        assertEquals(Outcome.STALE_ROUND, feed(agg, frame(JOB, 3, 1, b, 0, 100)));
        assertFalse(agg.isOpen());
        assertEquals(1, drops.foreignJob());
        assertEquals(2, drops.staleStep());
        assertEquals(3, drops.duplicate());
        assertEquals(7, drops.malformed(), drops.toString());
        assertEquals(Outcome.ACCEPTED, feed(agg, frame(JOB, 9, 1, b, 0, 10)), "any newer round opens the next");
        assertArrayEquals(Arrays.copyOf(b, 10), Arrays.copyOf(agg.blobs()[1], 10));
    }

    /** A forged piece opens no round and allocates no blob, whatever length it claims; a genuine one still can. */
    @Test
    void onlyPiecesSealedByTheirRankAreGathered() {
        DropCounters drops = new DropCounters();
        GatherAggregator agg = aggregator(2, drops);
        byte[] b = blob(100, 4);
        short gather = FrameHeader.TYPE_GATHER;
        assertEquals(Outcome.UNAUTHENTICATED, feed(agg, TestFrames.gather(JobSecret.random(), gather, 1, JOB, 5, 1, b, 0, 100)));
        assertEquals(Outcome.UNAUTHENTICATED, feed(agg, TestFrames.gather(TestFrames.SECRET, gather, 0, JOB, 5, 1, b, 0, 100)),
            "rank 0 cannot upload for rank 1");
        UnsafeBuffer huge = frame(JOB, 5, 1, b, 0, 10);
        huge.putInt(GatherFrame.BLOB_LENGTH_OFFSET, GatherFrame.MAX_BLOB_LENGTH, java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(Outcome.UNAUTHENTICATED, feed(agg, huge), "a blob length nobody sealed allocates nothing");
        assertFalse(agg.isOpen(), "no forged frame opens a round");
        UnsafeBuffer altered = frame(JOB, 5, 1, b, 0, 100);
        altered.putByte(GatherFrame.HEADER_LENGTH, (byte) (altered.getByte(GatherFrame.HEADER_LENGTH) ^ 1));
        assertEquals(Outcome.UNAUTHENTICATED, feed(agg, altered));
        assertEquals(Outcome.BLOB_READY, feed(agg, frame(JOB, 5, 1, b, 0, 100)));
        assertEquals(Outcome.COMPLETED, feed(agg, frame(JOB, 5, 0, b, 0, 100)));
        assertArrayEquals(b, agg.blobs()[1]);
        assertEquals(4, drops.unauthenticated());
        assertEquals(4, drops.total());
    }
}
