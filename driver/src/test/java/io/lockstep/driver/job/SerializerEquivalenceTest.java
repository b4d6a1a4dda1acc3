package io.lockstep.driver.job;

import com.esotericsoftware.kryo.Kryo;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import org.apache.spark.serializer.KryoRegistrator;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Kryo (the default, registration required) and Java serialization ship the same rows, start point and results:
 * the same job under each trains bit-identical parameters and reports the same metrics. The Kryo run also names a
 * registrator of the user's own, which Spark must run beside Lockstep's.
 */
@Tag("slow")
class SerializerEquivalenceTest {
    @TempDir
    Path dir;

    static final AtomicInteger USER_REGISTRATIONS = new AtomicInteger();

    /** A user's registrator; counts the Kryo instances it was asked to fill. */
    public static final class CountingRegistrator implements KryoRegistrator {
        @Override
        public void registerClasses(Kryo kryo) {
            USER_REGISTRATIONS.incrementAndGet();
        }
    }

    @Test
    void javaSerializationTrainsWhatKryoTrains() throws IOException {
        Path[] split = TestData.digitsSplit(dir, 1200);
        JobConfig job = TestData.digitsJob(split[0], split[1], dir.resolve("kryo"))
            .with("data.validation_fraction", 0.1)
            .with("epochs", 2);
        USER_REGISTRATIONS.set(0);
        Map<String, Object> kryo = TrainingJob.run(job
            .with("spark.conf.spark.kryo.registrator", CountingRegistrator.class.getName()));
        assertTrue(USER_REGISTRATIONS.get() > 0, "the user's registrator ran");
        Map<String, Object> java = TrainingJob.run(job.with("output.dir", dir.resolve("java").toString())
            .with("spark.conf.spark.serializer", "org.apache.spark.serializer.JavaSerializer"));

        assertEquals(kryo.get("steps"), java.get("steps"));
        assertArrayEquals(TrainingJobTest.params(dir.resolve("kryo/model.zip")),
            TrainingJobTest.params(dir.resolve("java/model.zip")), "bit-identical final parameters");
        assertEquals(kryo.get("test"), java.get("test"));
        assertEquals(kryo.get("validation"), java.get("validation"));
    }
}
