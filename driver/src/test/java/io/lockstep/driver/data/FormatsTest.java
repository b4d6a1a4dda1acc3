package io.lockstep.driver.data;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.cli.LockstepCli;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.worker.data.Sample;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
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
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The same digits rows as CSV, Parquet (vector, array and numeric columns), LibSVM and datasets load to the same samples. */
@Tag("slow")
class FormatsTest {
    static JavaSparkContext sc;
    static SparkSession spark;

    @TempDir
    static Path dir;
    static Path csvTrain;
    static Path csvTest;
    static Path parquetTrain;
    static Path parquetTest;
    static Path svmTrain;
    static Path svmTest;
    static List<Sample> expectedTrain;
    static List<Sample> expectedTest;

    @BeforeAll
    static void writeDigitsInEveryFormat() throws IOException {
        sc = TestData.sparkContext();
        spark = DataLoader.session(sc);
        Path[] split = TestData.digitsSplit(dir, 1500);
        csvTrain = split[0];
        csvTest = split[1];
        parquetTrain = dir.resolve("train.parquet");
        parquetTest = dir.resolve("test.parquet");
        digitsFrame(Files.readAllLines(csvTrain)).coalesce(1).write().parquet(parquetTrain.toString());
        digitsFrame(Files.readAllLines(csvTest)).coalesce(1).write().parquet(parquetTest.toString());
        svmTrain = dir.resolve("train.svm");
        svmTest = dir.resolve("test.svm");
        Files.write(svmTrain, libsvm(Files.readAllLines(csvTrain)));
        Files.write(svmTest, libsvm(Files.readAllLines(csvTest)));
        DataLoader.Loaded csv = DataLoader.load(sc, TestData.job(data("csv", csvTrain, csvTest), "classification"));
        expectedTrain = sorted(csv.train().collect());
        expectedTest = sorted(csv.test().collect());
    }

    @AfterAll
    static void stop() {
        sc.stop();
    }

    static JobConfig.Data data(String format, Path train, Path test) {
        JobConfig.Data d = JobConfig.defaults().data()
            .with("format", DataFormat.parse(format))
            .with("train", train.toString())
            .with("test", test.toString());
        return d;
    }

    /** label (int), features (ML vector), pixels (array of double), p0..p63 (double), as many rows as lines. */
    static Dataset<Row> digitsFrame(List<String> lines) {
        List<StructField> fields = new ArrayList<>(List.of(
            DataTypes.createStructField("label", DataTypes.IntegerType, false),
            DataTypes.createStructField("features", SQLDataTypes.VectorType(), false),
            DataTypes.createStructField("pixels", DataTypes.createArrayType(DataTypes.DoubleType), false)));
        for (int i = 0; i < 64; i++) {
            fields.add(DataTypes.createStructField("p" + i, DataTypes.DoubleType, false));
        }
        List<Row> rows = new ArrayList<>();
        for (String line : lines) {
            double[] v = Arrays.stream(line.split(",")).mapToDouble(Double::parseDouble).toArray();
            double[] x = Arrays.copyOf(v, 64);
            Object[] cells = new Object[3 + 64];
            cells[0] = (int) v[64];
            cells[1] = Vectors.dense(x);
            cells[2] = Arrays.stream(x).boxed().toList();
            for (int i = 0; i < 64; i++) {
                cells[3 + i] = x[i];
            }
            rows.add(RowFactory.create(cells));
        }
        return spark.createDataFrame(rows, new StructType(fields.toArray(new StructField[0])));
    }

