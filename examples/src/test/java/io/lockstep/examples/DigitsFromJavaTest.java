package io.lockstep.examples;

import io.lockstep.api.Lockstep;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** The Java API example runs as shipped, on a real local Spark session with Lockstep's Kryo settings. */
@Tag("slow")
class DigitsFromJavaTest {
    @TempDir
    Path dir;

    @Test
    @SuppressWarnings("unchecked")
    void theJavaExampleTrainsAndPublishesAModel() {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("example-test")
            .config(Lockstep.sparkConf(new SparkConf())) // as the example's main: Kryo, registration required
            .config("spark.driver.host", "127.0.0.1").config("spark.ui.enabled", "false").getOrCreate();
        try {
            Map<String, Object> summary = DigitsFromJava.run(spark, Path.of("data", "digits.csv.gz").toString(),
                dir.resolve("out").toString());
            double accuracy = ((Number) ((Map<String, Object>) summary.get("test")).get("accuracy")).doubleValue();
            assertTrue(accuracy > 0.85, "test accuracy " + accuracy);
            assertTrue(((Number) summary.get("validation_samples")).longValue() > 100);
            assertTrue(Files.exists(dir.resolve("out/model.zip")));
        } finally {
            spark.stop();
        }
    }
}
