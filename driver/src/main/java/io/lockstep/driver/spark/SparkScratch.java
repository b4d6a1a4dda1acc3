package io.lockstep.driver.spark;

import org.apache.commons.io.FileUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Spark's scratch space (shuffle files, broadcast blocks) for jobs on a local master, in a folder
 * named after this process: Spark removes its files on a normal exit, and what a killed process
 * left behind ({@code kill -9}, an OOM kill) is removed by the next job that starts, as is done for
 * the Aeron directories. On a cluster the executors' scratch space belongs to the Spark workers
 * ({@code spark.worker.cleanup.enabled}).
 */
final class SparkScratch {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    private static final Pattern NAME = Pattern.compile("lockstep-spark-(\\d+)");

    private SparkScratch() {
    }

    /** This process's scratch folder under {@code parent}, after removing those of dead processes there. */
    static Path forThisProcess(Path parent) {
        removeOrphans(parent);
        Path dir = parent.resolve("lockstep-spark-" + ProcessHandle.current().pid());
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new IllegalStateException("cannot create Spark's scratch folder " + dir + ": " + e.getMessage(), e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> FileUtils.deleteQuietly(dir.toFile()),
            "lockstep-scratch-cleanup"));
        return dir;
    }

    static void removeOrphans(Path parent) {
        if (!Files.isDirectory(parent)) {
            return;
        }
        try (Stream<Path> entries = Files.list(parent)) {
            entries.forEach(p -> {
                Matcher m = NAME.matcher(p.getFileName().toString());
                if (m.matches() && ProcessHandle.of(Long.parseLong(m.group(1))).map(h -> !h.isAlive()).orElse(true)) {
                    LOG.info("removing Spark scratch space of a process that is gone: {}", p);
                    FileUtils.deleteQuietly(p.toFile());
                }
            });
        } catch (IOException e) {
            LOG.warn("could not look for old Spark scratch folders in {}: {}", parent, e.getMessage());
        }
    }
}
