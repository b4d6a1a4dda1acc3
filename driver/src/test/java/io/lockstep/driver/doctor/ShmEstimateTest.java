package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.data.TestData;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.ps.Terms;
import io.lockstep.ps.media.AeronFiles;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

import static io.lockstep.driver.doctor.Bytes.MIB;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The doctor's estimate of the media drivers' files against what a real job maps: the digits data through a
 * 64-512-256-10 MLP (167,178 parameters: gradient terms of 1 MiB, above auto's floor) with 2 workers exchanging
 * over UDP,
 * the drivers' directory on disk ({@code ps.aeron_dir}) so that only this job's files are counted, listed every
 * 20 ms while it trains (-Dlockstep.test.list=true prints each larger listing).
 */
@Tag("slow")
class ShmEstimateTest {
    /** How far below the estimate the peak may be: a listing between two drivers' starts. */
    static final double TOLERANCE = 0.05;

    @TempDir
    Path dir;

    @Test
    void theDoctorsEstimateMatchesTheFilesARealRunMaps() throws Exception {
        Path[] split = TestData.digitsSplit(dir, 1400);
        Path aeron = Files.createDirectories(dir.resolve("aeron"));
        JobConfig cfg = TestData.digitsJob(split[0], split[1], dir.resolve("out"))
            .with("model.hidden", List.of(512, 256))
            .with("data.classes", 10)
            .with("ps.transport", Transport.UDP)
            .with("ps.local_reduction", false)
            .with("ps.aeron_dir", aeron.toString());
        Setting setting = DoctorTest.local(cfg);
        long params = ModelSize.parameters(cfg, 64);
        assertEquals(167_178, params);
        Terms terms = AeronFootprint.terms(setting, params);
        assertEquals(new Terms(1 << 20, 1 << 20, 512 << 10), terms,
            "ps.term_length auto for 83,589 floats a shard, Adam on the shards (its state streamed), 65504-byte frames");
        long estimate = AeronFootprint.driverHostNeeds(setting, terms);

        AtomicLong peak = new AtomicLong();
        AtomicLong peakFiles = new AtomicLong();
        Thread lister = new Thread(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                long[] now = mapped(aeron);
                if (now[0] > peak.get()) {
                    peak.set(now[0]);
                    peakFiles.set(now[1]);
                    if (Boolean.getBoolean("lockstep.test.list")) {
                        try (Stream<Path> f = Files.walk(aeron)) {
                            System.out.println(f.map(aeron::relativize).map(Path::toString).sorted().toList());
                        } catch (IOException | UncheckedIOException ignored) {
                            // listed again at the next peak
                        }
                    }
                }
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "aeron-dir-lister");
        lister.start();
        try {
            TrainingJob.run(cfg);
        } finally {
            lister.interrupt();
            lister.join();
        }
        System.out.printf("ps.aeron_dir peak: %d files, %.1f MiB mapped; the doctor's estimate %.1f MiB%n",
            peakFiles.get(), peak.get() / (double) MIB, estimate / (double) MIB);
        // the estimate is the steady state; a sender that starts its stream over on the next generation (under load a
        // stale or broken stream) holds its old and new publication, and the shard both images, for a while
        long nextGeneration = 2L * 2 * 2 * AeronFiles.logBytes(terms.upstream());
        assertTrue(peak.get() >= (1 - TOLERANCE) * estimate && peak.get() <= estimate + nextGeneration, "mapped "
            + peak.get() + " bytes in " + peakFiles.get() + " files, the doctor estimated " + estimate
            + " (+ " + nextGeneration + " for a next generation of every gradient stream)");
        try (Stream<Path> left = Files.list(aeron)) {
            assertEquals(0, left.count(), "the drivers' directories are removed when the job ends");
        }
    }

    /** The sum of the files' lengths under {@code root} (what Aeron asked for) and their number. */
    static long[] mapped(Path root) {
        long[] sum = new long[2];
        try (Stream<Path> files = Files.walk(root)) {
            files.map(Path::toFile).filter(File::isFile).forEach(f -> {
                sum[0] += f.length();
                sum[1]++;
            });
        } catch (IOException | UncheckedIOException e) {
            // a driver removed its files while we listed them: the next listing counts again
        }
        return sum;
    }
}
