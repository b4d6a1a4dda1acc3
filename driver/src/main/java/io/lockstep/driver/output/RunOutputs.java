package io.lockstep.driver.output;

import io.lockstep.driver.config.ConfigLoader;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongToDoubleFunction;

/**
 * Files of a run. Each final file is written beside its destination under a temporary name
 * and renamed into place, so a crash never leaves a half-written model or summary behind and a
 * good file from an earlier run is only replaced by a complete one. metrics.jsonl, written while
 * the run goes ({@link #openMetrics}), is moved into place with summary.json, the last file a
 * successful run writes: a failed run leaves every file of an earlier run as it was.
 */
public final class RunOutputs {
    /** Below this much free space output.dir counts as full before anything runs. */
    static final long MIN_FREE_BYTES = 1024 * 1024;

    private final Path dir;
    private final List<MetricsLog> pending = new ArrayList<>();

    /** Checks output.dir ({@link #prepare}) and removes temporary files earlier runs left in it. */
    public RunOutputs(Path dir) throws IOException {
        this.dir = dir;
        prepare(dir);
        TempFiles.sweep(dir);
    }

    public Path dir() { return dir; }
    public Path model() { return dir.resolve("model.zip"); }
    public Path metrics() { return dir.resolve("metrics.jsonl"); }
    Path summary() { return dir.resolve("summary.json"); }

