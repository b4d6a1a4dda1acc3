package io.lockstep.worker.cpu;

import org.junit.jupiter.api.Test;

import static io.lockstep.worker.cpu.CpuFlagsTest.cpu;
import static org.junit.jupiter.api.Assertions.*;

class NativeBuildTest {
    @Test
    void avx2WhereTheCpuHasAvx2FmaF16cAndTheNativesShip() {
        NativeBuild.Choice c = NativeBuild.decide(null, cpu("amd-epyc-kvm.txt"), true);
        assertEquals("-avx2", c.extension());
        assertEquals("avx2", c.build());
        assertFalse(c.given());
        assertTrue(c.line().startsWith("ND4J native build: avx2 (CPU flags from "), c.line());
        assertTrue(c.reason().endsWith(": has avx avx2 fma f16c"), c.reason());
    }

    @Test
    void genericWhereTheAvx2NativesAreNotOnTheClasspath() {
        NativeBuild.Choice c = NativeBuild.decide(null, cpu("amd-epyc-kvm.txt"), false);
        assertEquals("", c.extension());
        assertEquals("generic", c.build());
        assertTrue(c.reason().contains("nd4j-native:linux-x86_64-avx2) are not on the classpath"), c.reason());
    }

    @Test
    void genericWithAnExplicitEmptyExtensionWhereTheCpuLacksAvx2() {
        // empty, not unset: unset, JavaCPP would take the -avx2 jar it finds and the CPU would fault
        NativeBuild.Choice c = NativeBuild.decide(null, cpu("intel-xeon-sandybridge.txt"), true);
        assertEquals("", c.extension());
        assertTrue(c.reason().endsWith(": lacks avx2 fma f16c"), c.reason());
    }

    @Test
    void genericWhereAVirtualMachineHidesFma() {
        NativeBuild.Choice c = NativeBuild.decide(null, cpu("qemu-avx2-without-fma.txt"), true);
        assertEquals("generic", c.build());
        assertTrue(c.reason().endsWith("lacks fma"), c.reason());
    }

    @Test
    void genericOnArmAndWhereTheFlagsAreUnknown() {
        assertEquals("", NativeBuild.decide(null, cpu("aws-graviton2-arm64.txt"), true).extension());
        NativeBuild.Choice unknown = NativeBuild.decide(null, cpu("no-flags-line.txt"), true);
        assertEquals("", unknown.extension());
        assertTrue(unknown.reason().endsWith("no-flags-line.txt has no flags line"), unknown.reason());
        assertEquals("", NativeBuild.decide(null, new CpuFlags(java.util.Set.of(), "not read on Mac OS X"), true)
            .extension());
    }

    @Test
    void aValueTheUserGaveWinsEitherWay() {
        NativeBuild.Choice generic = NativeBuild.decide("", cpu("amd-epyc-kvm.txt"), true);
        assertEquals("", generic.extension());
        assertTrue(generic.given());
        assertTrue(generic.reason().startsWith("-Dorg.bytedeco.javacpp.platform.extension= given; CPU flags from"),
            generic.reason());
        NativeBuild.Choice avx2 = NativeBuild.decide("-avx2", cpu("intel-xeon-sandybridge.txt"), true);
        assertEquals("-avx2", avx2.extension());
        assertTrue(avx2.given());
        assertTrue(avx2.reason().endsWith("lacks avx2 fma f16c"), avx2.reason());
        assertEquals("avx512", NativeBuild.decide(" -avx512 ", cpu("amd-epyc-kvm.txt"), true).build());
    }

    @Test
    void namesTheBuildOfALoadedLibrary() {
        String avx2 = "/root/.javacpp/cache/nd4j-native-1.0.0-M2.1-linux-x86_64-avx2.jar/org/nd4j/linalg/cpu/nativecpu"
            + "/bindings/linux-x86_64-avx2/libnd4jcpu.so";
        assertEquals("linux-x86_64-avx2", NativeBuild.platformOf(avx2));
        assertEquals("avx2", NativeBuild.label(NativeBuild.platformOf(avx2)));
        String generic = "/tmp/c/lockstep-driver-0.1.0-SNAPSHOT-dist.jar/org/nd4j/linalg/cpu/nativecpu/bindings"
            + "/linux-x86_64/libnd4jcpu.so";
        assertEquals("generic", NativeBuild.label(NativeBuild.platformOf(generic)));
    }
}
