package io.lockstep.ps.server;

import io.aeron.ExclusivePublication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.optim.ParamRoles;
import io.lockstep.ps.optim.ServerOptimizer;
import io.lockstep.ps.optim.UpdateRule;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The norm reduction between the servers of shards on the executors ({@link NormLink}): a NORM frame is
 * posted only when its tag holds under the sending shard's key, it names a shard of another server and a
 * later step than that slot holds; anything else is dropped and counted, and the real reduction goes on.
 */
@Tag("slow")
class NormLinkTest {
    static EmbeddedAeron aeron;

    @BeforeAll
    static void start() {
        aeron = EmbeddedAeron.acquire();
    }

    @AfterAll
    static void stop() {
        aeron.close();
    }

    /**
     * What a server's norm endpoint does with frames that reach it on a peer's session (an on-path attacker's, or
     * copies): sealed with another secret, of another job, for one of its own shards, a copy of the step it holds,
     * an older step. Only the genuine later step is posted; a copy changes nothing and is no drop.
     */
    @Test
    void forgedForeignMisaddressedAndReplayedNormsAreDroppedAndOnlyTheGenuineOneIsPosted() {
        NormReduction reduction = new NormReduction(2);
        DropCounters drops = new DropCounters();
        JobSecret secret = JobSecret.random();
        long job = ThreadLocalRandom.current().nextLong();
        NormLink link = new NormLink(reduction, job, secret, 2, new int[]{1}, null, new io.aeron.Publication[0], drops);
        UnsafeBuffer frame = new UnsafeBuffer(BufferUtil.allocateDirectAligned(GradientFrame.frameLength(2), 64));
        UnsafeBuffer value = new UnsafeBuffer(BufferUtil.allocateDirectAligned(8, 8));
        value.putDouble(0, 1e30); // a forged norm would clip every step to nothing
        link.onFrame(seal(frame, value, JobSecret.random(), job, 0, 7), 0, frame.capacity());
        link.onFrame(seal(frame, value, secret, job + 1, 0, 0), 0, frame.capacity());
        link.onFrame(seal(frame, value, secret, job, 1, 0), 0, frame.capacity()); // shard 1 is this server's own
        assertEquals(-1, reduction.postedStep(0), "nothing forged was posted");
        value.putDouble(0, 2.5);
        link.onFrame(seal(frame, value, secret, job, 0, 1), 0, frame.capacity());
        assertEquals(1, reduction.postedStep(0));
        assertEquals(2.5, reduction.posted(0));
        link.onFrame(seal(frame, value, secret, job, 0, 1), 0, frame.capacity()); // a resent copy
        link.onFrame(seal(frame, value, secret, job, 0, 0), 0, frame.capacity()); // a replay of an older step
        assertEquals(1, drops.unauthenticated(), drops.toString());
        assertEquals(1, drops.foreignJob(), drops.toString());
        assertEquals(1, drops.malformed(), drops.toString());
        assertEquals(1, drops.staleStep(), drops.toString());
        assertEquals(4, drops.total(), drops.toString());
    }

    /** A stranger on a server's norm port and stream, on no server's session: never connected, the steps go on. */
    @Test
    void aStrangerCannotReachTheNormEndpointAndTheStepsStillAgree() throws Exception {
        int n = 4000;
        ShardLayout layout = new ShardLayout(n, 2, 1000);
        ParamRoles roles = new ParamRoles.Builder().add(ParamRoles.WEIGHT, n).build();
        UpdateRule rule = new UpdateRule(UpdateRule.Kind.SGD, step -> 0.1, 0, false, 0, 0, 0, 0, 0, 0, 0,
            UpdateRule.Clip.NORM, 1.0);
        ExchangeSpec spec = ServerOptimizerTest.onExecutors(ExchangeSpec.builder(
                ThreadLocalRandom.current().nextLong(), layout, 2)
            .transport(ExchangeSpec.Transport.UDP).termLength(1 << 20).timeoutMillis(10_000).build()
            .withOptimizer(new ServerOptimizer(rule, roles)));
        float[] initial = new float[n];
        try (ServerOptimizerTest.Servers servers = new ServerOptimizerTest.Servers(aeron.aeron(), spec,
                 StepListener.NONE, initial);
             Clients clients = new Clients(spec, n);
             ExclusivePublication stranger = aeron.aeron().addExclusivePublication("aeron:udp?endpoint="
                 + ExchangeSpec.endpoint(spec.shardHost(1), spec.shardHosts().normPorts()[1]), spec.normStream())) {
            ParameterServer second = servers.all.get(2); // the driver's endpoint, shard 0's server, shard 1's
            clients.step(0);
            UnsafeBuffer frame = new UnsafeBuffer(BufferUtil.allocateDirectAligned(GradientFrame.frameLength(2), 64));
            UnsafeBuffer value = new UnsafeBuffer(BufferUtil.allocateDirectAligned(8, 8));
            value.putDouble(0, 1e30);
            for (int i = 0; i < 50; i++) {
                stranger.offer(seal(frame, value, JobSecret.random(), spec.jobId(), 0, 7));
                Thread.sleep(2);
            }
            assertFalse(stranger.isConnected(), "the stranger's publication found an image");
            clients.step(1);
            clients.step(2); // the reduction goes on as if nothing had come
            assertEquals(0, second.drops().refused(), second.drops().toString());
            assertNull(second.failure());
        }
    }

