package io.lockstep.ps.server;

import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.Bf16;
import io.lockstep.ps.wire.Fp16;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class ShardAggregatorTest {
    static final long JOB = 0x5EEDL;

    /** One honest worker chunk frame, sealed with the tests' secret, in its own buffer. */
    static UnsafeBuffer frame(long job, long step, int rank, ShardLayout layout, int shard, int chunk,
                              int samples, float loss, float[] gradient) {
        return TestFrames.gradient(job, step, rank, layout, shard, chunk, samples, loss, gradient);
    }

    static ShardAggregator aggregator(int shard, ShardLayout layout, int workers, long firstStep, DropCounters drops) {
        return new ShardAggregator(JOB, shard, layout, workers, firstStep, TestFrames.SECRET, drops);
    }

    @ParameterizedTest(name = "workers={0} shards={1}")
    @CsvSource({"1,1", "1,2", "1,3", "2,1", "2,2", "2,3", "4,1", "4,2", "4,3"})
    void averagesAreExactWhateverTheArrivalOrder(int workers, int shards) {
        ShardLayout layout = new ShardLayout(101, shards, 7);
        Random rnd = new Random(workers * 31L + shards);
        for (long step = 0; step < 3; step++) {
            float[][] grads = new float[workers][layout.paramCount()];
            int[] samples = new int[workers];
            float[] losses = new float[workers];
            long totalSamples = 0;
            for (int r = 0; r < workers; r++) {
                samples[r] = 1 + rnd.nextInt(64);
                losses[r] = rnd.nextInt(100) / 4f;
                totalSamples += samples[r];
                for (int i = 0; i < layout.paramCount(); i++) {
                    grads[r][i] = rnd.nextInt(2001) - 1000; // integers: every weighted sum is exact in float
                }
            }
            for (int s = 0; s < shards; s++) {
                ShardAggregator agg = aggregator(s, layout, workers, step, new DropCounters());
                List<UnsafeBuffer> frames = new ArrayList<>();
                for (int r = 0; r < workers; r++) {
                    for (int c = 0; c < layout.chunkCount(s); c++) {
                        frames.add(frame(JOB, step, r, layout, s, c, samples[r], losses[r], grads[r]));
                    }
                }
                Collections.shuffle(frames, rnd);
                int chunksReady = 0;
                for (int f = 0; f < frames.size(); f++) {
                    ShardAggregator.Outcome o = agg.onFrame(frames.get(f), 0, frames.get(f).capacity());
                    if (f == frames.size() - 1) {
                        assertEquals(ShardAggregator.Outcome.COMPLETED, o);
                    } else if (o == ShardAggregator.Outcome.CHUNK_READY) {
                        chunksReady++;
                    } else {
                        assertEquals(ShardAggregator.Outcome.ACCEPTED, o);
                    }
                }
                assertEquals(layout.chunkCount(s) - 1, chunksReady, "every other chunk completes on the way");
                assertEquals(layout.chunkCount(s), agg.readyCount());
                assertEquals(totalSamples, agg.totalSamples());
                double expectLoss = 0;
                for (int r = 0; r < workers; r++) {
                    expectLoss += (double) losses[r] * samples[r];
                }
                assertEquals((float) (expectLoss / totalSamples), agg.meanLoss(), 1e-6f);
                for (int i = 0; i < layout.shardLength(s); i++) {
                    int global = layout.shardStart(s) + i;
                    float sum = 0;
                    for (int r = 0; r < workers; r++) {
                        sum += samples[r] * grads[r][global];
                    }
                    assertEquals(sum / (float) totalSamples, agg.values().getFloat(i * 4),
                        "value " + global + " step " + step);
                }
            }
        }
    }

    @Test
    void emptyBatchesCountButAddNothing() {
        ShardLayout layout = new ShardLayout(20, 1, 8);
        float[] g = new float[20];
        java.util.Arrays.fill(g, 6f);
        ShardAggregator agg = aggregator(0, layout, 2, 0, new DropCounters());
        for (int c = 0; c < layout.chunkCount(0); c++) {
            UnsafeBuffer a = frame(JOB, 0, 0, layout, 0, c, 3, 1f, g);
            UnsafeBuffer b = frame(JOB, 0, 1, layout, 0, c, 0, 0f, g);
            agg.onFrame(a, 0, a.capacity());
            agg.onFrame(b, 0, b.capacity());
        }
        assertTrue(agg.isComplete());
        assertEquals(3, agg.totalSamples());
        assertEquals(6f, agg.values().getFloat(0), "the empty batch must not dilute the average");
        assertEquals(1f, agg.meanLoss());
    }

    @Test
    void foreignStaleTruncatedAndDuplicateFramesAreDroppedAndCounted() {
        ShardLayout layout = new ShardLayout(40, 2, 8);
        float[] g = new float[40];
        java.util.Arrays.fill(g, 1f);
        DropCounters drops = new DropCounters();
        ShardAggregator agg = aggregator(1, layout, 2, 5, drops);

        UnsafeBuffer foreign = frame(JOB + 1, 5, 0, layout, 1, 0, 4, 1f, g);
        assertEquals(ShardAggregator.Outcome.FOREIGN_JOB, agg.onFrame(foreign, 0, foreign.capacity()));
        UnsafeBuffer stale = frame(JOB, 4, 0, layout, 1, 0, 4, 1f, g);
        assertEquals(ShardAggregator.Outcome.STALE_STEP, agg.onFrame(stale, 0, stale.capacity()));
        UnsafeBuffer good = frame(JOB, 5, 0, layout, 1, 0, 4, 1f, g);
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(good, 0, good.capacity() - 4), "truncated values");
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(good, 0, 20), "truncated header");
        UnsafeBuffer wrongShard = frame(JOB, 5, 0, layout, 0, 0, 4, 1f, g);
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(wrongShard, 0, wrongShard.capacity()));
        UnsafeBuffer badRank = frame(JOB, 5, 7, layout, 1, 0, 4, 1f, g);
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(badRank, 0, badRank.capacity()));
        assertEquals(ShardAggregator.Outcome.ACCEPTED, agg.onFrame(good, 0, good.capacity()));
        assertEquals(ShardAggregator.Outcome.DUPLICATE, agg.onFrame(good, 0, good.capacity()));
        UnsafeBuffer otherCount = frame(JOB, 5, 0, layout, 1, 1, 9, 1f, g);
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(otherCount, 0, otherCount.capacity()),
            "a rank's chunks must agree on its sample count");

        assertEquals(1, drops.foreignJob());
        assertEquals(1, drops.staleStep());
        assertEquals(5, drops.malformed());
        assertEquals(1, drops.duplicate());
        // none of the dropped frames reached the sum: finish the step and check the average
        for (int r = 0; r < 2; r++) {
            for (int c = 0; c < layout.chunkCount(1); c++) {
                if (r == 0 && c == 0) continue;
                UnsafeBuffer f = frame(JOB, 5, r, layout, 1, c, 4, 1f, g);
                agg.onFrame(f, 0, f.capacity());
            }
        }
        assertTrue(agg.isComplete());
        for (int i = 0; i < layout.shardLength(1); i++) {
            assertEquals(1f, agg.values().getFloat(i * 4));
        }
        agg.advance();
        assertEquals(6, agg.step());
        assertEquals(ShardAggregator.Outcome.STALE_STEP, agg.onFrame(good, 0, good.capacity()), "finished step");
    }

    /**
     * Only a frame sealed with its own rank's key of this job's secret is summed: forgeries of every
     * kind are dropped as unauthenticated before they change anything, so the genuine frames that
     * follow still complete the step, exactly, and nobody is blamed for the forgeries.
     */
    @Test
    void onlyFramesSealedByTheRankTheyNameAreSummed() {
        ShardLayout layout = new ShardLayout(24, 1, 8);
        float[] g0 = new float[24];
        float[] g1 = new float[24];
        for (int i = 0; i < 24; i++) {
            g0[i] = i;
            g1[i] = 100 - i;
        }
        DropCounters drops = new DropCounters();
        ShardAggregator agg = aggregator(0, layout, 2, 3, drops);
        short gradient = FrameHeader.TYPE_GRADIENT;
        JobSecret other = JobSecret.random();
        List<UnsafeBuffer> forged = new ArrayList<>();
        // rank 1's frame sealed with another job's secret
        forged.add(TestFrames.gradient(other, gradient, 1, JOB, 3, 1, layout, 0, 0, 5, 1f, g1));
        // a zero-sample frame "from rank 1", sealed by rank 0 (a member impersonating another, or a stranger's guess)
        forged.add(TestFrames.gradient(TestFrames.SECRET, gradient, 0, JOB, 3, 1, layout, 0, 0, 0, 0f, g1));
        // the shards' own key (an average reflected back as a gradient)
        forged.add(TestFrames.gradient(TestFrames.SECRET, gradient, GradientFrame.SERVER_RANK, JOB, 3, 0, layout, 0, 1,
            7, 1f, g0));
        // one value bit flipped
        UnsafeBuffer altered = frame(JOB, 3, 0, layout, 0, 1, 7, 1f, g0);
        altered.putByte(GradientFrame.HEADER_LENGTH + 5, (byte) (altered.getByte(GradientFrame.HEADER_LENGTH + 5) ^ 1));
        forged.add(altered);
        UnsafeBuffer relabelled = frame(JOB, 3, 0, layout, 0, 2, 7, 1f, g0);
        relabelled.putFloat(GradientFrame.LOSS_OFFSET, 99f, java.nio.ByteOrder.LITTLE_ENDIAN); // header altered
        forged.add(relabelled);
        UnsafeBuffer badTag = frame(JOB, 3, 1, layout, 0, 2, 5, 2f, g1);
        badTag.putByte(badTag.capacity() - 1, (byte) (badTag.getByte(badTag.capacity() - 1) ^ 0x80));
        forged.add(badTag);
        for (UnsafeBuffer f : forged) {
            assertEquals(ShardAggregator.Outcome.UNAUTHENTICATED, agg.onFrame(f, 0, f.capacity()));
        }
        assertFalse(agg.isStarted(), "no forged frame started the step's clock");
        assertEquals("0,1", agg.missingRanks(), "and none counts as a rank's contribution");
        assertEquals(forged.size(), drops.unauthenticated());
        assertEquals(forged.size(), drops.total());

        List<UnsafeBuffer> genuine = new ArrayList<>();
        for (int c = 0; c < layout.chunkCount(0); c++) {
            genuine.add(frame(JOB, 3, 0, layout, 0, c, 7, 1f, g0));
            genuine.add(frame(JOB, 3, 1, layout, 0, c, 5, 2f, g1));
        }
        for (UnsafeBuffer f : genuine) {
            agg.onFrame(f, 0, f.capacity());
        }
        assertTrue(agg.isComplete());
        assertEquals(12, agg.totalSamples());
        for (int i = 0; i < 24; i++) {
            assertEquals((7 * g0[i] + 5 * g1[i]) / 12f, agg.values().getFloat(i * 4), "value " + i);
        }
        UnsafeBuffer replay = genuine.get(0);
        assertEquals(ShardAggregator.Outcome.DUPLICATE, agg.onFrame(replay, 0, replay.capacity()));
        agg.advance();
        assertEquals(ShardAggregator.Outcome.STALE_STEP, agg.onFrame(replay, 0, replay.capacity()),
            "a replayed frame carries its old step");
        assertEquals(forged.size(), drops.unauthenticated());
    }

    @Test
    void aBareHeaderIsMalformedAndNothingPastItIsRead() {
        DropCounters drops = new DropCounters();
        ShardAggregator agg = aggregator(0, new ShardLayout(40, 1, 8), 2, 0, drops);
        UnsafeBuffer stub = new UnsafeBuffer(new byte[FrameHeader.LENGTH]); // reading the step would overrun it
        FrameHeader.write(stub, 0, FrameHeader.TYPE_GRADIENT, JOB);
        assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(stub, 0, stub.capacity()));
        UnsafeBuffer gather = new UnsafeBuffer(new byte[FrameHeader.LENGTH]);
        FrameHeader.write(gather, 0, FrameHeader.TYPE_GATHER, GatherAggregatorTest.JOB);
        assertEquals(GatherAggregator.Outcome.MALFORMED,
            GatherAggregatorTest.aggregator(2, drops).onFrame(gather, 0, gather.capacity()));
        assertEquals(2, drops.malformed());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"BF16", "FP16"})
    void sixteenBitFramesAreWidenedAndAveragedAndFramesOfAnotherWidthAreMalformed(WireFormat wire) {
        ShardLayout layout = new ShardLayout(50, 1, 20);
        DropCounters drops = new DropCounters();
        ShardAggregator agg = new ShardAggregator(JOB, 0, layout, 2, 0, TestFrames.SECRET, drops, wire);
        Random rnd = new Random(4);
        float[] g0 = new float[50];
        float[] g1 = new float[50];
        for (int i = 0; i < 50; i++) {
            g0[i] = (float) rnd.nextGaussian();
            g1[i] = (float) rnd.nextGaussian() * 1e-3f;
        }
        WireFormat other = wire == WireFormat.BF16 ? WireFormat.FP16 : WireFormat.BF16;
        List<UnsafeBuffer> wrong = List.of(
            TestFrames.gradient(JOB, 0, 0, layout, 0, 0, 3, g0, WireFormat.FP32, 0),          // float32 to a 16-bit job
            TestFrames.gradient(JOB, 0, 0, layout, 0, 0, 3, g0, other, other.code()),          // the other 16-bit format
            TestFrames.gradient(JOB, 0, 0, layout, 0, 0, 3, g0, WireFormat.FP32, wire.code()), // 4-byte values, 2 announced
            TestFrames.gradient(JOB, 0, 0, layout, 0, 0, 3, g0, wire, 3),                      // no such format
            TestFrames.gradient(JOB, 0, 0, layout, 0, 0, 3, g0, wire, WireFormat.FP32.code())); // 2-byte values, 4 announced
        for (UnsafeBuffer f : wrong) {
            assertEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(f, 0, f.capacity()));
        }
        assertEquals(wrong.size(), drops.malformed());
        assertFalse(agg.isStarted(), "nothing of a malformed frame counts");
        assertEquals(2, agg.missingCount());
        assertEquals(0b11, agg.missingMask());
        for (int c = 0; c < layout.chunkCount(0); c++) {
            UnsafeBuffer f = TestFrames.gradient(JOB, 0, 0, layout, 0, c, 3, g0, wire, wire.code());
            assertNotEquals(ShardAggregator.Outcome.MALFORMED, agg.onFrame(f, 0, f.capacity()));
        }
        assertEquals(1, agg.missingCount(), "rank 0 is in");
        assertEquals(0b10, agg.missingMask());
        for (int c = 0; c < layout.chunkCount(0); c++) {
            UnsafeBuffer f = TestFrames.gradient(JOB, 0, 1, layout, 0, c, 5, g1, wire, wire.code());
            agg.onFrame(f, 0, f.capacity());
        }
        assertTrue(agg.isComplete());
        assertEquals(0, agg.missingCount());
        double halfUlp = wire == WireFormat.BF16 ? 0x1p-8 : 0x1p-11; // relative: 8 and 11 significant bits
        for (int i = 0; i < 50; i++) {
            float d0 = wire == WireFormat.BF16 ? Bf16.toFloat(Bf16.fromFloat(g0[i])) : Fp16.toFloat(Fp16.fromFloat(g0[i]));
            float d1 = wire == WireFormat.BF16 ? Bf16.toFloat(Bf16.fromFloat(g1[i])) : Fp16.toFloat(Fp16.fromFloat(g1[i]));
            assertEquals((3 * d0 + 5 * d1) / 8f, agg.values().getFloat(i * 4), 1e-7, "the average of what was sent");
            double exact = (3.0 * g0[i] + 5.0 * g1[i]) / 8;
            double bound = (3 * Math.abs(g0[i]) + 5 * Math.abs(g1[i])) / 8 * halfUlp + 0x1p-24 + 1e-7 * Math.abs(exact);
            assertEquals(exact, agg.values().getFloat(i * 4), bound, "within the rounding of the float32 average");
        }
        agg.advance();
        assertEquals(2, agg.missingCount(), "every rank is missing from the next step");
    }
}
