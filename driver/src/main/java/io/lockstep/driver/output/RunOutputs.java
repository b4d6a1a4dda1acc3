package io.lockstep.driver.output;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Files of a run. Each final file is written beside its destination under a temporary name
 * and renamed into place, so a crash never leaves a half-written model or summary behind and a
 * good file from an earlier run is only replaced by a complete one.
 */
public final class RunOutputs {
    private final Path dir;

    public RunOutputs(Path dir) throws IOException {
        this.dir = dir;
        Files.createDirectories(dir);
    }

    public Path dir() { return dir; }
    public Path model() { return dir.resolve("model.zip"); }
    public Path metrics() { return dir.resolve("metrics.jsonl"); }
    Path summary() { return dir.resolve("summary.json"); }

    public void writeModel(Model net, DataNormalization normalizer) throws IOException {
        atomically(model(), tmp -> {
            ModelSerializer.writeModel(net, tmp.toFile(), false);
            if (normalizer != null) {
                // not writeModel(..., normalizer): with commons-io 2.16 (which Spark needs) it fails
                // closing a stream the normalizer serializer already closed
                ModelSerializer.addNormalizerToModel(tmp.toFile(), normalizer);
            }
        });
    }

    public void writeSummary(String json) throws IOException {
        atomically(summary(), tmp -> Files.writeString(tmp, json + "\n", StandardCharsets.UTF_8));
    }

    public interface Writer {
        void write(Path tmp) throws IOException;
    }

    public static void atomically(Path target, Writer writer) throws IOException {
        Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
        try {
            writer.write(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
