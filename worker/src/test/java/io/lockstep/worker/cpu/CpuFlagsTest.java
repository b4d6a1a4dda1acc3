package io.lockstep.worker.cpu;

import org.junit.jupiter.api.Test;

import java.net.URISyntaxException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class CpuFlagsTest {
    /** A /proc/cpuinfo of a real machine or format, from src/test/resources/cpuinfo. */
    static CpuFlags cpu(String file) {
        try {
            return CpuFlags.read(Path.of(CpuFlagsTest.class.getResource("/cpuinfo/" + file).toURI()));
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void readsTheFlagsLineOfAnAmdEpyc() {
        CpuFlags epyc = cpu("amd-epyc-kvm.txt");
        assertTrue(epyc.hasAll("avx", "avx2", "fma", "f16c", "avx512f"), epyc.flags().toString());
        assertTrue(epyc.flags().contains("sse4_2"));
        assertFalse(epyc.flags().contains("flags"), "the key is not a flag");
        assertFalse(epyc.flags().contains("sysret_ss_attrs"), "the bugs line is not read");
        assertEquals("", epyc.missing("avx2", "fma"));
        assertTrue(epyc.source().endsWith("amd-epyc-kvm.txt"));
    }

    @Test
    void aSandyBridgeXeonHasAvxButNotAvx2FmaF16c() {
        CpuFlags xeon = cpu("intel-xeon-sandybridge.txt");
        assertTrue(xeon.hasAll("avx", "sse4_2"));
        assertFalse(xeon.hasAll("avx2"));
        assertEquals("avx2 fma f16c", xeon.missing("avx", "avx2", "fma", "f16c"));
    }

    @Test
    void aVirtualMachineCanMaskFmaWhileShowingAvx2() {
        CpuFlags vm = cpu("qemu-avx2-without-fma.txt");
        assertTrue(vm.hasAll("avx2", "f16c"));
        assertEquals("fma", vm.missing("avx2", "fma", "f16c"));
    }

    @Test
    void readsTheFeaturesLineOnArm() {
        CpuFlags arm = cpu("aws-graviton2-arm64.txt");
        assertTrue(arm.hasAll("asimd", "atomics", "crc32"), arm.flags().toString());
        assertFalse(arm.hasAll("avx2"));
    }

    @Test
    void noFlagsLineGivesNoFlagsAndSaysSo() {
        CpuFlags none = cpu("no-flags-line.txt");
        assertTrue(none.flags().isEmpty());
        assertTrue(none.source().endsWith("no-flags-line.txt has no flags line"), none.source());
    }

    @Test
    void aMissingFileGivesNoFlagsAndSaysWhy() {
        CpuFlags none = CpuFlags.read(Path.of("/nonexistent/cpuinfo"));
        assertTrue(none.flags().isEmpty());
        assertEquals("/nonexistent/cpuinfo unreadable (NoSuchFileException)", none.source());
    }

    @Test
    void flagsAreLowerCasedAndDuplicatesTolerated() {
        CpuFlags f = CpuFlags.parse("processor : 0\nflags : SSE avx2 avx2  fma\n", "text");
        assertEquals(java.util.Set.of("sse", "avx2", "fma"), f.flags());
    }
}