    /**
     * Two workers sending the same constant gradient g(step) = step + 1 everywhere: plain SGD at rate 0.1,
     * clipped to global norm 1, moves every parameter by -0.1 / sqrt(n) per step (the norm is (step + 1) sqrt(n)).
     */
    static final class Clients implements AutoCloseable {
        private final GradientClient[] clients = new GradientClient[2];
        private final UnsafeBuffer[] grads = new UnsafeBuffer[2];
        private final UnsafeBuffer[] params = new UnsafeBuffer[2];
        private final int n;

        Clients(ExchangeSpec spec, int n) throws Exception {
            this.n = n;
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                java.util.List<java.util.concurrent.Future<GradientClient>> connecting = new java.util.ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    int rank = r;
                    grads[r] = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    params[r] = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    connecting.add(pool.submit(() -> {
                        GradientClient c = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1");
                        c.awaitConnected();
                        return c;
                    }));
                }
                for (int r = 0; r < 2; r++) {
                    clients[r] = connecting.get(r).get(20, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
        }

        double expectedSumOfSquares(long step) {
            return (double) (step + 1) * (step + 1) * n;
        }

        void step(long step) throws Exception {
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                java.util.List<java.util.concurrent.Future<?>> running = new java.util.ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    int rank = r;
                    running.add(pool.submit(() -> {
                        for (int i = 0; i < n; i++) grads[rank].putFloat(i * 4, step + 1);
                        clients[rank].exchange(step, grads[rank].addressOffset(), 4, 0.5f, params[rank].addressOffset());
                        return null;
                    }));
                }
                for (java.util.concurrent.Future<?> f : running) {
                    f.get(20, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            float want = 0f;
            for (long s = 0; s <= step; s++) {
                want -= (float) (0.1 / Math.sqrt(n));
            }
            for (int r = 0; r < 2; r++) {
                assertEquals((step + 1) * Math.sqrt(n), clients[r].gradientNorm(), 1e-3, "the global norm");
                for (int i = 0; i < n; i += 997) {
                    assertEquals(want, params[r].getFloat(i * 4), 1e-6, "rank " + r + " param " + i + " step " + step);
                }
            }
        }

        @Override
        public void close() {
            for (GradientClient c : clients) {
                if (c != null) {
                    c.close();
                }
            }
        }
    }

    /** A NORM frame from shard {@code shard} for {@code step}, sealed under {@code secret}. */
    private static UnsafeBuffer seal(UnsafeBuffer frame, UnsafeBuffer value, JobSecret secret, long jobId, int shard,
                                     long step) {
        new GradientFrame().wrapForWrite(frame, 0, frame.capacity()).header(FrameHeader.TYPE_NORM, jobId, step,
            GradientFrame.SERVER_RANK, shard, 0, 1, 0, 0f, 0, 2);
        new FrameCipher(secret, jobId, FrameHeader.TYPE_NORM, shard, new FrameCipher.Scratch())
            .seal(frame, 0, GradientFrame.HEADER_LENGTH, value, 0, Double.BYTES, step, shard);
        return frame;
    }

    private static void offer(ExclusivePublication pub, UnsafeBuffer frame) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (pub.offer(frame, 0, frame.capacity()) < 0) {
            assertTrue(System.nanoTime() < deadline, "could not send");
            Thread.sleep(1);
        }
    }
}
