package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.attack.UdpTap;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * No gradient bytes cross the wire in the clear: a worker's frames to both shards go through an on-path tap
 * ({@link UdpTap}) that records every datagram, and no 8 consecutive bytes of the gradient it sent (any two
 * neighbouring floats, as they lie in memory) appear anywhere in them. The same run with frames in the clear finds
 * them, so the search would see a leak.
 */
@Tag("slow")
class SealedWireTest {
    static final int FLOATS = 20_000;
    static final int STEPS = 5;

    @ParameterizedTest(name = "sealed {0}")
    @ValueSource(booleans = {true, false})
    void noEightBytesOfTheGradientAppearOnTheWireWhenSealed(boolean sealed) throws Exception {
        ShardLayout layout = new ShardLayout(FLOATS, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec created = ExchangeSpec.builder(0x7A9L, layout, 1).transport(ExchangeSpec.Transport.UDP)
            .timeoutMillis(30_000).build();
        ExchangeSpec spec = sealed ? created : created.withSecret(JobSecret.plaintextForBenchmarks());
        float[] gradient = new float[FLOATS];
        for (int i = 0; i < FLOATS; i++) {
            gradient[i] = 1000.25f + i * 0.001f; // distinct, far from the zeros and counters of headers
        }
        Set<Long> windows = new HashSet<>(); // every 8-byte run of the gradient at a float boundary
        ByteBuffer le = ByteBuffer.allocate(FLOATS * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : gradient) {
            le.putFloat(f);
        }
        for (int at = 0; at + 8 <= FLOATS * 4; at += 4) {
            windows.add(le.getLong(at));
        }

        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
             UdpTap tap0 = new UdpTap(0, new InetSocketAddress("127.0.0.1", spec.upstreamPorts()[0]), 100_000);
             UdpTap tap1 = new UdpTap(0, new InetSocketAddress("127.0.0.1", spec.upstreamPorts()[1]), 100_000)) {
            // the worker sends to the taps, which relay to the shards
            ExchangeSpec tapped = spec.toBuilder()
                .ports(new int[]{tap0.address().getPort(), tap1.address().getPort()}, spec.controlPorts(),
                    spec.gatherPort(), spec.gatherControlPort())
                .build();
            UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(FLOATS * 4, 64));
            try (EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(tapped);
                 GradientClient client = new GradientClient(workerAeron.aeron(), tapped, 0, "127.0.0.1")) {
                client.awaitConnected();
                for (long step = 0; step < STEPS; step++) {
                    for (int i = 0; i < FLOATS; i++) {
                        vec.putFloat(i * 4, gradient[i]);
                    }
                    client.exchange(step, vec.addressOffset(), 32, 0.5f);
                    assertEquals(gradient[FLOATS / 2], vec.getFloat(FLOATS / 2 * 4), 0f, "one worker: the mean is its own");
                }
            }
            assertNull(server.failure());

            long bytes = 0;
            int leaks = 0;
            for (UdpTap tap : List.of(tap0, tap1)) {
                for (byte[] d : tap.captured(UdpTap.Direction.TO_TARGET)) {
                    bytes += d.length;
                    ByteBuffer b = ByteBuffer.wrap(d).order(ByteOrder.LITTLE_ENDIAN);
                    for (int at = 0; at + 8 <= d.length; at++) {
                        if (windows.contains(b.getLong(at))) {
                            leaks++;
                        }
                    }
                }
            }
            long sent = (long) STEPS * FLOATS * 4;
            assertTrue(bytes > sent, "the taps saw the frames: " + bytes + " bytes for " + sent + " of gradients");
            if (sealed) {
                assertEquals(0, leaks, "8-byte runs of the gradient in the clear on the wire");
            } else {
                assertTrue(leaks > STEPS * (FLOATS / 2 - 64), "frames in the clear show the gradient: " + leaks);
            }
        }
    }
}
