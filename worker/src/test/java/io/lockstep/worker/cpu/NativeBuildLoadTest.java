package io.lockstep.worker.cpu;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The build chosen is the build that loads, and it computes: each case starts a fresh JVM (JavaCPP
 * reads the extension once per JVM, so this one, where ND4J may already be loaded, cannot show it)
 * running {@link LoadProbe}, which reports the libnd4jcpu mapped into that process.
 */
@Tag("slow")
class NativeBuildLoadTest {
    private static final Pattern PROBE = Pattern.compile(
        "probe extension=\\[(.*)] loaded=(\\S+) product=(\\S+) adamError=(\\S+)");
    private static final String PROPERTY = NativeBuild.EXTENSION_PROPERTY;

    @TempDir
    Path dir;

    @BeforeAll
    static void linuxX8664() {
        assumeTrue(System.getProperty("os.name").startsWith("Linux") && System.getProperty("os.arch").equals("amd64"),
            "the shipped natives and /proc/self/maps are those of Linux x86-64");
        assertTrue(NativeBuild.avx2Shipped(), "the AVX2 natives are a dependency of the worker: " + NativeBuild.AVX2_LIBRARY);
    }

    record Probe(String extension, String loaded, String output) {
        String build() {
            return NativeBuild.label(NativeBuild.platformOf(loaded));
        }
    }

    @Test
    void theBuildChosenForThisCpuIsTheBuildThatLoads() throws Exception {
        CpuFlags cpu = CpuFlags.ofThisMachine();
        String expected = NativeBuild.decide(null, cpu, true).build();
        Probe p = probe();
        assertEquals(expected, NativeBuild.label(p.extension()), p.output());
        assertEquals(expected, p.build(), "this CPU " + (cpu.hasAll(NativeBuild.AVX2_NEEDS) ? "has" : "lacks")
            + " AVX2; loaded " + p.loaded());
        assertTrue(p.output().contains("ND4J native build: " + expected + " (CPU flags from /proc/cpuinfo"), p.output());
    }

    @Test
    void anEmptyExtensionLoadsTheGenericBuild() throws Exception {
        Probe p = probe("-D" + PROPERTY + "=");
        assertEquals("generic", p.build(), p.loaded());
        assertTrue(p.loaded().endsWith("/linux-x86_64/libnd4jcpu.so"), p.loaded());
        assertTrue(p.output().contains("ND4J native build: generic (-D" + PROPERTY + "= given"), p.output());
    }

    @Test
    void theAvx2ExtensionLoadsTheAvx2Build() throws Exception {
        assumeTrue(CpuFlags.ofThisMachine().hasAll(NativeBuild.AVX2_NEEDS), "this CPU cannot run the AVX2 build");
        Probe p = probe("-D" + PROPERTY + "=-avx2");
        assertEquals("avx2", p.build(), p.loaded());
        assertTrue(p.loaded().endsWith("/linux-x86_64-avx2/libnd4jcpu.so"), p.loaded());
    }

    @Test
    void tooLateToChooseOnceJavaCppHasStartedAndTheWarningSaysSo() throws Exception {
        Probe p = probe("javacpp-first");
        String expected = NativeBuild.decide(null, CpuFlags.ofThisMachine(), true).extension();
        assertTrue(p.output().contains("WARN  NativeBuild - ND4J native build: not chosen (JavaCPP was initialised"
            + " before Lockstep started, libnd4jcpu loaded: not yet; for this CPU set -D" + PROPERTY + "=" + expected
            + " on the JVM's command line)"), p.output());
    }

    /** Runs {@link LoadProbe} in a new JVM with {@code args} (JVM options start with '-'); checks its ND4J results. */
    private Probe probe(String... args) throws IOException, InterruptedException {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> programArgs = new ArrayList<>();
        for (String a : args) {
            (a.startsWith("-") ? command : programArgs).add(a);
        }
        command.addAll(List.of("-Xmx1g", "-cp", classpath, LoadProbe.class.getName()));
        command.addAll(programArgs);
        Path log = dir.resolve("probe.log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!process.waitFor(180, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            fail("the probe JVM did not finish within 180 s: " + Files.readString(log));
        }
        String output = Files.readString(log);
        assertEquals(0, process.exitValue(), output);
        Matcher m = PROBE.matcher(output);
        assertTrue(m.find(), output);
        assertEquals(155.0, Double.parseDouble(m.group(3)), 0.0, "the matrix product: " + output);
        assertTrue(Double.parseDouble(m.group(4)) < 1e-6, "Adam's first step is lr * sign(g): " + output);
        return new Probe(m.group(1), m.group(2), output);
    }
}
