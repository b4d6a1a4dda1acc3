package io.lockstep.ps.server;

import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import java.io.ByteArrayOutputStream;
import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** Averages go to the job's workers only; the job's secret shows nowhere. */
@Tag("slow")
class MembershipTest {

    /**
     * A stranger subscribes to a shard's averages the way dynamic multi-destination-cast allowed (a
     * status message to the control port) and never reads; another sends forged JOINs naming its own
     * endpoint, on the shard's port and stream but not on a rank's session. Neither receives a frame, the
     * JOINs never reach the shard, and the job is not held back by either.
     */
    @Test
    void strangersNeitherReceiveAveragesNorHoldTheJobBack() throws Exception {
        int n = 20_000;
        ShardLayout layout = new ShardLayout(n, 1, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        long job = ThreadLocalRandom.current().nextLong();
        ExchangeSpec spec = ParameterServerTest.spec(job, layout, 2, ExchangeSpec.Transport.UDP);
        int[] ports = FreePorts.udp("127.0.0.1", 2);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             EmbeddedAeron strangerAeron = EmbeddedAeron.acquire("stranger", spec.timeoutMillis());
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
             Subscription dynamicJoiner = strangerAeron.aeron().addSubscription("aeron:udp?endpoint=127.0.0.1:"
                 + ports[0] + "|control=127.0.0.1:" + spec.controlPorts()[0] + "|control-mode=dynamic",
                 spec.downstreamStream(0));
             Subscription forgedJoiner = strangerAeron.aeron().addSubscription("aeron:udp?endpoint=127.0.0.1:"
                 + ports[1], spec.downstreamStream(0));
             ExclusivePublication rogue = strangerAeron.aeron().addExclusivePublication(
                 "aeron:udp?endpoint=127.0.0.1:" + spec.upstreamPorts()[0], spec.upstreamStream(0))) {
            // without a rank's session id the stranger's JOINs are never even read
            rogue.offer(TestFrames.join(JobSecret.random(), 0, job, 0, 0, "127.0.0.1:" + ports[1]));
            rogue.offer(TestFrames.join(JobSecret.random(), 1, job, 1, 0, "127.0.0.1:" + ports[1]));
            List<Future<?>> ranks = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> {
                    UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(n * 4, 64));
                    try (GradientClient client = new GradientClient(workerAeron.aeron(), spec, rank, "127.0.0.1")) {
                        client.awaitConnected();
                        for (int step = 0; step < 20; step++) {
                            for (int i = 0; i < n; i++) {
                                vec.putFloat(i * 4, rank * 2 + (i % 5)); // means are exact: (0 + 2)/2 + i%5
                            }
                            client.exchange(step, vec.addressOffset(), 1, 0f);
                            for (int i = 0; i < n; i += 997) {
                                assertEquals(1f + (i % 5), vec.getFloat(i * 4), "rank " + rank + " step " + step);
                            }
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : ranks) {
                f.get(60, TimeUnit.SECONDS);
            }
            assertEquals(0, dynamicJoiner.imageCount(), "a dynamic join is not honoured");
            assertEquals(0, forgedJoiner.imageCount(), "a forged JOIN adds no destination");
            assertFalse(rogue.isConnected(), "the stranger's publication found an image");
            assertEquals(0, server.drops().refused(), server.drops().toString());
            assertNull(server.failure());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void theSecretShowsInNoStringAndAPlaintextOneNeverLeavesItsProcess() throws Exception {
        byte[] bytes = new byte[JobSecret.LENGTH];
        new java.util.Random(98).nextBytes(bytes); // a fixed secret: the check below looks for its bytes in strings
        ExchangeSpec spec = ExchangeSpec.builder(7, new ShardLayout(100, 1, 10), 2)
            .ports(new int[]{1}, new int[]{2}, 3, 4).termLength(1 << 22).timeoutMillis(1000)
            .secret(JobSecret.of(bytes)).build();
        String text = spec.toString() + " " + spec.secret();
        assertFalse(text.toLowerCase().contains(HexFormat.of().formatHex(bytes, 0, 4)), text);
        assertFalse(text.contains(java.util.Base64.getEncoder().encodeToString(bytes).substring(0, 8)), text);
        assertEquals("JobSecret[redacted]", spec.secret().toString());
        assertThrows(NullPointerException.class, () -> spec.toBuilder().secret(null));
        assertThrows(NotSerializableException.class, () -> new ObjectOutputStream(new ByteArrayOutputStream())
            .writeObject(JobSecret.plaintextForBenchmarks()));
    }
}
