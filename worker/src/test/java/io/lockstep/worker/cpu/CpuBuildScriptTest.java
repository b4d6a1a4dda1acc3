package io.lockstep.worker.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * deploy/cpu-build.sh, which ./lockstep and deploy/spark-submit.sh source, chooses as
 * {@link NativeBuild} does in-process, on the same /proc/cpuinfo files.
 */
@Tag("slow")
class CpuBuildScriptTest {
    private static final Path SCRIPT = Path.of("..", "deploy", "cpu-build.sh").toAbsolutePath().normalize();

    record Result(int exit, String out) {
    }

    private static Result run(String function, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", "source \"$0\" && " + function, SCRIPT.toString())
            .redirectErrorStream(true);
        pb.environment().remove("LOCKSTEP_CPU_BUILD");
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            fail("bash did not finish within 30 s");
        }
        return new Result(p.exitValue(), new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
    }

    private static Path resource(String file) throws URISyntaxException {
        return Path.of(CpuBuildScriptTest.class.getResource("/cpuinfo/" + file).toURI());
    }

    @Test
    void theScriptChoosesAsNativeBuildOnEveryCpuinfoFile() throws Exception {
        assertTrue(Files.isRegularFile(SCRIPT), SCRIPT.toString());
        for (String file : List.of("amd-epyc-kvm.txt", "intel-xeon-sandybridge.txt", "qemu-avx2-without-fma.txt",
            "aws-graviton2-arm64.txt", "no-flags-line.txt")) {
            Path cpuinfo = resource(file);
            String expected = NativeBuild.decide(null, CpuFlags.read(cpuinfo), true).extension();
            Result r = run("lockstep_cpu_build_flags", Map.of("LOCKSTEP_CPUINFO", cpuinfo.toString()));
            assertEquals(new Result(0, "-D" + NativeBuild.EXTENSION_PROPERTY + "=" + expected), r, file);
        }
        assertEquals("-avx2", run("lockstep_cpu_extension", Map.of("LOCKSTEP_CPUINFO",
            resource("amd-epyc-kvm.txt").toString())).out(), "the one AVX2 machine among them");
        assertEquals(new Result(0, ""), run("lockstep_cpu_extension", Map.of("LOCKSTEP_CPUINFO", "/nonexistent")));
    }

    @Test
    void lockstepCpuBuildPinsTheBuildAndRefusesOtherValues() throws Exception {
        String sandy = resource("intel-xeon-sandybridge.txt").toString();
        assertEquals("-avx2", run("lockstep_cpu_extension", Map.of("LOCKSTEP_CPU_BUILD", "avx2",
            "LOCKSTEP_CPUINFO", sandy)).out());
        assertEquals(new Result(0, ""), run("lockstep_cpu_extension", Map.of("LOCKSTEP_CPU_BUILD", "generic",
            "LOCKSTEP_CPUINFO", resource("amd-epyc-kvm.txt").toString())));
        Result bad = run("lockstep_cpu_build_flags", Map.of("LOCKSTEP_CPU_BUILD", "avx512"));
        assertEquals(2, bad.exit());
        assertEquals("LOCKSTEP_CPU_BUILD=avx512: expected auto, avx2 or generic", bad.out());
    }
}
