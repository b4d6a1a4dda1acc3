package io.lockstep.bench;

import io.lockstep.ps.ExchangeSpec;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BenchArgsTest {
    @Test
    void countsTakeDecimalSuffixes() {
        assertEquals(List.of(1_000_000, 10_000_000, 25_000_000, 235_146, 10_000), BenchArgs.counts("1M, 10M,25m,235146,10k", "--sizes"));
        assertEquals(2_500_000, BenchArgs.count("2.5M", "--sizes"));
    }

    @Test
    void badCountsNameTheOption() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BenchArgs.count("lots", "--sizes"));
        assertTrue(e.getMessage().startsWith("--sizes"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchArgs.count("0", "--clients"));
        assertTrue(e.getMessage().startsWith("--clients"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchArgs.transports("ipc,tcp", "--transports"));
        assertTrue(e.getMessage().contains("'tcp'"), e.getMessage());
    }

    @Test
    void transportsAndMedians() {
        assertEquals(List.of(ExchangeSpec.Transport.IPC, ExchangeSpec.Transport.UDP), BenchArgs.transports("IPC,udp", "--transports"));
        assertEquals(2.0, BenchArgs.median(new double[]{3, 1, 2}));
        assertEquals(2.5, BenchArgs.median(new double[]{4, 1, 3, 2}));
        assertEquals("25M", BenchArgs.floats(25_000_000));
        assertEquals("235,146", BenchArgs.floats(235_146));
    }
}
