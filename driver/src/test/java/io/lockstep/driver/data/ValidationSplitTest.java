package io.lockstep.driver.data;

import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.worker.data.Sample;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.LongStream;

import static org.junit.jupiter.api.Assertions.*;

/** data.validation_fraction and data.validation, and normalization fitted on the training rows only. */
@Tag("slow")
class ValidationSplitTest {
    static JavaSparkContext sc;

    @TempDir
    static Path dir;
    static Path train;
    static Path test;

    @BeforeAll
    static void spark() throws IOException {
        sc = TestData.sparkContext();
        Path[] split = TestData.digitsSplit(dir, 1500);
        train = split[0];
        test = split[1];
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    static JobConfig job(double fraction, long seed, String normalize) {
        JobConfig c = JobConfig.defaults()
            .with("data.format", DataFormat.CSV)
            .with("data.train", train.toString())
            .with("data.test", test.toString())
            .with("data.validation_fraction", fraction)
            .with("data.normalize", Normalize.parse(normalize))
            .with("seed", seed);
        return c;
    }

    /** A row's content as a string: the key for comparing splits as multisets of rows. */
    static String key(Sample s) {
        return Arrays.toString(s.features()) + Arrays.toString(s.labels());
    }

    static Map<String, Integer> counts(List<Sample> samples) {
        Map<String, Integer> m = new HashMap<>();
        samples.forEach(s -> m.merge(key(s), 1, Integer::sum));
        return m;
    }

    static List<Sample> byIndex(List<Sample> samples) {
        List<Sample> s = new ArrayList<>(samples);
        s.sort(Comparator.comparingLong(Sample::index));
        return s;
    }

    @Test
    void validationFractionSplitsTheTrainingRowsDisjointlyAndCoversThem() {
        JobConfig whole = job(0.5, 1, "none")
            .with("data.validation_fraction", null);
        DataLoader.Loaded all = DataLoader.load(sc, whole);
        assertNull(all.validation());
        DataLoader.Loaded data = DataLoader.load(sc, job(0.2, 7, "none"));
        assertEquals(1500, data.trainCount() + data.validationCount());
        assertTrue(data.validationCount() > 240 && data.validationCount() < 360, "about 20%: " + data.validationCount());
        assertEquals(297, data.testCount(), "the test split is not touched");

        List<Sample> trainRows = data.train().collect();
        List<Sample> validationRows = data.validation().collect();
        assertEquals(data.trainCount(), trainRows.size());
        assertEquals(data.validationCount(), validationRows.size());
        // dense indices 0..n-1 in both splits
        assertArrayEquals(LongStream.range(0, data.trainCount()).toArray(),
            trainRows.stream().mapToLong(Sample::index).sorted().toArray());
        assertArrayEquals(LongStream.range(0, data.validationCount()).toArray(),
            validationRows.stream().mapToLong(Sample::index).sorted().toArray());
        // train + validation = all training rows, as multisets: disjoint and complete
        List<Sample> union = new ArrayList<>(trainRows);
        union.addAll(validationRows);
        assertEquals(counts(all.train().collect()), counts(union));
    }

    @Test
    void theSplitDependsOnlyOnTheSeed() {
        List<Sample> a = byIndex(DataLoader.load(sc, job(0.25, 11, "none")).validation().collect());
        List<Sample> b = byIndex(DataLoader.load(sc, job(0.25, 11, "none")).validation().collect());
        List<Sample> c = byIndex(DataLoader.load(sc, job(0.25, 12, "none")).validation().collect());
        assertEquals(a.stream().map(ValidationSplitTest::key).toList(), b.stream().map(ValidationSplitTest::key).toList());
        assertNotEquals(a.stream().map(ValidationSplitTest::key).toList(),
            c.stream().map(ValidationSplitTest::key).toList());
    }

    @Test
    void theSplitDoesNotDependOnThePartitioning() throws IOException {
        Path gz = dir.resolve("train.csv.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write(Files.readAllBytes(train));
        }
        JobConfig c = job(0.25, 11, "none")
            .with("data.train", gz.toString());
        assertEquals(1, sc.textFile(gz.toString()).getNumPartitions());
        assertTrue(sc.textFile(train.toString()).getNumPartitions() > 1);
        assertEquals(byIndex(DataLoader.load(sc, job(0.25, 11, "none")).validation().collect()).stream()
                .map(ValidationSplitTest::key).toList(),
            byIndex(DataLoader.load(sc, c).validation().collect()).stream().map(ValidationSplitTest::key).toList());
    }

    @Test
    void theHeldOutShareIsCloseToTheFraction() {
        int held = 0;
        for (long i = 0; i < 100_000; i++) {
            if (Splits.held(42, i, 0.1)) {
                held++;
            }
        }
        assertEquals(10_000, held, 400);
    }

    @Test
    void normalizationIsFittedOnTheTrainingRowsOnly() {
        DataLoader.Loaded raw = DataLoader.load(sc, job(0.3, 5, "none"));
        DataLoader.Loaded scaled = DataLoader.load(sc, job(0.3, 5, "standardize"));
        double[] trainMean = mean(raw.train().collect());
        List<Sample> everything = new ArrayList<>(raw.train().collect());
        everything.addAll(raw.validation().collect());
        double[] allMean = mean(everything);
        float[] fitted = scaled.scaling().a();
        double largestGap = 0;
        for (int i = 0; i < 64; i++) {
            assertEquals(trainMean[i], fitted[i], 1e-4, "mean of feature " + i + " over the training rows");
            largestGap = Math.max(largestGap, Math.abs(allMean[i] - trainMean[i]));
        }
        assertTrue(largestGap > 1e-3, "train+validation would have given another mean");
        // standardized training features have mean 0; validation features were scaled with the same statistics
        for (double m : mean(scaled.train().collect())) {
            assertEquals(0, m, 1e-4);
        }
        Sample v = byIndex(scaled.validation().collect()).get(0);
        Sample r = byIndex(raw.validation().collect()).get(0);
        float[] expected = scaled.scaling().apply(r.features().clone());
        assertArrayEquals(expected, v.features());
    }

    @Test
    void minmaxIsFittedOnTheTrainingRowsOnly() {
        DataLoader.Loaded raw = DataLoader.load(sc, job(0.3, 5, "none"));
        DataLoader.Loaded scaled = DataLoader.load(sc, job(0.3, 5, "minmax"));
        float[] max = new float[64];
        for (Sample s : raw.train().collect()) {
            for (int i = 0; i < 64; i++) {
                max[i] = Math.max(max[i], s.features()[i]);
            }
        }
        assertArrayEquals(max, scaled.scaling().b());
    }

    @Test
    void aValidationFileIsLoadedLikeTheTestFile() throws IOException {
        JobConfig c = job(0.5, 1, "standardize")
            .with("data.validation_fraction", null)
            .with("data.validation", test.toString());
        DataLoader.Loaded data = DataLoader.load(sc, c);
        assertEquals(1500, data.trainCount());
        assertEquals(297, data.validationCount());
        assertEquals(byIndex(data.test().collect()).stream().map(ValidationSplitTest::key).toList(),
            byIndex(data.validation().collect()).stream().map(ValidationSplitTest::key).toList());

        JobConfig both = c.with("data.validation_fraction", 0.1);
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> DataLoader.load(sc, both));
        assertEquals("config keys 'data.validation' and 'data.validation_fraction' are both set; use one of them",
            e.getMessage());

        Path wide = dir.resolve("wide.csv");
        Files.write(wide, List.of("1,2,3,4,5,6,0"));
        JobConfig tooWide = c.with("data.validation", wide.toString());
        Exception bad = assertThrows(Exception.class, () -> DataLoader.load(sc, tooWide));
        assertTrue(io.lockstep.driver.cli.LockstepCli.oneLine(bad).contains("wide.csv: line 1 has 7 columns, expected 65"),
            io.lockstep.driver.cli.LockstepCli.oneLine(bad));
    }

    static double[] mean(List<Sample> samples) {
        double[] m = new double[samples.get(0).features().length];
        for (Sample s : samples) {
            for (int i = 0; i < m.length; i++) {
                m[i] += (double) s.features()[i] / samples.size();
            }
        }
        return m;
    }
}
