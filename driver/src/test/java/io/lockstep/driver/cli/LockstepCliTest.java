package io.lockstep.driver.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/** The CLI as users meet it: a separate JVM, its exit code and its one-line error. */
class LockstepCliTest {
    @TempDir
    Path dir;

    record Run(int exit, String stderr) {
    }

    Run lockstep(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        // the same JVM flags (add-opens for Spark, Agrona) this test JVM got from surefire
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LockstepCli.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the JVM must exit");
        return new Run(p.exitValue(), err);
    }

    @Tag("slow")
    @Test
    void aConfigErrorExitsWithTwoAndOneLineNamingTheKey() throws Exception {
        Path cfg = dir.resolve("job.yaml");
        Files.writeString(cfg, "data: {format: csv, train: a.csv, test: b.csv}\nbatch_sise: 32\n");
        Run run = lockstep("train", cfg.toString());
        assertEquals(2, run.exit());
        List<String> lines = run.stderr().lines().filter(l -> l.startsWith("lockstep: error:")).toList();
        assertEquals(1, lines.size(), run.stderr());
        assertTrue(lines.get(0).contains("unknown config key 'batch_sise'"), lines.get(0));
    }

    @Tag("slow")
    @Test
    void aMissingDataFileExitsNonZeroNamingTheFile() throws Exception {
        Path cfg = dir.resolve("job.yaml");
        Files.writeString(cfg, "data: {format: csv, train: " + dir.resolve("nope.csv") + ", test: x.csv}\n"
            + "output: {dir: " + dir.resolve("out") + "}\n");
        Run run = lockstep("train", cfg.toString());
        assertEquals(1, run.exit());
        String last = run.stderr().strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("lockstep: error: ") && last.contains("nope.csv: file not found"), run.stderr());
        assertFalse(Files.exists(dir.resolve("out/model.zip")));
    }

    @Test
    void oneLinePrefersTheExplainingCause() {
        Exception wrapped = new RuntimeException("Job aborted due to stage failure: long spark text\nmore",
            new IllegalArgumentException("data.csv: line 3, column 2: 'x' is not a number"));
        assertEquals("data.csv: line 3, column 2: 'x' is not a number", LockstepCli.oneLine(wrapped));
        assertEquals("NullPointerException: boom", LockstepCli.oneLine(new NullPointerException("boom")));
    }
}
