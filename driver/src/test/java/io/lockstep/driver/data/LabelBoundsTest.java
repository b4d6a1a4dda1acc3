package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.cli.LockstepCli;
import io.lockstep.driver.config.JobConfig;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
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
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Class indices are checked on every split while loading, before anything trains ({@code DataLoader.load}
 * itself fails): against data.classes when set, against the training labels otherwise, and against
 * a sane bound (100,000 classes) always; the message names file, line or row, and column.
 */
@Tag("slow")
class LabelBoundsTest {
    static JavaSparkContext sc;
    static SparkSession spark;

    @TempDir
    Path dir;

    @BeforeAll
    static void spark() {
        sc = TestData.sparkContext();
        spark = DataLoader.session(sc);
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    Path write(String name, String... lines) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, List.of(lines));
        return p;
    }

    static JobConfig job(String format, Path train, Path test) {
        JobConfig c = JobConfig.defaults()
            .with("data.format", DataFormat.parse(format))
            .with("data.train", train.toString())
            .with("data.test", test.toString());
        return c;
    }

    /** The one-line message of loading {@code c}: loading alone must fail, nothing is trained. */
    static String loadError(JobConfig c) {
        return LockstepCli.oneLine(assertThrows(Exception.class, () -> DataLoader.load(sc, c)));
    }

    static final String TRAINING_LABELS = "the training split's labels are 0..1; set data.classes if it lacks some classes";

    @Test
    void aTestLabelBeyondTheTrainingClassesFailsWhileLoadingNamingFileLineAndColumn() throws IOException {
        Path train = write("train.csv", "1,2,0", "3,4,1", "5,6,0");
        Path test = write("test.csv", "1,2,0", "3,4,1", "5,6,7", "7,8,9");
        assertEquals(test + ": line 3, column 3: label 7 is outside 0..1 (" + TRAINING_LABELS + ")",
            loadError(job("csv", train, test)));
        // the label column in the middle: its own column number
        Path mid = write("mid.csv", "1,0,2", "3,1,4");
        Path midTest = write("midtest.csv", "1,0,2", "3,4,4");
        JobConfig c = job("csv", mid, midTest)
            .with("data.label_column", JobConfig.Data.Column.index(1));
        assertEquals(midTest + ": line 2, column 2: label 4 is outside 0..1 (" + TRAINING_LABELS + ")", loadError(c));
    }

    @Test
    void aValidationFileIsCheckedToo() throws IOException {
        Path train = write("train.csv", "1,2,0", "3,4,1");
        Path validation = write("validation.csv", "1,2,1", "3,4,2");
        JobConfig c = job("csv", train, train)
            .with("data.validation", validation.toString());
        assertEquals(validation + ": line 2, column 3: label 2 is outside 0..1 (" + TRAINING_LABELS + ")",
            loadError(c));
    }

    @Test
    void dataClassesBoundsEverySplit() throws IOException {
        Path train = write("train.csv", "1,2,0", "3,4,2", "5,6,1");
        Path test = write("test.csv", "1,2,0", "3,4,1");
        JobConfig c = job("csv", train, test)
            .with("data.classes", 2);
        assertEquals(train + ": line 2, column 3: label '2' is outside 0..1 (data.classes is 2)", loadError(c));
        c = c.with("data.classes", 3);
        Path badTest = write("badtest.csv", "1,2,0", "3,4,3");
        c = c.with("data.test", badTest.toString());
        assertEquals(badTest + ": line 2, column 3: label '3' is outside 0..2 (data.classes is 3)", loadError(c));
    }

    @Test
    void absurdClassIndicesAreRefusedWithTheirPlace() throws IOException {
        String bound = "is too large a class index: a job has at most 100000 classes (0..99999)";
        Path billion = write("billion.csv", "1,2,0", "3,4,1", "5,6,1000000000");
        assertEquals(billion + ": line 3, column 3: label '1000000000' " + bound, loadError(job("csv", billion, billion)));
        Path e10 = write("e10.csv", "1,2,0", "3,4,1e10");
        assertEquals(e10 + ": line 2, column 3: label '1e10' " + bound, loadError(job("csv", e10, e10)));
        Path edge = write("edge.csv", "1,2,0", "3,4,100000");
        assertEquals(edge + ": line 2, column 3: label '100000' " + bound, loadError(job("csv", edge, edge)));
        Path half = write("half.csv", "1,2,0", "3,4,1.5");
        assertEquals(half + ": line 2, column 3: label '1.5' is not a class index (0, 1, 2, ...)",
            loadError(job("csv", half, half)));
        Path svm = write("billion.svm", "0 1:1", "1000000000 1:2");
        assertEquals(svm + ": line 2: label '1000000000' " + bound, loadError(job("libsvm", svm, svm)));
        // in the test split too, found while loading
        Path train = write("train.csv", "1,2,0", "3,4,1");
        assertEquals(e10 + ": line 2, column 3: label '1e10' " + bound, loadError(job("csv", train, e10)));
    }

    @Test
    void idxTestLabelsAreCheckedBeforeTraining() throws IOException {
        Path trainImages = dir.resolve("a-images-idx3-ubyte");
        Path testImages = dir.resolve("b-images-idx3-ubyte");
        DataLoaderTest.writeIdx(trainImages, dir.resolve("a-labels-idx1-ubyte"), 30, 3);
        DataLoaderTest.writeIdx(testImages, dir.resolve("b-labels-idx1-ubyte"), 30, 5);
        assertEquals(dir.resolve("b-labels-idx1-ubyte") + ": item 3: label 3 is outside 0..2 (the training split's"
            + " labels are 0..2; set data.classes if it lacks some classes)", loadError(job("idx", trainImages, testImages)));
        JobConfig c = job("idx", trainImages, testImages)
            .with("data.classes", 5);
        DataLoader.Loaded loaded = DataLoader.load(sc, c);
        assertEquals(5, loaded.classes());
    }

    @Test
    void parquetTestSplitsAreReadBeforeTraining() {
        StructType schema = new StructType(new StructField[]{
            DataTypes.createStructField("a", DataTypes.DoubleType, true),
            DataTypes.createStructField("y", DataTypes.DoubleType, true)});
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            rows.add(RowFactory.create((double) i, (double) (i % 2)));
        }
        Path train = dir.resolve("train.parquet");
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(train.toString());
        rows.set(4, RowFactory.create(4.0, 6.0));
        Path test = dir.resolve("test.parquet");
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(test.toString());
        JobConfig c = job("parquet", train, test)
            .with("data.label_column", JobConfig.Data.Column.name("y"));
        String message = loadError(c);
        assertTrue(message.matches(Pattern.quote(test.toString()) + "/part-00000-[^:/]+\\.parquet: row 5, column 'y':"
            + " label 6 is outside 0\\.\\.1 \\(" + Pattern.quote(TRAINING_LABELS) + "\\)"), message);

        // regression without normalization computes no statistics: the training rows are read all the same
        rows.set(4, RowFactory.create(Double.NaN, 1.0));
        Path nan = dir.resolve("nan.parquet");
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(nan.toString());
        JobConfig r = job("parquet", nan, train)
            .with("task", Task.REGRESSION)
            .with("data.label_column", JobConfig.Data.Column.name("y"));
        message = loadError(r);
        assertTrue(message.matches(Pattern.quote(nan.toString()) + "/part-00000-[^:/]+\\.parquet: row 5, column 'a':"
            + " 'NaN' is not finite"), message);
    }
}
