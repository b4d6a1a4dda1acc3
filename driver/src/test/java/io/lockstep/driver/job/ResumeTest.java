package io.lockstep.driver.job;

import io.lockstep.driver.cli.LockstepCli;
import io.lockstep.driver.data.TestData;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Checkpoints and exact resume through the CLI as users meet it: a job in its own JVM, killed with
 * SIGKILL after its checkpoints appeared, its newest checkpoint then corrupted, and resumed with
 * {@code --resume}: it must end with the parameters of the same job run without interruption.
 */
@Tag("slow")
class ResumeTest {
    @TempDir
    Path dir;

    Process start(Path out, String... extra) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), LockstepCli.class.getName(), "train",
            dir.resolve("job.yaml").toString(), "--set", "output.dir=" + out));
        cmd.addAll(List.of(extra));
        return new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(dir.resolve(out.getFileName() + ".log").toFile()).start();
    }

    static List<Path> checkpoints(Path ckpt) throws IOException {
        if (!Files.isDirectory(ckpt)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(ckpt)) {
            return files.filter(f -> f.getFileName().toString().matches("ckpt-\\d+\\.lsck")).sorted().toList();
        }
    }

    static float[] params(Path modelZip) throws IOException {
        return ModelSerializer.restoreMultiLayerNetwork(modelZip.toFile()).params().toFloatVector();
    }

    @Test
    void aJobKilledAfterItsCheckpointsResumesToTheSameParametersAsAnUninterruptedRun() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1400);
        Path ckpt = dir.resolve("ckpt");
        Files.writeString(dir.resolve("job.yaml"), String.join("\n",
            "data: {format: csv, train: " + split[0] + ", test: " + split[1] + ", normalize: standardize}",
            "model: {hidden: [64, 32]}",
            "optimizer: {type: adam, lr: 0.003}",
            "batch_size: 16", "epochs: 30", "workers: 2", "log_every: 200",
            "checkpoint: {dir: " + ckpt + ", every: 40 steps, keep: 3}", ""));

        Path whole = dir.resolve("whole");
        Process uninterrupted = start(whole, "--set", "checkpoint.dir=" + dir.resolve("ckpt-whole"));
        assertTrue(uninterrupted.waitFor(240, TimeUnit.SECONDS), "the uninterrupted run must finish");
        assertEquals(0, uninterrupted.exitValue(), Files.readString(dir.resolve("whole.log")));

        Path resumed = dir.resolve("resumed");
        Process victim = start(resumed);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (checkpoints(ckpt).size() < 2 && victim.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        victim.destroyForcibly(); // SIGKILL: no shutdown hooks, nothing flushed
        assertTrue(victim.waitFor(30, TimeUnit.SECONDS));
        assertFalse(Files.exists(resumed.resolve("summary.json")), "the job must die before it finishes");
        List<Path> written = checkpoints(ckpt);
        assertTrue(written.size() >= 2, "two checkpoints before the kill, got " + written);

        // the newest checkpoint is damaged: resume must fall back to the one before it
        Path newest = written.get(written.size() - 1);
        try (RandomAccessFile f = new RandomAccessFile(newest.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0x5a);
        }

        // a config that changes the model is refused, naming the key
        Process changed = start(dir.resolve("changed"), "--resume", "--set", "model.hidden=[48, 32]");
        assertTrue(changed.waitFor(120, TimeUnit.SECONDS));
        String changedLog = Files.readString(dir.resolve("changed.log"));
        assertEquals(2, changed.exitValue(), changedLog);
        assertTrue(changedLog.contains("model.hidden (was [64,32], now [48,32])"), changedLog);

        Process resume = start(resumed, "--resume");
        assertTrue(resume.waitFor(240, TimeUnit.SECONDS), "the resumed run must finish");
        String log = Files.readString(dir.resolve("resumed.log"));
        assertEquals(0, resume.exitValue(), log);
        assertTrue(log.contains(newest.getFileName().toString()) && log.contains("checksum"),
            "the damaged checkpoint is named in a warning: " + log);
        assertTrue(log.contains("resume: from"), log);

        float[] expected = params(whole.resolve("model.zip"));
        float[] actual = params(resumed.resolve("model.zip"));
        assertArrayEquals(expected, actual, "resumed parameters must be bit-identical to the uninterrupted run's");
        String summary = Files.readString(resumed.resolve("summary.json"), StandardCharsets.UTF_8);
        assertFalse(summary.contains("\"resumed_from_step\" : 0,"), summary);
    }
}
