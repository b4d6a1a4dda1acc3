package io.lockstep.driver.output;

import io.lockstep.driver.config.ConfigLoader;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** A failed run leaves an earlier run's files and no temporary files; output.dir is checked up front. */
class OutputFilesTest {
    @TempDir
    Path dir;

    static final String OLD_METRICS = "{\"type\":\"step\",\"step\":1,\"old\":true}\n";

    List<String> temporaryFiles() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".tmp")).toList();
        }
    }

    static void twoSteps(MetricsLog log) {
        long t = System.nanoTime();
        log.onStep(0, 10, 0.5f, t);
        log.onStep(1, 10, 0.25f, t + 1_000_000);
    }

    @Test
    void metricsGoToATemporaryFileUntilCommitted() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, OLD_METRICS);
        MetricsLog log = new MetricsLog(file, 2, 1, 1, null, false);
        twoSteps(log);
        log.close();
        assertEquals(0.25f, log.lastLoss());
        assertEquals(OLD_METRICS, Files.readString(file), "untouched until the run succeeds");
        assertEquals(1, temporaryFiles().size());
        log.commit();
        List<String> lines = Files.readAllLines(file);
        assertEquals(3, lines.size(), lines.toString()); // two step lines and the epoch line
        assertTrue(lines.get(0).startsWith("{\"type\":\"step\",\"step\":1,\"epoch\":1,\"loss\":0.500000"), lines.get(0));
        assertTrue(lines.get(2).startsWith("{\"type\":\"epoch\""), lines.get(2));
        assertEquals(List.of(), temporaryFiles());
        log.commit(); // idempotent
        log.close();
    }

    @Test
    void aDiscardedLogLeavesTheEarlierFileAndNoTemporaryFile() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, OLD_METRICS);
        MetricsLog log = new MetricsLog(file, 2, 1, 1, null, false);
        twoSteps(log);
        log.discard();
        assertEquals(OLD_METRICS, Files.readString(file));
        assertEquals(List.of(), temporaryFiles());
        assertThrows(IllegalStateException.class, log::commit);
    }

    @Test
    void aResumedLogStartsFromACopyOfTheExistingFile() throws IOException {
        Path file = dir.resolve("metrics.jsonl");
        Files.writeString(file, OLD_METRICS);
        MetricsLog log = new MetricsLog(file, 2, 1, 1, null, true);
        twoSteps(log);
        log.close();
        assertEquals(OLD_METRICS, Files.readString(file));
        log.commit();
        List<String> lines = Files.readAllLines(file);
        assertEquals(4, lines.size());
        assertEquals(OLD_METRICS.strip(), lines.get(0));
        // resuming where there is no file yet starts an empty one
        Path fresh = dir.resolve("fresh").resolve("metrics.jsonl");
        Files.createDirectories(fresh.getParent());
        MetricsLog first = new MetricsLog(fresh, 2, 1, 1, null, true);
        twoSteps(first);
        first.commit();
        assertEquals(3, Files.readAllLines(fresh).size());
    }

    @Test
    void writeSummaryPutsTheMetricsInPlaceAndAFailedRunLeavesEverythingAsItWas() throws IOException {
        Files.writeString(dir.resolve("metrics.jsonl"), OLD_METRICS);
        Files.writeString(dir.resolve("summary.json"), "{\"old\":true}\n");
        Files.writeString(dir.resolve("model.zip"), "old model");

        RunOutputs failed = new RunOutputs(dir);
        MetricsLog log = failed.openMetrics(2, 1, 1, null, false);
        twoSteps(log);
        log.close();
        failed.discard();
        assertEquals(OLD_METRICS, Files.readString(dir.resolve("metrics.jsonl")));
        assertEquals("{\"old\":true}\n", Files.readString(dir.resolve("summary.json")));
        assertEquals("old model", Files.readString(dir.resolve("model.zip")));
        assertEquals(List.of(), temporaryFiles());

        RunOutputs ok = new RunOutputs(dir);
        MetricsLog good = ok.openMetrics(2, 1, 1, null, false);
        twoSteps(good);
        good.close();
        assertEquals(OLD_METRICS, Files.readString(dir.resolve("metrics.jsonl")));
        ok.writeSummary("{\"new\":true}");
        assertEquals(3, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        assertEquals("{\"new\":true}\n", Files.readString(dir.resolve("summary.json")));
        assertEquals(List.of(), temporaryFiles());
    }

    @Test
    void temporaryFilesOfDeadProcessesAndAbandonedLogsAreSweptByTheNextRun() throws IOException {
        Path dead = Files.writeString(dir.resolve(".model.zip.2147483646999.123.tmp"), "partial");
        Path notOurs = Files.writeString(dir.resolve(".something.tmp"), "keep");
        MetricsLog abandoned = new MetricsLog(dir.resolve("metrics.jsonl"), 2, 1, 1, null, false);
        abandoned.close(); // closed, neither committed nor discarded: still owned, kept
        new RunOutputs(dir);
        assertFalse(Files.exists(dead));
        assertTrue(Files.exists(notOurs));
        assertTrue(Files.exists(abandoned.temp()));
        abandoned.discard();
        assertFalse(Files.exists(abandoned.temp()));
    }

    @Test
    void outputDirMustBeAWritableDirectory() throws IOException {
        Path file = Files.writeString(dir.resolve("taken"), "a file");
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> new RunOutputs(file));
        assertEquals("config key 'output.dir' is '" + file + "', which is a file, not a directory", e.getMessage());
        Path below = file.resolve("run");
        e = assertThrows(ConfigLoader.ConfigException.class, () -> new RunOutputs(below));
        assertEquals("config key 'output.dir' is '" + below + "', but " + file + " is not a directory", e.getMessage());
        Path created = dir.resolve("a").resolve("b");
        new RunOutputs(created);
        assertTrue(Files.isDirectory(created));
    }

    @Test
    void anUnwritablePlaceIsNamed() throws IOException {
        Path target;
        if ("root".equals(System.getProperty("user.name"))) {
            // root may write anywhere a permission bit forbids; sysfs refuses new entries to anyone
            Assumptions.assumeTrue(Files.isDirectory(Path.of("/sys/kernel")), "no /sys");
            target = Path.of("/sys/lockstep-output-test");
        } else {
            Path locked = Files.createDirectory(dir.resolve("locked"));
            assertTrue(locked.toFile().setWritable(false, false));
            target = locked.resolve("run");
        }
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> new RunOutputs(target));
        assertTrue(e.getMessage().startsWith("config key 'output.dir' is '" + target + "', which cannot be created: "),
            e.getMessage());
    }

    @Test
    void aFullDiskIsNamedWithTheFileBeingWritten() throws IOException {
        Path full = Path.of("/dev/full");
        Assumptions.assumeTrue(Files.exists(full), "no /dev/full");
        Path target = dir.resolve("model.zip");
        Files.writeString(target, "old model");
        IOException e = assertThrows(IOException.class,
            () -> RunOutputs.atomically(target, tmp -> Files.write(full, new byte[4096])));
        assertTrue(e.getMessage().startsWith(target + ": cannot write it: the disk is full (No space left on device, "),
            e.getMessage());
        assertTrue(e.getMessage().endsWith("(the earlier model.zip is kept)"), e.getMessage());
        assertEquals("old model", Files.readString(target));
        assertEquals(List.of(), temporaryFiles());
    }
}
