package io.lockstep.driver.data;

import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.cli.LockstepCli;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.job.TrainingJob;

import io.lockstep.worker.data.Sample;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Reading real files with real (local) Spark. */
@Tag("slow")
class DataLoaderTest {
    static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void spark() {
        JobConfig c = JobConfig.defaults()
            .with("workers", 2)
            .with("spark.conf.spark.ui.enabled", "false");
        sc = new JavaSparkContext(SparkConfs.of(c));
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    JobConfig.Data csv(Path train, Path test) {
        JobConfig.Data d = JobConfig.defaults().data()
            .with("format", DataFormat.CSV)
            .with("train", train.toString())
            .with("test", test.toString());
        return d;
    }

    static DataLoader.Loaded load(JobConfig.Data d) {
        return DataLoader.load(sc, TestData.job(d, "classification"));
    }

    @Test
    void digitsCsvLoadsWithOneHotLabelsAndStandardizedFeatures() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1500);
        JobConfig.Data d = csv(split[0], split[1])
            .with("normalize", Normalize.STANDARDIZE);
        DataLoader.Loaded data = load(d);
        assertEquals(1500, data.trainCount());
        assertEquals(297, data.testCount());
        assertEquals(64, data.features());
        assertEquals(10, data.classes());
        List<Sample> train = data.train().collect();
        double[] mean = new double[64];
        for (Sample s : train) {
            float sum = 0;
            for (float v : s.labels()) sum += v;
            assertEquals(1f, sum, "one-hot");
            for (int i = 0; i < 64; i++) mean[i] += s.features()[i] / train.size();
        }
        for (double m : mean) assertEquals(0, m, 1e-3, "standardized on the training split");
        assertEquals("standardize", data.scaling().kind());
    }

    @Test
    void minmaxScalesTrainingFeaturesIntoTheUnitInterval() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1000);
        JobConfig.Data d = csv(split[0], split[1])
            .with("normalize", Normalize.MINMAX);
        DataLoader.Loaded data = load(d);
        float min = Float.MAX_VALUE, max = -Float.MAX_VALUE;
        for (Sample s : data.train().collect()) {
            for (float v : s.features()) {
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        assertEquals(0f, min);
        assertEquals(1f, max);
        assertNotNull(data.scaling().toDl4j(), "saved into model.zip as a DL4J normalizer");
    }

    @Test
    void aBadCellIsReportedWithFileLineAndColumn() throws IOException {
        List<String> lines = new java.util.ArrayList<>(TestData.digitsLines().subList(0, 50));
        lines.set(36, lines.get(36).replaceFirst("^0,0,", "0,x7,"));
        Path bad = dir.resolve("bad.csv");
        Files.write(bad, lines);
        Exception e = assertThrows(Exception.class, () -> load(csv(bad, bad)).train().count());
        String msg = LockstepCli.oneLine(e);
        assertTrue(msg.contains("bad.csv: line 37, column 2: 'x7' is not a number"), msg);
    }

    @Test
    void aShortRowIsReported() throws IOException {
        List<String> lines = new java.util.ArrayList<>(TestData.digitsLines().subList(0, 20));
        lines.set(9, "1,2,3");
        Path bad = dir.resolve("short.csv");
        Files.write(bad, lines);
        Exception e = assertThrows(Exception.class, () -> load(csv(bad, bad)));
        assertTrue(LockstepCli.oneLine(e).contains("short.csv: line 10 has 3 columns, expected 65"),
            LockstepCli.oneLine(e));
    }

    @Test
    void idxFilesLoadAndBadOnesAreNamed() throws IOException {
        Path images = dir.resolve("train-images-idx3-ubyte");
        Path labels = dir.resolve("train-labels-idx1-ubyte");
        writeIdx(images, labels, 30, 3);
        JobConfig.Data d = JobConfig.defaults().data()
            .with("train", images.toString())
            .with("test", images.toString());
        DataLoader.Loaded data = load(d);
        assertEquals(30, data.trainCount());
        assertEquals(16, data.features());
        assertEquals(3, data.classes());
        Sample s7 = data.train().collect().get(7);
        assertEquals(7, s7.index());
        assertEquals(7 / 255f, s7.features()[0], 1e-7);
        assertEquals(1f, s7.labels()[7 % 3]);

        Files.write(labels, new byte[]{0, 0, 8, 1, 0, 0, 0, 29}); // header says 29 labels
        var e = assertThrows(IllegalArgumentException.class, () -> load(d));
        assertTrue(e.getMessage().contains("29 labels for 30 images"), e.getMessage());

        Files.write(images, new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        e = assertThrows(IllegalArgumentException.class, () -> load(d));
        assertTrue(e.getMessage().contains(images + ": not an unsigned-byte IDX file"), e.getMessage());

        JobConfig.Data missing = d.with("train", dir.resolve("missing-images-idx3-ubyte").toString());
        e = assertThrows(IllegalArgumentException.class, () -> load(missing));
        assertTrue(e.getMessage().contains("missing-images-idx3-ubyte: file not found"), e.getMessage());
    }

    @Test
    void idxValidationFromAFileOrAFraction() throws IOException {
        Path images = dir.resolve("v-images-idx3-ubyte");
        Path labels = dir.resolve("v-labels-idx1-ubyte");
        writeIdx(images, labels, 40, 4);
        JobConfig c = JobConfig.defaults()
            .with("data.train", images.toString())
            .with("data.test", images.toString())
            .with("data.validation", images.toString());
        DataLoader.Loaded file = DataLoader.load(sc, c);
        assertEquals(40, file.validationCount());
        assertEquals(40, file.validation().count());

        c = c.with("data.validation", null)
            .with("data.validation_fraction", 0.25)
            .with("seed", 3);
        DataLoader.Loaded split = DataLoader.load(sc, c);
        assertEquals(40, split.trainCount() + split.validationCount());
        assertTrue(split.validationCount() > 0 && split.trainCount() > 0);
        assertArrayEquals(java.util.stream.LongStream.range(0, split.trainCount()).toArray(),
            split.train().collect().stream().mapToLong(Sample::index).sorted().toArray());
        // item i has pixels equal to i: the two splits hold every item once
        java.util.Set<Float> items = new java.util.TreeSet<>();
        split.train().collect().forEach(s -> assertTrue(items.add(s.features()[0] * 255)));
        split.validation().collect().forEach(s -> assertTrue(items.add(s.features()[0] * 255)));
        assertEquals(40, items.size());
        assertEquals("pixels", split.scaling().kind());
    }

    @Test
    void aTruncatedIdxFileIsNamed() throws IOException {
        Path images = dir.resolve("t-images-idx3-ubyte");
        Path labels = dir.resolve("t-labels-idx1-ubyte");
        writeIdx(images, labels, 10, 2);
        byte[] all = Files.readAllBytes(images);
        Files.write(images, java.util.Arrays.copyOf(all, all.length - 20));
        JobConfig.Data d = JobConfig.defaults().data()
            .with("train", images.toString())
            .with("test", images.toString());
        Exception e = assertThrows(Exception.class, () -> load(d).train().count());
        assertTrue(LockstepCli.oneLine(e).contains("t-images-idx3-ubyte: truncated"), LockstepCli.oneLine(e));
    }

    /** n 4x4 images whose pixels all equal the item number; label = item mod classes. */
    static void writeIdx(Path images, Path labels, int n, int classes) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(images))) {
            out.writeInt(0x803);
            out.writeInt(n);
            out.writeInt(4);
            out.writeInt(4);
            for (int i = 0; i < n; i++) for (int p = 0; p < 16; p++) out.writeByte(i);
        }
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(labels))) {
            out.writeInt(0x801);
            out.writeInt(n);
            for (int i = 0; i < n; i++) out.writeByte(i % classes);
        }
    }
}
