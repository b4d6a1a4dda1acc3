package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.Normalize;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.cli.LockstepCli;
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
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Label checks and encodings per task, non-finite and overflowing input, the shipped example data. */
@Tag("slow")
class TasksTest {
    static final Path EXAMPLES = Path.of("..", "examples", "data");
    static JavaSparkContext sc;

    @TempDir
    Path dir;

    @BeforeAll
    static void spark() {
        sc = TestData.sparkContext();
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    static JobConfig job(String format, Path train, Path test, String task) {
        JobConfig c = JobConfig.defaults()
            .with("task", Task.of(task))
            .with("data.format", DataFormat.parse(format))
            .with("data.train", train.toString())
            .with("data.test", test.toString());
        return c;
    }

    Path write(String name, String... lines) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, List.of(lines));
        return p;
    }

    static String error(JobConfig c) {
        Exception e = assertThrows(Exception.class, () -> {
            DataLoader.Loaded d = DataLoader.load(sc, c);
            d.train().count();
            d.test().count();
        });
        return LockstepCli.oneLine(e);
    }

    @Test
    void binaryLabelsAreOneColumnOfZeroOrOne() throws IOException {
        Path f = write("b.csv", "0.5,1.5,1", "2.5,0.5,0", "1,1,1", "0,0,0");
        DataLoader.Loaded d = DataLoader.load(sc, job("csv", f, f, "binary"));
        assertEquals(Task.BINARY, d.task());
        assertEquals(1, d.outputs());
        assertEquals(2, d.classes());
        assertEquals(2, d.features());
        List<Sample> rows = FormatsTest.sorted(d.train().collect());
        assertArrayEquals(new float[]{1}, rows.get(0).labels());
        assertArrayEquals(new float[]{0}, rows.get(1).labels());

        Path bad = write("bad.csv", "0.5,1.5,1", "2.5,0.5,0", "1,1,2", "0,0,0");
        assertEquals(bad + ": line 3, column 3: label '2' is not 0 or 1 (task binary)",
            error(job("csv", bad, bad, "binary")));
        Path one = write("one.csv", "0.5,1.5,1", "2.5,0.5,1");
        assertEquals(one + ": every label is 1; task binary needs both 0 and 1 in the training split",
            error(job("csv", one, one, "binary")));
        Path test = write("test.csv", "0.5,1.5,1", "2.5,0.5,-1");
        assertEquals(test + ": line 2, column 3: label '-1' is not 0 or 1 (task binary)",
            error(job("csv", f, test, "binary")));
    }

    @Test
    void libsvmBinaryLabelsMayBeMinusOneAndPlusOne() throws IOException {
        Path f = write("b.svm", "+1 1:0.5 2:1.5", "-1 2:0.5", "# a comment line", "", "1 1:1 2:1 # trailing comment",
            "-1 1:0");
        DataLoader.Loaded d = DataLoader.load(sc, job("libsvm", f, f, "binary"));
        assertEquals(4, d.trainCount());
        assertEquals(2, d.features());
        List<Sample> rows = FormatsTest.sorted(d.train().collect());
        assertArrayEquals(new float[]{1, 0, 1, 0}, new float[]{rows.get(0).labels()[0], rows.get(1).labels()[0],
            rows.get(2).labels()[0], rows.get(3).labels()[0]});
        assertArrayEquals(new float[]{0, 0.5f}, rows.get(1).features());

        Path bad = write("bad.svm", "1 1:0.5", "-1 2:0.5", "2 1:1");
        assertEquals(bad + ": line 3: label '2' is not a binary label (0 or 1; -1 reads as 0)",
            error(job("libsvm", bad, bad, "binary")));
        Path classes = write("classes.svm", "1 1:0.5", "-1 2:0.5");
        assertEquals(classes + ": line 2: label '-1' is not a class index (0, 1, 2, ...)",
            error(job("libsvm", classes, classes, "classification")));
    }

    @Test
    void regressionTargetsAreKeptAsTheyAre() throws IOException {
        Path f = write("r.csv", "1,2,151.5", "3,4,-75.25", "5,6,0");
        DataLoader.Loaded d = DataLoader.load(sc, job("csv", f, f, "regression"));
        assertEquals(Task.REGRESSION, d.task());
        assertEquals(1, d.outputs());
        assertEquals(0, d.classes());
        List<Sample> rows = FormatsTest.sorted(d.train().collect());
        assertArrayEquals(new float[]{151.5f}, rows.get(0).labels());
        assertArrayEquals(new float[]{-75.25f}, rows.get(1).labels());
        assertEquals("none", d.scaling().kind());

        JobConfig firstColumn = job("csv", f, f, "regression")
            .with("data.label_column", JobConfig.Data.Column.index(0));
        assertArrayEquals(new float[]{3}, FormatsTest.sorted(DataLoader.load(sc, firstColumn).train().collect())
            .get(1).labels());

        Path bad = write("bad.csv", "1,2,151.5", "3,4,NaN");
        assertEquals(bad + ": line 2, column 3: label 'NaN' is not finite", error(job("csv", bad, bad, "regression")));
        Path big = write("big.csv", "1,2,151.5", "3,4,1e39");
        assertEquals(big + ": line 2, column 3: label '1e39' overflows a float (largest 3.4028235E38)",
            error(job("csv", big, big, "regression")));
    }

    @Test
    void classificationLabelsMustBeClassIndices() throws IOException {
        Path f = write("c.csv", "1,2,0", "3,4,2.5");
        assertEquals(f + ": line 2, column 3: label '2.5' is not a class index (0, 1, 2, ...)",
            error(job("csv", f, f, "classification")));
        Path train = write("train.csv", "1,2,0", "3,4,1");
        Path test = write("test.csv", "1,2,0", "3,4,2");
        assertEquals(test + ": line 2, column 3: label 2 is outside 0..1 (the training split's labels are 0..1; set"
            + " data.classes if it lacks some classes)", error(job("csv", train, test, "classification")));
    }

    @Test
    void nonFiniteAndOverflowingFeaturesAreRejectedWithTheirPlace() throws IOException {
        Path overflow = write("overflow.csv", "1,2,0", "3,1e39,1");
        assertEquals(overflow + ": line 2, column 2: '1e39' overflows a float (largest 3.4028235E38)",
            error(job("csv", overflow, overflow, "classification")));
        Path nan = write("nan.csv", "1,2,0", "3,4,1", "NaN,4,1");
        assertEquals(nan + ": line 3, column 1: 'NaN' is not finite", error(job("csv", nan, nan, "classification")));
        Path inf = write("inf.csv", "1,2,0", "3,-Infinity,1");
        assertEquals(inf + ": line 2, column 2: '-Infinity' is not finite", error(job("csv", inf, inf, "binary")));
        // the largest float itself is fine
        Path max = write("max.csv", "1,3.4028235e38,0", "3,4,1");
        assertEquals(Float.MAX_VALUE, FormatsTest.sorted(DataLoader.load(sc, job("csv", max, max, "binary"))
            .train().collect()).get(0).features()[1]);

        Path svm = write("overflow.svm", "1 1:0.5", "0 1:1 3:-2e40");
        assertEquals(svm + ": line 2, feature 3: '-2e40' overflows a float (largest 3.4028235E38)",
            error(job("libsvm", svm, svm, "binary")));
        Path svmNan = write("nan.svm", "1 1:0.5", "0 2:nan");
        assertEquals(svmNan + ": line 2, feature 2: 'nan' is not a number", error(job("libsvm", svmNan, svmNan, "binary")));
        Path svmNaN = write("NaN.svm", "1 1:0.5", "0 2:NaN");
        assertEquals(svmNaN + ": line 2, feature 2: 'NaN' is not finite", error(job("libsvm", svmNaN, svmNaN, "binary")));
    }

    @Test
    void badLibsvmLinesAreNamed() throws IOException {
        Path order = write("order.svm", "1 1:0.5 3:1 2:1", "0 1:1");
        assertEquals(order + ": line 1: feature index 2 after 3 (indices must be ascending)",
            error(job("libsvm", order, order, "binary")));
        Path zero = write("zero.svm", "1 0:0.5", "0 1:1");
        assertEquals(zero + ": line 1: feature index 0 (indices start at 1)", error(job("libsvm", zero, zero, "binary")));
        Path token = write("token.svm", "1 1:0.5", "0 qid:3 1:1");
        assertEquals(token + ": line 2: 'qid' is not a feature index", error(job("libsvm", token, token, "binary")));
        Path wide = write("wide.svm", "1 1:0.5", "0 5:1");
        JobConfig c = job("libsvm", wide, wide, "binary")
            .with("data.features", 4);
        assertEquals(wide + ": line 2: feature index 5 is beyond the 4 features (data.features)", error(c));
    }

    @Test
    void csvLabelColumnByHeaderName() throws IOException {
        Path f = write("h.csv", "a,target,b", "1,7.5,2", "3,8.5,4");
        JobConfig c = job("csv", f, f, "regression")
            .with("data.header", true)
            .with("data.label_column", JobConfig.Data.Column.name("target"));
        List<Sample> rows = FormatsTest.sorted(DataLoader.load(sc, c).train().collect());
        assertArrayEquals(new float[]{3, 4}, rows.get(1).features());
        assertArrayEquals(new float[]{8.5f}, rows.get(1).labels());
        c = c.with("data.label_column", JobConfig.Data.Column.name("y"));
        assertEquals("config key 'data.label_column': no column 'y' in the header of " + f + " (columns: a, target, b)",
            error(c));
        Path other = write("other.csv", "a,b,target", "1,2,7.5");
        c = c.with("data.label_column", JobConfig.Data.Column.name("target"))
            .with("data.test", other.toString());
        assertTrue(error(c).startsWith(other + ": header differs from the one of " + f), error(c));
    }

    @Test
    void shippedDiabetesLoadsForRegression() {
        JobConfig c = job("csv", EXAMPLES.resolve("diabetes-train.csv.gz"), EXAMPLES.resolve("diabetes-test.csv.gz"),
            "regression");
        c = c.with("data.header", true)
            .with("data.normalize", Normalize.STANDARDIZE);
        DataLoader.Loaded d = DataLoader.load(sc, c);
        assertEquals(442, d.trainCount() + d.testCount());
        assertEquals(354, d.trainCount());
        assertEquals(10, d.features());
        assertEquals(1, d.outputs());
        double sum = 0;
        for (Sample s : d.train().collect()) {
            assertTrue(s.labels()[0] >= 25 && s.labels()[0] <= 346, "diabetes targets are 25..346");
            sum += s.features()[2];
        }
        assertEquals(0, sum / d.trainCount(), 1e-4, "standardized bmi");
    }

    @Test
    void shippedBreastCancerLoadsForBinary() {
        JobConfig c = job("csv", EXAMPLES.resolve("breast-cancer-train.csv.gz"),
            EXAMPLES.resolve("breast-cancer-test.csv.gz"), "binary");
        c = c.with("data.header", true)
            .with("data.label_column", JobConfig.Data.Column.name("target"))
            .with("data.validation_fraction", 0.2);
        DataLoader.Loaded d = DataLoader.load(sc, c);
        assertEquals(569, d.trainCount() + d.validationCount() + d.testCount());
        assertEquals(114, d.testCount());
        assertEquals(30, d.features());
        List<Float> labels = new ArrayList<>();
        d.test().collect().forEach(s -> labels.add(s.labels()[0]));
        assertTrue(labels.contains(0f) && labels.contains(1f) && labels.stream().allMatch(l -> l == 0 || l == 1));
    }
}
