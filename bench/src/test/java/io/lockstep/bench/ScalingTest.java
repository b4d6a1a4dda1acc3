package io.lockstep.bench;

import io.lockstep.driver.cli.LockstepCli;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The {@code scaling} command's projection as printed, and the benchmark commands' registration. */
class ScalingTest {
    @Test
    void theBenchmarkCommandsAreRegistered() {
        CommandLine cli = LockstepCli.commandLine();
        assertTrue(cli.getSubcommands().keySet().containsAll(List.of("bench-exchange", "bench-alloc", "scaling")),
            cli.getSubcommands().keySet().toString());
    }

    @Test
    void projectionPrintsBothPlacementsSoftwareBoundThenNetworkBound() {
        Scaling scaling = CommandLine.populateCommand(new Scaling(), "--workers", "8,16", "--links-gbit", "100");
        String out = scaling.projection();
        // ResNet-50, 8 workers, 100 Gbit/s: at 0.5 GB/s, 2G = 204.8 MB on each of 4 server hosts takes 409.6 ms,
        // 2G x 7/8 colocated 358.4 ms; at 12.5 GB/s 16.4 and 14.3 ms (each + 0.1 ms latency)
        assertTrue(out.contains("| ResNet-50 | 100 Gbit/s | 8 | 96.0 | 409.7 | 0.19 | 358.5 | 0.21 |"), out);
        assertTrue(out.contains("| ResNet-50 | 100 Gbit/s | 8 | 96.0 | 16.5 | 0.85 | 14.4 | 0.87 |"), out);
        assertEquals(2 * 2 * 2, out.lines().filter(l -> l.matches("\\| (ResNet-50|BERT-base) \\|.*")).count(),
            "2 tables x 2 models x 2 worker counts x 1 link");
    }

    @Test
    void aBadListNamesItsOption() {
        Scaling scaling = CommandLine.populateCommand(new Scaling(), "--workers", "8,many");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, scaling::projection);
        assertTrue(e.getMessage().startsWith("--workers"), e.getMessage());
    }
}
