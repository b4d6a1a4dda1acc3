package io.lockstep.ps;

import io.lockstep.ps.ExchangeSpec.Transport;
import io.lockstep.ps.wire.JobSecret;
import io.lockstep.ps.wire.WireFormat;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ExchangeRulesTest {
    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }

    @Test
    void eachRuleSaysWhatIsWrong() {
        assertNull(ExchangeRules.mtuProblem(4096));
        assertNull(ExchangeRules.mtuProblem(65504));
        assertEquals("must be a multiple of 32 in [1024, 65504], got 4001", ExchangeRules.mtuProblem(4001));
        assertEquals("must be a multiple of 32 in [1024, 65504], got 992", ExchangeRules.mtuProblem(992));
        assertEquals("must be a multiple of 32 in [1024, 65504], got 65505", ExchangeRules.mtuProblem(65505));
        assertNull(ExchangeRules.executorShardsProblem(Transport.UDP));
        assertEquals("shards on the executors need udp (they run in other JVMs than most workers and cannot share"
            + " memory with them), got ipc", ExchangeRules.executorShardsProblem(Transport.IPC));
    }

    private static Terms auto(int params, int shards, int mtu, WireFormat wire, WireFormat answer, int slots) {
        return ExchangeRules.autoTerms(new ShardLayout(params, shards, ExchangeSpec.chunkValuesFor(mtu)), mtu, wire,
            answer, slots);
    }

    @Test
    void autoTermsHoldWhatEachKindOfStreamCarriesAtOnceWithinTheirBounds() {
        // the MNIST MLP: 117,573 floats a shard, 8 frames of 65504 or 347 of 1472 bytes, twice is under 1 MiB;
        // Adam's state on the server (2 x that) streams through the answers' term: it need not fit
        assertEquals(new Terms(1 << 20, 1 << 20, 512 << 10), auto(235_146, 2, 65504, WireFormat.FP32,
            WireFormat.FP32, 2));
        assertEquals(new Terms(1 << 20, 1 << 20, 64 << 10), auto(235_146, 2, 1472, WireFormat.FP32,
            WireFormat.FP32, 2));
        // the optimizer on the workers: averages only
        assertEquals(new Terms(1 << 20, 1 << 20, 64 << 10), auto(235_146, 2, 1472, WireFormat.FP32,
            WireFormat.FP32, 0));
        // 16-bit gradients: half the upstream run (headers aside)
        assertEquals(new Terms(1 << 20, 1 << 20, 64 << 10), auto(235_146, 2, 1472, WireFormat.FP16,
            WireFormat.FP16, 0));
        assertEquals(new Terms(512 << 10, 512 << 10, 512 << 10), auto(5_000, 2, 65504, WireFormat.FP32,
            WireFormat.FP32, 1));
        assertEquals(Terms.of(64 << 10), auto(5_000, 2, 1472, WireFormat.FP32, WireFormat.FP32, 0));
        // gradients capped at the ceiling; answers twice a step's (8 MB): 16 MiB, whatever the state's size
        Terms big = auto(2_000_000, 1, 65504, WireFormat.FP32, WireFormat.FP32, 2);
        assertEquals(ExchangeRules.AUTO_TERM_CEILING, big.upstream());
        assertEquals(16 << 20, big.answers());
        for (int params : new int[]{1_000, 235_146, 3_000_000}) {
            Terms t = auto(params, 2, 65504, WireFormat.FP32, WireFormat.FP32, 2);
            assertNull(ExchangeRules.termForMtuProblem(t.smallest(), 65504), params + ": " + t);
        }
        assertEquals("must be auto or a power of two in [65536, 1073741824], got 32768",
            ExchangeRules.termLengthProblem(32768));
        assertEquals("must be a power of two >= 8 x ps.mtu (524032), got 262144",
            ExchangeRules.termForMtuProblem(262144, 65504));
        assertEquals("term length must be a power of two >= 8 x ps.mtu (524032), got 262144", message(() ->
            ExchangeSpec.builder(1, new ShardLayout(100, 2, 10), 2).termLength(262144).build()));
        ExchangeSpec spec = ExchangeSpec.builder(1, new ShardLayout(100, 2, 10), 2)
            .terms(new Terms(1 << 20, 2 << 20, 512 << 10)).build();
        assertTrue(spec.upstreamChannel(0, 1).contains("term-length=1048576|"), spec.upstreamChannel(0, 1));
        assertTrue(spec.downstreamPublicationChannel(0, 0).contains("term-length=2097152|"));
        assertTrue(spec.downstreamSubscriptionChannel(0, "127.0.0.1", 5, 0).contains("term-length=2097152|"));
        assertTrue(spec.gatherUpstreamChannel(0).contains("term-length=524288|"));
        assertTrue(spec.gatherDownstreamSubscriptionChannel("127.0.0.1", 5).contains("term-length=524288|"));
    }

    @Test
    void theBuilderNamesEverySettingAndTheSpecKeepsTheRules() {
        ShardLayout layout = new ShardLayout(100, 2, 10);
        JobSecret secret = JobSecret.random();
        ExchangeSpec spec = ExchangeSpec.builder(7, layout, 3).transport(Transport.IPC).mtu(8192).termLength(1 << 20)
            .timeoutMillis(5_000).firstStep(11).secret(secret).wire(WireFormat.FP16).build();
        assertEquals(7, spec.jobId());
        assertEquals(3, spec.workers());
        assertEquals(Transport.IPC, spec.transport());
        assertEquals(8192, spec.mtu());
        assertEquals(1 << 20, spec.termLength());
        assertEquals(5_000, spec.timeoutMillis());
        assertEquals(11, spec.firstStep());
        assertSame(secret, spec.secret());
        assertEquals(WireFormat.FP16, spec.wire());
        assertArrayEquals(new int[2], spec.upstreamPorts()); // IPC: no ports
        ExchangeSpec copy = spec.toBuilder().timeoutMillis(9_000).build();
        assertEquals(9_000, copy.timeoutMillis());
        assertEquals(spec.toString(), copy.toString());
        assertSame(spec.secret(), copy.secret());
        assertNotEquals(ExchangeSpec.builder(7, layout, 3).build().secret(),
            ExchangeSpec.builder(7, layout, 3).build().secret()); // a fresh secret each
        assertThrows(NullPointerException.class, () -> spec.toBuilder().secret(null));
        assertEquals("mtu must be a multiple of 32 in [1024, 65504], got 4100",
            message(() -> ExchangeSpec.builder(7, layout, 3).mtu(4100).build()));
        assertEquals(ExchangeRules.executorShardsProblem(Transport.IPC), message(() -> spec.withShardEndpoints(
            new String[]{"a", "b"}, new int[]{1, 2}, new int[]{3, 4}, new int[]{5, 5})));
    }
}
