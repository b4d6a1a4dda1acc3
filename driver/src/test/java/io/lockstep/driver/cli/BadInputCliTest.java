package io.lockstep.driver.cli;

import io.lockstep.driver.data.TestData;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each bad input through the CLI in its own JVM: exit code, exactly one {@code lockstep: error:}
 * line naming the file/line/column or the config key and value, and the files an earlier run left
 * in output.dir untouched, with no temporary file left behind. Then {@code lockstep doctor}.
 */
@Tag("slow")
class BadInputCliTest {
    @TempDir
    Path dir;

    static final String EARLIER_MODEL = "an earlier run's model.zip";
    static final String EARLIER_SUMMARY = "{\"earlier\":true}\n";
    static final String EARLIER_METRICS = "{\"type\":\"step\",\"step\":50,\"earlier\":true}\n";

    record Run(int exit, String stdout, String stderr) {
        List<String> errors() {
            return stderr.lines().filter(l -> l.startsWith("lockstep: error:")).toList();
        }

        /** The one error line, without its prefix. */
        String error() {
            assertEquals(1, errors().size(), stderr);
            return errors().get(0).substring("lockstep: error: ".length());
        }
    }

    static List<String> java() {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.addAll(List.of("-Xmx1g", "-cp", System.getProperty("java.class.path"), LockstepCli.class.getName()));
        return cmd;
    }