    /** The CSV lines as LibSVM: label first, then the non-zero features as 1-based index:value. */
    static List<String> libsvm(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String line : lines) {
            String[] cells = line.split(",");
            StringBuilder b = new StringBuilder(cells[64]);
            for (int i = 0; i < 64; i++) {
                if (Double.parseDouble(cells[i]) != 0) {
                    b.append(' ').append(i + 1).append(':').append(cells[i]);
                }
            }
            out.add(b.toString());
        }
        return out;
    }

    static List<Sample> sorted(List<Sample> samples) {
        List<Sample> s = new ArrayList<>(samples);
        s.sort(Comparator.comparingLong(Sample::index));
        return s;
    }

    static void assertSameSamples(List<Sample> expected, List<Sample> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            Sample e = expected.get(i);
            Sample a = actual.get(i);
            assertEquals(i, a.index(), "dense indices 0..n-1");
            assertArrayEquals(e.features(), a.features(), "features of row " + i);
            assertArrayEquals(e.labels(), a.labels(), "labels of row " + i);
        }
    }

    void assertLoadsLikeCsv(DataLoader.Loaded data) {
        assertEquals(1500, data.trainCount());
        assertEquals(297, data.testCount());
        assertEquals(64, data.features());
        assertEquals(10, data.classes());
        assertEquals(10, data.outputs());
        assertSameSamples(expectedTrain, sorted(data.train().collect()));
        assertSameSamples(expectedTest, sorted(data.test().collect()));
    }

    @Test
    void csvRowsAreIndexedDenselyFromZero() {
        assertEquals(0, expectedTrain.get(0).index());
        assertEquals(1499, expectedTrain.get(1499).index());
        assertEquals(0, expectedTest.get(0).index());
    }

    @Test
    void parquetNumericColumnsLoadLikeCsv() {
        // default features: every numeric column except the label (the vector and array columns are not numeric)
        assertLoadsLikeCsv(DataLoader.load(sc, TestData.job(data("parquet", parquetTrain, parquetTest),
            "classification")));
        List<String> columns = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            columns.add("p" + i);
        }
        JobConfig.Data d = data("parquet", parquetTrain, parquetTest).with("feature_columns", columns);
        assertLoadsLikeCsv(DataLoader.load(sc, TestData.job(d, "classification")));
    }

    @Test
    void parquetVectorColumnLoadsLikeCsv() {
        JobConfig.Data d = data("parquet", parquetTrain, parquetTest)
            .with("features_column", "features");
        assertLoadsLikeCsv(DataLoader.load(sc, TestData.job(d, "classification")));
    }

    @Test
    void parquetArrayColumnLoadsLikeCsv() {
        JobConfig.Data d = data("parquet", parquetTrain, parquetTest)
            .with("features_column", "pixels")
            .with("label_column", JobConfig.Data.Column.name("label"));
        assertLoadsLikeCsv(DataLoader.load(sc, TestData.job(d, "classification")));
    }

    @Test
    void libsvmLoadsLikeCsv() throws IOException {
        JobConfig.Data d = data("libsvm", svmTrain, svmTest)
            .with("features", 64);
        assertLoadsLikeCsv(DataLoader.load(sc, TestData.job(d, "classification")));
        // without data.features: the largest index in train and test
        int largest = 0;
        for (String line : Files.readAllLines(svmTrain)) {
            String[] t = line.split(" ");
            largest = Math.max(largest, Integer.parseInt(t[t.length - 1].split(":")[0]));
        }
        d = d.with("features", null);
        DataLoader.Loaded inferred = DataLoader.load(sc, TestData.job(d, "classification"));
        assertTrue(inferred.features() >= largest, inferred.features() + " >= " + largest);
    }

    @Test
    void datasetsLoadLikeCsv() {
        JobConfig.Data d = JobConfig.defaults().data()
            .with("features_column", "features");
        Dataset<Row> train = spark.read().parquet(parquetTrain.toString());
        Dataset<Row> test = spark.read().parquet(parquetTest.toString());
        DataLoader.Loaded data = DataLoader.fromDatasets(train, null, test, d, Task.CLASSIFICATION, 42);
        assertLoadsLikeCsv(data);
        assertNull(data.validation());
        assertEquals(0, data.validationCount());

        DataLoader.Loaded noTest = DataLoader.fromDatasets(train, test, null, d, Task.CLASSIFICATION, 42);
        assertNull(noTest.test());
        assertEquals(297, noTest.validationCount());
        assertSameSamples(expectedTest, sorted(noTest.validation().collect()));
    }

    @Test
    void aMissingParquetColumnIsNamedWithTheKey() {
        JobConfig.Data d = data("parquet", parquetTrain, parquetTest)
            .with("label_column", JobConfig.Data.Column.name("lable"));
        var e = assertThrows(IllegalArgumentException.class, () -> DataLoader.load(sc, TestData.job(d, "classification")));
        assertTrue(e.getMessage().startsWith("config key 'data.label_column': no column 'lable' in " + parquetTrain
            + " (columns: label, features, pixels, p0"), e.getMessage());

        JobConfig.Data f = data("parquet", parquetTrain, parquetTest)
            .with("feature_columns", List.of("p0", "p64"));
        e = assertThrows(IllegalArgumentException.class, () -> DataLoader.load(sc, TestData.job(f, "classification")));
        assertTrue(e.getMessage().startsWith("config key 'data.feature_columns': no column 'p64' in " + parquetTrain),
            e.getMessage());

        JobConfig.Data v = data("parquet", parquetTrain, parquetTest)
            .with("features_column", "p3");
        e = assertThrows(IllegalArgumentException.class, () -> DataLoader.load(sc, TestData.job(v, "classification")));
        assertEquals("config key 'data.features_column': column 'p3' of " + parquetTrain
            + " is double, not a vector or an array of numbers", e.getMessage());
    }

    @Test
    void badParquetValuesAreNamedByRowAndColumn() {
        StructType schema = new StructType(new StructField[]{
            DataTypes.createStructField("a", DataTypes.DoubleType, true),
            DataTypes.createStructField("b", DataTypes.DoubleType, true),
            DataTypes.createStructField("y", DataTypes.DoubleType, true)});
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            rows.add(RowFactory.create((double) i, 1.0, (double) (i % 2)));
        }
        rows.set(6, RowFactory.create(1e39, 1.0, 0.0));
        Path bad = dir.resolve("overflow.parquet");
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(bad.toString());
        JobConfig.Data d = data("parquet", bad, bad)
            .with("label_column", JobConfig.Data.Column.name("y"));
        Exception e = assertThrows(Exception.class, () -> DataLoader.load(sc, TestData.job(d, "binary")));
        String message = LockstepCli.oneLine(e);
        assertTrue(message.matches(java.util.regex.Pattern.quote(bad.toString())
            + "/part-00000-[^:/]+\\.parquet: row 7, column 'a': '1\\.0E39' overflows a float \\(largest 3\\.4028235E38\\)"),
            message);

        // several files: the file and the row in it, not the row in Spark's read order over all files
        Path two = dir.resolve("two.parquet");
        List<Row> good = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            good.add(RowFactory.create((double) i, 1.0, (double) (i % 2)));
        }
        spark.createDataFrame(good, schema).coalesce(1).write().parquet(two.toString());
        spark.createDataFrame(rows, schema).coalesce(1).write().mode("append").parquet(two.toString());
        JobConfig.Data t = data("parquet", two, two)
            .with("label_column", JobConfig.Data.Column.name("y"));
        e = assertThrows(Exception.class, () -> DataLoader.load(sc, TestData.job(t, "binary")));
        message = LockstepCli.oneLine(e);
        assertTrue(message.matches(java.util.regex.Pattern.quote(two.toString())
            + "/part-00000-[^:/]+\\.parquet: row 7, column 'a': .*"), message);

        rows.set(6, RowFactory.create(1.0, Double.NaN, 0.0));
        rows.set(8, RowFactory.create(1.0, 1.0, 2.0));
        Dataset<Row> frame = spark.createDataFrame(rows, schema).coalesce(1);
        e = assertThrows(Exception.class, () -> DataLoader.fromDatasets(frame, null, null, d, Task.BINARY, 1));
        assertEquals("train dataset: row 7, column 'b': 'NaN' is not finite", LockstepCli.oneLine(e));

        rows.set(6, RowFactory.create(1.0, 1.0, 0.0));
        Dataset<Row> labels = spark.createDataFrame(rows, schema).coalesce(1);
        e = assertThrows(Exception.class, () -> DataLoader.fromDatasets(labels, null, null, d, Task.BINARY, 1));
        assertEquals("train dataset: row 9, column 'y': label '2' is not 0 or 1 (task binary)", LockstepCli.oneLine(e));
    }
}
