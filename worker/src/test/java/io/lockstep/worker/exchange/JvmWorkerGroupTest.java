package io.lockstep.worker.exchange;

import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.*;

/** The in-JVM reduction on its own: weights, the loss, a missing member, membership. */
class JvmWorkerGroupTest {

    private static UnsafeBuffer vector(float... values) {
        UnsafeBuffer b = new UnsafeBuffer(BufferUtil.allocateDirectAligned(values.length * 4, 64));
        for (int i = 0; i < values.length; i++) {
            b.putFloat(i * 4, values[i]);
        }
        return b;
    }

    @Test
    void theLeaderHoldsTheSampleWeightedMeanOfItsGroup() throws Exception {
        JvmWorkerGroup group = JvmWorkerGroup.join(ThreadLocalRandom.current().nextLong(), new int[]{4, 2, 7});
        UnsafeBuffer r2 = vector(1, 2, 3);
        UnsafeBuffer r4 = vector(4, 5, 6);
        UnsafeBuffer r7 = vector(100, 100, 100);
        group.post(4, 0, r4.addressOffset(), 3, 0.5f);
        group.post(7, 0, r7.addressOffset(), 0, Float.NaN); // an exhausted rank: weight 0, its NaN loss too
        group.post(2, 0, r2.addressOffset(), 1, 1.5f);
        assertTrue(group.leads(2));
        assertEquals(4, group.reduce(0, r2.addressOffset(), 3, 1_000_000_000L));
        assertEquals((1 * 1 + 3 * 4) / 4f, r2.getFloat(0));
        assertEquals((1 * 3 + 3 * 6) / 4f, r2.getFloat(8));
        assertEquals((1.5f + 3 * 0.5f) / 4f, group.loss(), 1e-7);
    }

    @Test
    void membersReducingDisjointRangesWriteTheOneLoopMeanBitForBit() throws Exception {
        int n = 10_007; // several blocks and a ragged one
        int[] ranks = {0, 1, 2};
        float[] weights = {16, 0, 48}; // rank 1 is exhausted: its vector (NaN here) adds nothing
        java.util.Random random = new java.util.Random(5);
        UnsafeBuffer[] grads = new UnsafeBuffer[3];
        for (int r = 0; r < 3; r++) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = r == 1 ? Float.NaN : (float) random.nextGaussian() * 3;
            grads[r] = vector(v);
        }
        float[] want = new float[n]; // the definition, one loop: (w0·g0 + w2·g2) / 64
        for (int i = 0; i < n; i++) {
            want[i] = (weights[0] * grads[0].getFloat(i * 4) + weights[2] * grads[2].getFloat(i * 4)) / 64f;
        }
        JvmWorkerGroup group = JvmWorkerGroup.join(ThreadLocalRandom.current().nextLong(), ranks);
        for (int r = 0; r < 3; r++) {
            group.post(r, 0, grads[r].addressOffset(), (int) weights[r], 1f);
        }
        // every member reduces a third of the vector into its own, as AeronGroupExchange splits it
        long[] cut = {0, 4L * 3001, 4L * 7000, 4L * n};
        for (int r = 0; r < 3; r++) {
            JvmWorkerGroup.Reduction part = new JvmWorkerGroup.Reduction(group);
            assertEquals(64, part.collect(r, 0, 1_000_000_000L));
            part.mean(grads[r].addressOffset(), cut[r], cut[r + 1]);
        }
        for (int i = 0; i < n; i++) {
            int owner = i < 3001 ? 0 : i < 7000 ? 1 : 2;
            assertEquals(Float.floatToRawIntBits(want[i]), Float.floatToRawIntBits(grads[owner].getFloat(i * 4)),
                "value " + i);
        }
    }

    @Test
    void aLeaderWithoutSamplesContributesNothingWhateverItsVectorHolds() throws Exception {
        JvmWorkerGroup group = JvmWorkerGroup.join(ThreadLocalRandom.current().nextLong(), new int[]{0, 1});
        UnsafeBuffer stale = vector(Float.NaN, 7);
        UnsafeBuffer b = vector(2, 4);
        group.post(1, 3, b.addressOffset(), 5, 0.2f);
        group.post(0, 3, stale.addressOffset(), 0, 0f);
        assertEquals(5, group.reduce(3, stale.addressOffset(), 2, 1_000_000_000L));
        assertEquals(2f, stale.getFloat(0));
        assertEquals(4f, stale.getFloat(4));
        assertEquals(0.2f, group.loss(), 1e-7);
    }

    @Test
    void aMemberWithANonFiniteLossMakesTheGroupsLossNaN() throws Exception {
        JvmWorkerGroup group = JvmWorkerGroup.join(ThreadLocalRandom.current().nextLong(), new int[]{0, 1});
        UnsafeBuffer a = vector(1);
        UnsafeBuffer b = vector(2);
        group.post(1, 5, b.addressOffset(), 2, Float.NaN);
        group.post(0, 5, a.addressOffset(), 2, 0.1f);
        group.reduce(5, a.addressOffset(), 1, 1_000_000_000L);
        assertTrue(Float.isNaN(group.loss()));
    }

    @Test
    void theLeaderWaitsForAMissingMemberOnlyUntilTheDeadlineAndNamesIt() {
        JvmWorkerGroup group = JvmWorkerGroup.join(ThreadLocalRandom.current().nextLong(), new int[]{0, 3});
        UnsafeBuffer a = vector(1);
        group.post(0, 9, a.addressOffset(), 1, 0f);
        group.post(3, 8, vector(1).addressOffset(), 1, 0f); // an older step does not count
        TimeoutException e = assertThrows(TimeoutException.class,
            () -> group.reduce(9, a.addressOffset(), 1, 200_000_000L));
        assertTrue(e.getMessage().contains("rank 0 step 9: no gradient from rank 3 (same JVM)"), e.getMessage());
    }

    @Test
    void tasksOfOneJobMustAgreeOnTheGroupAndTheLastToLeaveRemovesIt() {
        long job = ThreadLocalRandom.current().nextLong();
        JvmWorkerGroup first = JvmWorkerGroup.join(job, new int[]{1, 0});
        assertSame(first, JvmWorkerGroup.join(job, new int[]{0, 1}));
        assertThrows(IllegalStateException.class, () -> JvmWorkerGroup.join(job, new int[]{0, 2}));
        first.leave();
        first.leave();
        assertNotSame(first, JvmWorkerGroup.join(job, new int[]{0, 1}), "a new group once every member left");
    }
}