    Run run(List<String> cmd) throws IOException, InterruptedException {
        File out = Files.createTempFile(dir, "stdout", ".txt").toFile();
        File err = Files.createTempFile(dir, "stderr", ".txt").toFile();
        Process p = new ProcessBuilder(cmd).redirectOutput(out).redirectError(err).start();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), "the JVM must exit");
        return new Run(p.exitValue(), Files.readString(out.toPath()), Files.readString(err.toPath()));
    }

    Run lockstep(String... args) throws IOException, InterruptedException {
        List<String> cmd = java();
        cmd.addAll(List.of(args));
        return run(cmd);
    }

    Path write(String name, String text) throws IOException {
        return Files.writeString(dir.resolve(name), text);
    }

    /** n rows "x,y,label" with labels i mod 2. */
    static String rows(int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < n; i++) {
            sb.append(i % 7).append(',').append(i % 5).append(',').append(i % 2).append('\n');
        }
        return sb.toString();
    }

    /** An output dir holding an earlier run's files. */
    Path earlierRun() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve("model.zip"), EARLIER_MODEL);
        Files.writeString(out.resolve("summary.json"), EARLIER_SUMMARY);
        Files.writeString(out.resolve("metrics.jsonl"), EARLIER_METRICS);
        return out;
    }

    static void assertEarlierRunUntouched(Path out) throws IOException {
        assertEquals(EARLIER_MODEL, Files.readString(out.resolve("model.zip")));
        assertEquals(EARLIER_SUMMARY, Files.readString(out.resolve("summary.json")));
        assertEquals(EARLIER_METRICS, Files.readString(out.resolve("metrics.jsonl")));
        assertEquals(List.of("metrics.jsonl", "model.zip", "summary.json"), names(out), "no temporary file left");
    }

    static List<String> names(Path out) throws IOException {
        try (Stream<Path> files = Files.list(out)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** A CSV job on {@code train}/{@code test} writing to {@code out}, plus {@code extra} YAML lines. */
    Path job(Path train, Path test, Path out, String extra) throws IOException {
        return write("job.yaml", "data: {format: csv, train: " + train + ", test: " + test + "}\n"
            + "model: {hidden: [8]}\nbatch_size: 8\nepochs: 1\nps: {timeout_seconds: 60}\n"
            + "output: {dir: " + out + "}\n" + extra);
    }

    // ---- labels (exit 1: data errors), found while loading, before any training step

    @Test
    void aTestLabelOutsideTheTrainingClassesFailsBeforeTraining() throws Exception {
        Path out = earlierRun();
        Path train = write("train.csv", rows(40));
        Path test = write("test.csv", "1,2,0\n3,4,1\n5,6,7\n");
        Run run = lockstep("train", job(train, test, out, "").toString());
        assertEquals(1, run.exit(), run.stderr());
        assertEquals(test + ": line 3, column 3: label 7 is outside 0..1 (the training split's labels are 0..1; set"
            + " data.classes if it lacks some classes)", run.error());
        // (the tests' log configuration logs to stdout; the mid-stage test below sees this line)
        assertFalse(run.stdout().contains("training stage:"), "found before the stage: " + run.stdout());
        assertEarlierRunUntouched(out);
    }

    @Test
    void absurdClassIndicesAreRefusedNamingFileLineAndColumn() throws Exception {
        Path out = earlierRun();
        Path billion = write("billion.csv", rows(20) + "1,1,1000000000\n");
        Path test = write("test.csv", rows(10));
        Run run = lockstep("train", job(billion, test, out, "").toString());
        assertEquals(1, run.exit(), run.stderr());
        assertEquals(billion + ": line 21, column 3: label '1000000000' is too large a class index: a job has at most"
            + " 100000 classes (0..99999)", run.error());
        assertEarlierRunUntouched(out);

        Path e10 = write("e10.csv", "1,2,0\n1,2,1e10\n");
        run = lockstep("train", job(write("train.csv", rows(20)), e10, out, "").toString());
        assertEquals(1, run.exit(), run.stderr());
        assertEquals(e10 + ": line 2, column 3: label '1e10' is too large a class index: a job has at most 100000"
            + " classes (0..99999)", run.error());
        assertEarlierRunUntouched(out);
    }

    // ---- config values (exit 2)

    @Test
    void fractionsInfinitiesAndKeysGivenTwiceAreConfigErrors() throws Exception {
        Path out = earlierRun();
        Path train = write("train.csv", rows(20));
        Path cfg = job(train, train, out, "workers: 1.7\n");
        Run run = lockstep("train", cfg.toString());
        assertEquals(2, run.exit(), run.stderr());
        assertEquals(cfg + ": config key 'workers' must be a whole number, got 1.7", run.error());

        run = lockstep("train", job(train, train, out, "optimizer: {lr: 1e400}\n").toString());
        assertEquals(2, run.exit(), run.stderr());
        assertEquals("config key 'optimizer.lr' must be a finite number, got Infinity (the value is too large for a"
            + " double)", run.error());

        cfg = job(train, train, out, "epochs: 3\n");
        run = lockstep("train", cfg.toString());
        assertEquals(2, run.exit(), run.stderr());
        assertEquals(cfg + ": line 7, column 7: config key 'epochs' is given twice", run.error());

        run = lockstep("train", job(train, train, out, "").toString(), "--set", "ps.shards=1000");
        assertEquals(2, run.exit(), run.stderr());
        assertTrue(run.error().startsWith("config key 'ps.shards' must be <= 64, got 1000: each shard is a server"
            + " thread, 2 UDP ports"), run.error());
        assertEarlierRunUntouched(out);
    }

    // ---- output.dir

    @Test
    void anOutputDirThatIsAFileOrUnwritableIsAConfigError() throws Exception {
        Path train = write("train.csv", rows(20));
        Path file = write("taken", "a file");
        Run run = lockstep("train", job(train, train, file, "").toString());
        assertEquals(2, run.exit(), run.stderr());
        assertEquals("config key 'output.dir' is '" + file + "', which is a file, not a directory", run.error());
        assertEquals("a file", Files.readString(file));

        Path unwritable;
        if ("root".equals(System.getProperty("user.name"))) {
            Assumptions.assumeTrue(Files.isDirectory(Path.of("/sys/kernel")), "no /sys");
            unwritable = Path.of("/sys/lockstep-cli-test");
        } else {
            Path locked = Files.createDirectory(dir.resolve("locked"));
            assertTrue(locked.toFile().setWritable(false, false));
            unwritable = locked.resolve("out");
        }
        run = lockstep("train", job(train, train, unwritable, "").toString());
        assertEquals(2, run.exit(), run.stderr());
        assertTrue(run.error().startsWith("config key 'output.dir' is '" + unwritable + "', which cannot be created: "),
            run.error());
    }

    /**
     * A real full disk: output.dir on a 4 MiB tmpfs in a user and mount namespace (skipped where
     * unshare is not allowed). A model larger than the space left fails writing model.zip; a disk
     * with nothing left fails before Spark starts.
     */
    @Test
    void aFullDiskIsNamedAndTheEarlierRunKept() throws Exception {
        Assumptions.assumeTrue(unshareWorks(), "unshare -rm (user and mount namespaces) is not allowed here");
        Path[] split = TestData.digitsSplit(dir, 1500);
        Path out = Files.createDirectories(dir.resolve("out"));
        Path cfg = job(split[0], split[1], out, "");
        Path results = Files.createDirectories(dir.resolve("results"));
        String javaCmd = String.join(" ", java().stream().map(BadInputCliTest::quote).toList());
        String script = String.join("\n",
            "set -u",
            "mount -t tmpfs -o size=4m tmpfs " + quote(out) + " || exit 90",
            "cd " + quote(out.toString()),
            "printf %s " + quote(EARLIER_MODEL) + " > model.zip",
            "printf '%s\\n' " + quote(EARLIER_SUMMARY.strip()) + " > summary.json",
            "printf '%s\\n' " + quote(EARLIER_METRICS.strip()) + " > metrics.jsonl",
            "dd if=/dev/zero of=.filler bs=1k count=2560 2>/dev/null", // 1.5 MiB left: more than the 1 MiB up front
            javaCmd + " train " + quote(cfg) + " --set model.hidden=[8192] > /dev/null 2> "
                + quote(results.resolve("midrun.err")),
            "echo $? > " + quote(results.resolve("midrun.rc")),
            "dd if=/dev/zero of=.filler2 bs=1k 2>/dev/null", // nothing left
            javaCmd + " train " + quote(cfg) + " > /dev/null 2> " + quote(results.resolve("full.err")),
            "echo $? > " + quote(results.resolve("full.rc")),
            "rm -f .filler .filler2",
            "cat model.zip > " + quote(results.resolve("model.zip")),
            "cat summary.json > " + quote(results.resolve("summary.json")),
            "cat metrics.jsonl > " + quote(results.resolve("metrics.jsonl")),
            "ls -A > " + quote(results.resolve("ls.txt")));
        Run sh = run(List.of("unshare", "-rm", "sh", "-c", script));
        assertEquals(0, sh.exit(), sh.stderr());

        Run midRun = new Run(Integer.parseInt(Files.readString(results.resolve("midrun.rc")).strip()), "",
            Files.readString(results.resolve("midrun.err")));
        assertEquals(1, midRun.exit(), midRun.stderr());
        assertTrue(midRun.error().matches(java.util.regex.Pattern.quote(out.resolve("model.zip").toString())
            + ": cannot write it: the disk is full \\(No space left on device, \\d+ KiB free on .*\\); free space there or"
            + " choose another place \\(the earlier model.zip is kept\\)"), midRun.error());

        Run full = new Run(Integer.parseInt(Files.readString(results.resolve("full.rc")).strip()), "",
            Files.readString(results.resolve("full.err")));
        assertEquals(1, full.exit(), full.stderr());
        assertTrue(full.error().startsWith(out + ": the disk is full (0 KiB free on "), full.error());
        assertTrue(full.error().endsWith("): free space there or set output.dir to another disk"), full.error());

        assertEquals(EARLIER_MODEL, Files.readString(results.resolve("model.zip")));
        assertEquals(EARLIER_SUMMARY, Files.readString(results.resolve("summary.json")));
        assertEquals(EARLIER_METRICS, Files.readString(results.resolve("metrics.jsonl")));
        assertEquals(List.of("metrics.jsonl", "model.zip", "summary.json"),
            Files.readAllLines(results.resolve("ls.txt")).stream().sorted().toList(), "no temporary file left");
    }

    static boolean unshareWorks() {
        try {
            Process p = new ProcessBuilder("unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt 2>/dev/null || "
                + "mount -t tmpfs tmpfs /tmp").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    static String quote(Object s) {
        return "'" + s.toString().replace("'", "'\\''") + "'";
    }

    // ---- the model against the data (exit 2), and an earlier run's metrics.jsonl

    @Test
    void aJsonModelThatDoesNotFitTheDataIsRefusedBeforeTheStage() throws Exception {
        Path out = earlierRun();
        Path[] split = TestData.digitsSplit(dir, 1500);
        Path json = write("net.json", new NeuralNetConfiguration.Builder().list()
            .layer(new DenseLayer.Builder().nIn(100).nOut(16).activation(Activation.RELU).build())
            .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(16).nOut(10)
                .activation(Activation.SOFTMAX).build())
            .build().toJson());
        Run run = lockstep("train", job(split[0], split[1], out, "").toString(), "--set", "model.type=json",
            "--set", "model.path=" + json);
        assertEquals(2, run.exit(), run.stderr());
        assertEquals("model.path: " + json + ": the network takes 100 inputs (layer 0, DenseLayer nIn) but the data has"
            + " 64 features per row", run.error());
        assertFalse(run.stdout().contains("training stage:"), run.stdout());
        assertEarlierRunUntouched(out);
    }

    @Test
    void aRunThatFailsMidStageKeepsTheEarlierRunsFilesIncludingMetrics() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1500);
        Path out = dir.resolve("out");
        Path cfg = job(split[0], split[1], out, "");
        Run ok = lockstep("train", cfg.toString());
        assertEquals(0, ok.exit(), ok.stderr());
        byte[] model = Files.readAllBytes(out.resolve("model.zip"));
        String summary = Files.readString(out.resolve("summary.json"));
        String metrics = Files.readString(out.resolve("metrics.jsonl"));
        assertTrue(metrics.lines().count() >= 2, metrics);

        Run diverged = lockstep("train", cfg.toString(), "--set", "optimizer.lr=1e30");
        assertEquals(1, diverged.exit(), diverged.stderr());
        assertTrue(diverged.error().startsWith("non-finite loss/gradient at step "), diverged.error());
        assertTrue(diverged.stdout().contains("training stage:"), "it failed inside the stage");
        assertArrayEquals(model, Files.readAllBytes(out.resolve("model.zip")));
        assertEquals(summary, Files.readString(out.resolve("summary.json")));
        assertEquals(metrics, Files.readString(out.resolve("metrics.jsonl")), "metrics.jsonl not truncated");
        assertEquals(List.of("metrics.jsonl", "model.zip", "summary.json"), names(out), "no temporary file left");
    }

    // ---- lockstep doctor

    @Test
    void doctorPassesOnThisMachineAndPrintsOneLinePerCheck() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1500);
        Path cfg = job(split[0], split[1], dir.resolve("out"), "");
        Run run = lockstep("doctor", cfg.toString());
        assertEquals(0, run.exit(), run.stdout() + run.stderr());
        List<String> lines = checkLines(run);
        for (String name : List.of("config", "spark", "nd4j", "gpu", "data", "output", "shm", "off-heap", "heap", "ports")) {
            assertTrue(lines.stream().anyMatch(l -> l.matches("(OK|WARN) +" + name + " .*")), name + " in\n" + run.stdout());
        }
        assertTrue(lines.stream().allMatch(l -> l.startsWith("OK ") || l.startsWith("WARN ")), run.stdout());
        assertFalse(Files.exists(dir.resolve("out")), "the doctor creates nothing");

        Run bare = lockstep("doctor");
        assertEquals(0, bare.exit(), bare.stdout() + bare.stderr());
        assertTrue(bare.stdout().contains("OK    nd4j"), bare.stdout());
    }

    /** The doctor's lines ("OK    nd4j      ..."), without log lines. */
    static List<String> checkLines(Run run) {
        return run.stdout().lines().filter(l -> l.matches("(OK|WARN|FAIL) +[a-z0-9-]+ +.*")).toList();
    }

    @Test
    void doctorFailsNamingWhatToChange() throws Exception {
        Path train = write("train.csv", rows(20));
        Path missing = dir.resolve("nope.csv");
        Run run = lockstep("doctor", job(missing, train, dir.resolve("out"), "").toString());
        assertEquals(1, run.exit(), run.stdout() + run.stderr());
        assertTrue(checkLines(run).stream().anyMatch(l -> l.equals("FAIL  data      data.train: " + missing
            + ": file not found")), run.stdout());

        // an absurd model against the heap and off-heap limits of a 1 GiB JVM: counted, not allocated
        run = lockstep("doctor", job(train, train, dir.resolve("out"), "").toString(), "--set",
            "model.hidden=[40000,40000]");
        assertEquals(1, run.exit(), run.stdout() + run.stderr());
        assertTrue(checkLines(run).stream().anyMatch(l -> l.startsWith("FAIL  off-heap  about ")
            && l.contains("raise it (LOCKSTEP_JAVA_OPTS=")), run.stdout());
        assertTrue(checkLines(run).stream().anyMatch(l -> l.startsWith("FAIL  heap      about ")
            && l.contains("raise -Xmx")), run.stdout());

        // and the same check stops a train before Spark starts
        Run train1 = lockstep("train", job(train, train, dir.resolve("out2"), "").toString(), "--set",
            "model.hidden=[40000,40000]");
        assertEquals(1, train1.exit(), train1.stderr());
        assertTrue(train1.error().startsWith("about "), train1.error());

        Run bad = lockstep("doctor", job(train, train, dir.resolve("out"), "workers: 1.5\n").toString());
        assertEquals(2, bad.exit(), bad.stdout() + bad.stderr());
        assertTrue(bad.error().endsWith("config key 'workers' must be a whole number, got 1.5"), bad.error());
    }
}