    /**
     * Makes sure {@code dir} (config key output.dir) is a writable directory with space left,
     * creating it when missing; fails on one line naming the key and the path otherwise (a
     * {@link ConfigLoader.ConfigException}, or an IOException when the disk is full).
     */
    public static void prepare(Path dir) throws IOException {
        String key = "config key 'output.dir' is '" + dir + "'";
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new ConfigLoader.ConfigException(key + ", which is " + (Files.isRegularFile(dir) ? "a file" : "not a file")
                + ", not a directory");
        }
        for (Path p = dir.toAbsolutePath().getParent(); p != null; p = p.getParent()) {
            if (Files.exists(p)) {
                if (!Files.isDirectory(p)) {
                    throw new ConfigLoader.ConfigException(key + ", but " + p + " is not a directory");
                }
                break;
            }
        }
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw new ConfigLoader.ConfigException(key + ", but " + e.getFile() + " is not a directory");
        } catch (FileSystemException e) {
            throw new ConfigLoader.ConfigException(key + ", which cannot be created: "
                + reason(e) + (e.getFile() != null && !e.getFile().equals(dir.toString()) ? " (" + e.getFile() + ")" : ""));
        }
        Path probe;
        try {
            probe = Files.createTempFile(dir, ".lockstep-probe.", ".tmp");
        } catch (IOException e) {
            if (TempFiles.diskFull(e)) {
                throw diskFull(dir);
            }
            throw new ConfigLoader.ConfigException(key + ", which is not writable: " + reason(e));
        }
        Files.deleteIfExists(probe);
        if (Files.getFileStore(dir).getUsableSpace() < MIN_FREE_BYTES) {
            throw diskFull(dir);
        }
    }

    /**
     * What stands in the way of {@code dir} as output.dir, without creating anything (for
     * {@code lockstep doctor}): a message like those of {@link #prepare}, or null when it is (or can
     * be created as) a writable directory with space left.
     */
    public static String problem(Path dir) {
        String key = "config key 'output.dir' is '" + dir + "'";
        try {
            if (Files.exists(dir)) {
                if (!Files.isDirectory(dir)) {
                    return key + ", which is " + (Files.isRegularFile(dir) ? "a file" : "not a file") + ", not a directory";
                }
                Path probe;
                try {
                    probe = Files.createTempFile(dir, ".lockstep-probe.", ".tmp");
                } catch (IOException e) {
                    return TempFiles.diskFull(e) ? dir + ": the disk is full" : key + ", which is not writable: " + reason(e);
                }
                Files.deleteIfExists(probe);
            } else {
                Path p = dir.toAbsolutePath().getParent();
                while (p != null && !Files.exists(p)) {
                    p = p.getParent();
                }
                if (p == null) {
                    return key + ", which cannot be created: no existing parent directory";
                }
                if (!Files.isDirectory(p)) {
                    return key + ", but " + p + " is not a directory";
                }
                if (!Files.isWritable(p)) {
                    return key + ", which cannot be created: " + p + " is not writable";
                }
                dir = p;
            }
            long free = Files.getFileStore(dir).getUsableSpace();
            if (free < MIN_FREE_BYTES) {
                return dir + ": the disk is full (" + free / 1024 + " KiB free on " + Files.getFileStore(dir) + ")";
            }
            return null;
        } catch (IOException e) {
            return key + ": " + reason(e);
        }
    }

    private static IOException diskFull(Path dir) throws IOException {
        return new IOException(dir + ": the disk is full (" + Files.getFileStore(dir).getUsableSpace() / 1024
            + " KiB free on " + Files.getFileStore(dir) + "): free space there or set output.dir to another disk");
    }

    private static String reason(IOException e) {
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof FileSystemException fs && fs.getReason() != null) {
            return fs.getReason();
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /**
     * The run's metrics.jsonl log, written to a temporary file until {@link #writeSummary} moves it
     * into place (a resumed run, {@code append}, starts from a copy of the existing file).
     */
    public MetricsLog openMetrics(int stepsPerEpoch, int epochs, int logEvery, LongToDoubleFunction learningRate,
                                  boolean append) throws IOException {
        MetricsLog log = new MetricsLog(metrics(), stepsPerEpoch, epochs, logEvery, learningRate, append);
        synchronized (pending) {
            pending.add(log);
        }
        return log;
    }

    public void writeModel(Model net, DataNormalization normalizer) throws IOException {
        writeModel(net, normalizer, null);
    }

    /** As above, with Lockstep's {@link ModelMetadata} in the zip (null: none). */
    public void writeModel(Model net, DataNormalization normalizer, com.fasterxml.jackson.databind.JsonNode metadata)
        throws IOException {
        atomically(model(), tmp -> {
            ModelSerializer.writeModel(net, tmp.toFile(), false);
            if (normalizer != null) {
                // not writeModel(..., normalizer): with commons-io 2.16 (which Spark needs) it fails
                // closing a stream the normalizer serializer already closed
                ModelSerializer.addNormalizerToModel(tmp.toFile(), normalizer);
            }
            if (metadata != null) {
                ModelMetadata.write(tmp, metadata);
            }
        });
    }

    /**
     * Writes summary.json, the mark of a successful run: the summary goes to a temporary file,
     * then the metrics logs of {@link #openMetrics} are moved into place, then the summary.
     */
    public void writeSummary(String json) throws IOException {
        atomically(summary(), tmp -> {
            Files.writeString(tmp, json + "\n", StandardCharsets.UTF_8);
            synchronized (pending) {
                for (MetricsLog log : pending) {
                    log.commit();
                }
                pending.clear();
            }
        });
    }

    /** Removes the temporary files of metrics logs not committed (a failed run); the earlier files stay. */
    public void discard() {
        synchronized (pending) {
            pending.forEach(MetricsLog::discard);
            pending.clear();
        }
    }

    public interface Writer {
        void write(Path tmp) throws IOException;
    }

    /**
     * Writes {@code target} through {@code writer} into a temporary file beside it and renames that
     * into place; the temporary file is gone afterwards whatever happens. A full disk is reported
     * naming the file.
     */
    public static void atomically(Path target, Writer writer) throws IOException {
        Path tmp;
        try {
            tmp = TempFiles.create(target);
        } catch (IOException e) {
            throw TempFiles.explain(target, e);
        }
        try {
            writer.write(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | UncheckedIOException e) {
            throw TempFiles.explain(target, e);
        } catch (RuntimeException e) {
            if (TempFiles.diskFull(e)) {
                throw TempFiles.explain(target, e);
            }
            throw e;
        } finally {
            TempFiles.delete(tmp);
        }
    }
}
