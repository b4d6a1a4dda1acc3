package io.lockstep.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;

import java.io.Serializable;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * An immutable, validated training configuration for the Java API: the same keys as a job YAML
 * (see the README), checked once when built. Fill it from a YAML file, from code, or both:
 *
 * <pre>{@code
 * TrainingConfig config = TrainingConfig.builder()
 *     .set("task", "classification").set("workers", 2).set("epochs", 5)
 *     .set("model.hidden", List.of(64, 32)).set("optimizer.lr", 0.01)
 *     .set("data.label_column", "label").set("early_stopping.metric", "loss")
 *     .build();
 * }</pre>
 */
public final class TrainingConfig implements Serializable {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final String json; // the validated key tree; every accessor works on a fresh copy

    private TrainingConfig(ObjectNode tree) {
        this.json = tree.toString();
    }

    public static Builder builder() {
        return new Builder(JsonNodeFactory.instance.objectNode());
    }

    /** A job YAML (its data.* file keys are not needed when the data comes as datasets), then {@code key=value} overrides. */
    public static TrainingConfig fromYaml(Path file, String... overrides) {
        Builder b = new Builder(ConfigLoader.readTree(file));
        for (String o : overrides) {
            int eq = o.indexOf('=');
            if (eq <= 0) {
                throw new ConfigLoader.ConfigException("override must be key=value, got '" + o + "'");
            }
            b.setYaml(o.substring(0, eq), o.substring(eq + 1));
        }
        return b.build();
    }

    /** A builder starting from this configuration. */
    public Builder toBuilder() {
        return new Builder(tree());
    }

    /** The bound configuration, a fresh mutable copy on every call (this object never changes). */
    public JobConfig toJobConfig() {
        return ConfigLoader.bind(tree(), List.of(), "TrainingConfig", false);
    }

    private ObjectNode tree() {
        try {
            return (ObjectNode) MAPPER.readTree(json);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public String toString() {
        return json;
    }

    /** Collects keys, then validates them all at once in {@link #build()}. */
    public static final class Builder {
        private final ObjectNode tree;

        private Builder(ObjectNode tree) {
            this.tree = tree;
        }

        /** Sets a dotted config key ({@code optimizer.lr}, {@code model.hidden}) to a value (number, string, list, boolean). */
        public Builder set(String key, Object value) {
            JsonNode node = MAPPER.valueToTree(value);
            ObjectNode parent = tree;
            String[] parts = key.split("\\.");
            for (int i = 0; i < parts.length - 1; i++) {
                JsonNode child = parent.get(parts[i]);
                parent = child != null && child.isObject() ? (ObjectNode) child : parent.putObject(parts[i]);
            }
            parent.set(parts[parts.length - 1], node);
            return this;
        }

        Builder setYaml(String key, String yamlValue) {
            ConfigLoader.apply(tree, key + "=" + yamlValue);
            return this;
        }

        public Builder hidden(Integer... widths) {
            return set("model.hidden", Arrays.asList(widths));
        }

        public TrainingConfig build() {
            if (!tree.has("data") || !tree.get("data").has("format")) {
                set("data.format", "parquet"); // datasets are read by column, as Parquet files are
            }
            ConfigLoader.bind(tree.deepCopy(), List.of(), "TrainingConfig", false); // validates every key once
            return new TrainingConfig(tree.deepCopy());
        }
    }
}
