package io.lockstep.driver.output;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.data.FeatureScaling;

import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a trained model was trained as, stored in its {@code model.zip} as {@code lockstep.json} beside DL4J's own
 * entries (which DL4J's readers ignore): Lockstep's version, the data's shape (features, outputs, classes, the
 * normalization saved with the model), the whole job config and the run's summary (steps, epochs, metrics,
 * attempts). Read back by {@code lockstep inspect} and by whatever scores with the model.
 */
public final class ModelMetadata {
    /** The zip entry. */
    public static final String ENTRY = "lockstep.json";
    public static final String VERSION = "0.1.0";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ModelMetadata() {
    }

    /** The metadata as one JSON object. */
    public static ObjectNode of(int features, int outputs, int classes, FeatureScaling scaling, JsonNode config,
                                Map<String, Object> summary) {
        ObjectNode m = JSON.createObjectNode();
        m.put("lockstep_version", VERSION);
        m.put("features", features);
        m.put("outputs", outputs);
        m.put("classes", classes);
        m.put("normalization", scaling.kind());
        ObjectNode s = m.putObject("scaling"); // exactly what training applied, for scoring
        s.put("kind", scaling.kind());
        s.set("a", JSON.valueToTree(scaling.a()));
        s.set("b", JSON.valueToTree(scaling.b()));
        m.set("config", redacted(config));
        m.set("summary", JSON.valueToTree(summary));
        return m;
    }

    /** Credentials a job's Spark settings may carry (s3a keys, tokens) are not written into a model. */
    static final java.util.regex.Pattern SECRET = java.util.regex.Pattern.compile(
        "(?i).*(secret|password|token|credential|access\\.key|secret\\.key|session\\.key).*");

    private static JsonNode redacted(JsonNode config) {
        JsonNode copy = config.deepCopy();
        JsonNode conf = copy.path("spark").path("conf");
        if (conf instanceof ObjectNode settings) {
            java.util.List<String> names = new java.util.ArrayList<>();
            settings.fieldNames().forEachRemaining(names::add);
            for (String k : names) {
                if (SECRET.matcher(k).matches()) {
                    settings.put(k, "[redacted]");
                }
            }
        }
        return copy;
    }

    /** The feature scaling the model was trained with, as {@link #of} stored it. */
    public static FeatureScaling scaling(JsonNode metadata) {
        JsonNode s = metadata.path("scaling");
        try {
            return new FeatureScaling(s.path("kind").asText(), JSON.treeToValue(s.path("a"), float[].class),
                JSON.treeToValue(s.path("b"), float[].class));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException("lockstep.json: unreadable scaling: " + e.getOriginalMessage(), e);
        }
    }

    /** Adds (or replaces) {@link #ENTRY} in the zip at {@code model}. */
    public static void write(Path model, JsonNode metadata) throws IOException {
        try (FileSystem zip = FileSystems.newFileSystem(URI.create("jar:" + model.toUri()), Map.of())) {
            Files.writeString(zip.getPath(ENTRY), JSON.writeValueAsString(metadata) + "\n", StandardCharsets.UTF_8);
        }
    }

    /** The metadata of the model at {@code model}, or null for a model written without it (by DL4J alone). */
    public static JsonNode read(Path model) throws IOException {
        try (FileSystem zip = FileSystems.newFileSystem(URI.create("jar:" + model.toUri()), Map.of())) {
            Path entry = zip.getPath(ENTRY);
            return Files.exists(entry) ? JSON.readTree(Files.readString(entry, StandardCharsets.UTF_8)) : null;
        }
    }
}
