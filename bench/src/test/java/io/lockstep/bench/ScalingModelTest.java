package io.lockstep.bench;

import io.lockstep.bench.ScalingModel.Placement;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

/** The calculator's arithmetic on cases small enough to check by hand. */
class ScalingModelTest {
    static final double GB = 1e9;

    /** 1 ms per sample, batch 10, host software 1 GB/s, 100 us latency, S server hosts. */
    static ScalingModel model(Placement placement, int serverHosts, boolean overlap) {
        return new ScalingModel(1e-3, 10, 1 * GB, 100e-6, placement, serverHosts, overlap);
    }

    @Test
    void dedicatedServerHostsCarryAllWorkersOverTheirCount() {
        ScalingModel m = model(Placement.DEDICATED, 4, false);
        long params = 250_000_000; // 1 GB of gradient
        // 8 workers on 4 server hosts: each server host moves 2 GB each way, more than a worker's 1 GB
        assertEquals(2 * GB, m.busiestHostBytes(params, 8), 1);
        // 2 workers: the worker's own 1 GB is the most any host moves
        assertEquals(1 * GB, m.busiestHostBytes(params, 2), 1);
        // a 100 Gbit/s link (12.5 GB/s) is faster than the software: 2 GB at 1 GB/s + 2 x 100 us
        assertEquals(2.0002, m.exchangeSeconds(params, 8, ScalingModel.gbit(100)), 1e-9);
        // a 4 Gbit/s link (0.5 GB/s) is slower: 2 GB at 0.5 GB/s
        assertEquals(4.0002, m.exchangeSeconds(params, 8, ScalingModel.gbit(4)), 1e-9);
    }

    @Test
    void colocatedShardsMoveTwiceTheNonLocalPart() {
        ScalingModel m = model(Placement.COLOCATED, 1, false);
        long params = 250_000_000; // G = 1 GB
        assertEquals(2 * GB * 3 / 4, m.busiestHostBytes(params, 4), 1); // 2G(N-1)/N
        assertEquals(1 * GB, m.busiestHostBytes(params, 2), 1);
        assertEquals(0, m.busiestHostBytes(params, 1));
        assertEquals(0, m.exchangeSeconds(params, 1, ScalingModel.gbit(25)), "one worker beside its shard: nothing crosses a link");
        assertEquals(1.5002, m.exchangeSeconds(params, 4, ScalingModel.gbit(100)), 1e-9);
    }

    @Test
    void stepAndEfficiencyWithAndWithoutOverlap() {
        long params = 25_000_000; // 100 MB
        ScalingModel sequential = model(Placement.DEDICATED, 1, false);
        // compute 10 ms; 2 workers on 1 server host: 200 MB at 1 GB/s = 200 ms + 0.2 ms latency
        assertEquals(0.010, sequential.computeSeconds(), 1e-12);
        assertEquals(0.2102, sequential.stepSeconds(params, 2, Double.POSITIVE_INFINITY), 1e-9);
        assertEquals(0.010 / 0.2102, sequential.efficiency(params, 2, Double.POSITIVE_INFINITY), 1e-9);
        assertEquals(20 / 0.2102, sequential.samplesPerSecond(params, 2, Double.POSITIVE_INFINITY), 1e-6);

        ScalingModel overlapped = model(Placement.DEDICATED, 1, true);
        assertEquals(0.2002, overlapped.stepSeconds(params, 2, Double.POSITIVE_INFINITY), 1e-9);
        // a tiny gradient hides entirely behind compute: efficiency 1
        assertEquals(1.0, overlapped.efficiency(1000, 2, Double.POSITIVE_INFINITY), 1e-12);
    }

    @Test
    void gbitIsBytesPerSecond() {
        assertEquals(3.125e9, ScalingModel.gbit(25), 1e-3);
        assertEquals(12.5e9, ScalingModel.gbit(100), 1e-3);
    }

    @Test
    void fitRecoversLatencyAndRateOfExactLine() {
        // seconds = 2 x 50 us + bytes / 2 GB/s
        double[] bytes = {1e6, 4e6, 8e6, 16e6};
        double[] seconds = new double[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            seconds[i] = 100e-6 + bytes[i] / 2e9;
        }
        double[] fit = ScalingModel.fitLatencyAndRate(bytes, seconds);
        assertEquals(50e-6, fit[0], 1e-12);
        assertEquals(2e9, fit[1], 1);
    }

    @Test
    void badInputsAreRefusedWithTheReason() {
        assertThrows(IllegalArgumentException.class, () -> new ScalingModel(1e-3, 0, GB, 0, Placement.DEDICATED, 1, false));
        assertThrows(IllegalArgumentException.class, () -> new ScalingModel(1e-3, 1, 0, 0, Placement.DEDICATED, 1, false));
        IllegalArgumentException flat = assertThrows(IllegalArgumentException.class,
            () -> ScalingModel.fitLatencyAndRate(new double[]{1, 2}, new double[]{3, 3}));
        assertTrue(flat.getMessage().contains("do not grow"), flat.getMessage());
    }
}
