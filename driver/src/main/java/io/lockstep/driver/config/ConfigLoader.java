package io.lockstep.driver.config;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonStreamContext;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.lockstep.driver.data.Task;
import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.worker.model.Models;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/** Reads a job YAML, applies {@code --set key=value} overrides, binds and validates it. */
public final class ConfigLoader {
    /**
     * Strict binding: unknown keys, nulls for numbers, a key given twice and fractions for integer
     * keys ({@code workers: 1.7} would otherwise run 1 worker) are all errors.
     */
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION))
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
        .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
        .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
        .registerModule(ConfigTypes.module());

    /**
     * Most classes a classification job may have ({@code data.classes}, and the largest class index
     * + 1 a label may name): labels are stored one-hot, one float per class per row, and the output
     * layer has a column per class.
     */
    public static final int MAX_CLASSES = 100_000;

    /**
     * Most parameter-server shards: each is a server thread, two UDP ports and, in every media
     * driver, (workers + 1) log buffers of 3 x ps.term_length in /dev/shm, and every worker connects
     * to every shard before the first step (measured on 2 cores: 64 shards start in ~3 s, 256 in
     * ~20 s and train 10x slower).
     */
    public static final int MAX_SHARDS = 64;

    /** Keys renamed so each says what it places; the old names work, with a warning, for one release. */
    static final Map<String, String> RENAMED = Map.of(
        "ps.placement", "ps.shard_placement",
        "optimizer.placement", "optimizer.step_placement");

    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private ConfigLoader() {
    }

    public static JobConfig load(Path file, List<String> overrides) {
        return bind(readTree(file), overrides, file.toString(), true);
    }

    /**
     * A validated private copy of {@code config}: what a run reads, whatever its caller changes
     * afterwards. Configs built in code are checked by the same rules as YAML files.
     */
    public static JobConfig snapshot(JobConfig config, boolean withFiles) {
        return bind(toTree(config), List.of(), "config", withFiles);
    }

    /** The YAML file as a tree of config keys (an empty mapping for an empty file). */
    public static ObjectNode readTree(Path file) {
        JsonNode tree;
        try {
            tree = YAML.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ConfigException("config file not found: " + file);
        } catch (JsonParseException e) {
            String duplicate = duplicateKey(e);
            if (duplicate != null) {
                throw new ConfigException(file + ": line " + e.getLocation().getLineNr() + ", column "
                    + e.getLocation().getColumnNr() + ": config key '" + duplicate + "' is given twice");
            }
            throw new ConfigException(file + ": not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        } catch (IOException e) {
            throw new ConfigException(file + ": not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (tree == null || tree.isMissingNode() || tree.isNull()) {
            tree = JsonNodeFactory.instance.objectNode();
        }
        if (!tree.isObject()) {
            throw new ConfigException(file + ": expected a mapping of config keys at the top level");
        }
        return (ObjectNode) tree;
    }

    static JobConfig bind(ObjectNode tree, List<String> overrides, String source) {
        return bind(tree, overrides, source, true);
    }

    /**
     * Binds and validates a config tree; {@code withFiles = false} for jobs whose data comes as Spark
     * datasets (the Java API), where data.train and data.test name nothing.
     */
    public static JobConfig bind(ObjectNode tree, List<String> overrides, String source, boolean withFiles) {
        JobConfig config = read(tree, overrides, source);
        validate(config, withFiles);
        return config;
    }

    /**
     * Binds a config tree and its overrides, old key names renamed (each warned once), without the rules:
     * what a builder starts from before it sets more keys.
     */
    public static JobConfig read(ObjectNode tree, List<String> overrides, String source) {
        Set<String> renamed = new TreeSet<>();
        renameOldKeys(tree, source, renamed);
        for (String override : overrides) {
            apply(tree, override, renamed);
        }
        renamed.forEach(old -> LOG.warn("config key '{}' is now '{}'; the old name works for this release only",
            old, RENAMED.get(old)));
        return toConfig(tree, source);
    }

    private static JobConfig toConfig(ObjectNode tree, String source) {
        JobConfig config;
        try {
            config = YAML.treeToValue(tree, JobConfig.class);
        } catch (UnrecognizedPropertyException e) {
            throw new ConfigException(source + ": unknown config key '" + path(e) + "'");
        } catch (InvalidFormatException e) {
            if (e.getValue() instanceof Number n && isInteger(e.getTargetType())) {
                throw new ConfigException(source + ": config key '" + path(e) + "' must be a whole number, got " + n);
            }
            throw new ConfigException(source + ": config key '" + path(e) + "': "
                + e.getOriginalMessage().lines().findFirst().orElse("invalid value"));
        } catch (JsonMappingException e) {
            IllegalArgumentException rule = ruleBroken(e);
            if (rule != null) { // a typed value's own parse rule (ps.wire, task, ...): its message, under its key
                throw new ConfigException(source + ": " + keyed(path(e), rule.getMessage()));
            }
            if (e instanceof com.fasterxml.jackson.databind.exc.ValueInstantiationException) {
                // a config type's own check (e.g. data.label_column): its message without Jackson's preamble
                throw new ConfigException(source + ": config key '" + path(e) + "': "
                    + (e.getCause() != null ? e.getCause().getMessage() : e.getOriginalMessage()));
            }
            throw new ConfigException(source + ": config key '" + path(e) + "': "
                + e.getOriginalMessage().lines().findFirst().orElse("invalid value"));
        } catch (JsonProcessingException e) {
            throw new ConfigException(source + ": " + e.getOriginalMessage());
        }
        return config;
    }

    /** The tree of a config's keys and values, as a YAML file would give them (the names of the current release). */
    public static ObjectNode toTree(JobConfig config) {
        return YAML.valueToTree(config);
    }

    /** Moves each old-named key of {@code tree} to its new name, noting the old names in {@code renamed}. */
    private static void renameOldKeys(ObjectNode tree, String source, Set<String> renamed) {
        RENAMED.forEach((old, now) -> {
            String[] o = old.split("\\."), n = now.split("\\.");
            JsonNode section = tree.get(o[0]);
            if (section instanceof ObjectNode parent && parent.has(o[1])) {
                if (parent.has(n[1])) {
                    throw new ConfigException(source + ": config keys '" + old + "' and '" + now + "' are both set; '"
                        + old + "' is the old name of '" + now + "': keep that one");
                }
                parent.set(n[1], parent.remove(o[1]));
                renamed.add(old);
            }
        });
    }

    /** Applies one {@code a.b.c=value} override; the value is read as YAML (numbers, lists, ...). */
    public static void apply(ObjectNode tree, String override) {
        Set<String> renamed = new TreeSet<>();
        apply(tree, override, renamed);
        renamed.forEach(old -> LOG.warn("config key '{}' is now '{}'; the old name works for this release only",
            old, RENAMED.get(old)));
    }

    private static void apply(ObjectNode tree, String override, Set<String> renamed) {
        int eq = override.indexOf('=');
        if (eq <= 0) {
            throw new ConfigException("--set expects key=value, got '" + override + "'");
        }
        String key = override.substring(0, eq).trim();
        if (RENAMED.containsKey(key)) {
            renamed.add(key);
            key = RENAMED.get(key);
        }
        String[] keys = splitKey(key);
        String raw = override.substring(eq + 1);
        JsonNode value;
        try {
            value = raw.isEmpty() ? TextNode.valueOf("") : YAML.readTree(raw);
        } catch (IOException e) {
            value = TextNode.valueOf(raw);
        }
        if (value == null || value.isMissingNode()) {
            value = TextNode.valueOf(raw);
        }
        ObjectNode node = tree;
        for (int i = 0; i < keys.length - 1; i++) {
            JsonNode child = node.get(keys[i]);
            if (child == null || !child.isObject()) {
                child = node.putObject(keys[i]);
            }
            node = (ObjectNode) child;
        }
        node.set(keys[keys.length - 1], value);
    }

    /** Splits a.b.c; keys under spark.conf are Spark setting names that contain dots themselves. */
    private static String[] splitKey(String key) {
        String mapPrefix = "spark.conf.";
        if (key.startsWith(mapPrefix) && key.length() > mapPrefix.length()) {
            return new String[]{"spark", "conf", key.substring(mapPrefix.length())};
        }
        return key.split("\\.");
    }

    /** The dotted key of a "Duplicate field" parse error (the parser's context names it), else null. */
    private static String duplicateKey(JsonParseException e) {
        if (e.getOriginalMessage() == null || !e.getOriginalMessage().startsWith("Duplicate field")
            || e.getProcessor() == null) {
            return null;
        }
        JsonParser parser = e.getProcessor();
        List<String> names = new ArrayList<>();
        for (JsonStreamContext c = parser.getParsingContext(); c != null; c = c.getParent()) {
            if (c.getCurrentName() != null) {
                names.add(c.getCurrentName());
            } else if (c.inArray()) {
                names.add("[" + c.getCurrentIndex() + "]");
            }
        }
        Collections.reverse(names);
        return String.join(".", names).replace(".[", "[");
    }

    private static boolean isInteger(Class<?> type) {
        return type == int.class || type == Integer.class || type == long.class || type == Long.class
            || type == short.class || type == Short.class || type == byte.class || type == Byte.class;
    }

    private static String path(JsonMappingException e) {
        return e.getPath().stream()
            .map(ref -> ref.getFieldName() != null ? ref.getFieldName() : "[" + ref.getIndex() + "]")
            .collect(Collectors.joining(".")).replace(".[", "[");
    }

    static void validate(JobConfig c) {
        validate(c, true);
    }

    static void validate(JobConfig c, boolean withFiles) {
        requireFinite(c, "");
        requireChosen(c);
        require(c.workers >= 1, "workers", "must be >= 1, got " + c.workers);
        require(c.batchSize >= 1, "batch_size", "must be >= 1, got " + c.batchSize);
        require(c.epochs >= 1, "epochs", "must be >= 1, got " + c.epochs);
        require(c.logEvery >= 1, "log_every", "must be >= 1, got " + c.logEvery);
        require(c.ps.shards >= 1, "ps.shards", "must be >= 1, got " + c.ps.shards);
        require(c.ps.shards <= MAX_SHARDS, "ps.shards", "must be <= " + MAX_SHARDS + ", got " + c.ps.shards
            + ": each shard is a server thread, 2 UDP ports and (workers + 1) log buffers of 3 x ps.term_length"
            + " in /dev/shm per media driver, and every worker connects to every shard before the first step"
            + " (256 shards take ~20 s to start on 2 cores)");
        require(c.ps.timeoutSeconds >= 1, "ps.timeout_seconds", "must be >= 1, got " + c.ps.timeoutSeconds);
        String mtu = ExchangeRules.mtuProblem(c.ps.mtu);
        require(mtu == null, "ps.mtu", mtu);
        // an Aeron frame of up to one MTU must fit in a message, and messages are at most term / 8
        require(Integer.bitCount(c.ps.termLength) == 1 && c.ps.termLength >= 8L * c.ps.mtu, "ps.term_length",
            "must be a power of two >= 8 x ps.mtu (" + 8L * c.ps.mtu + "), got " + c.ps.termLength);
        if (c.ps.shardPlacement == ShardPlacement.EXECUTORS && c.ps.transport == Transport.IPC) {
            throw new ConfigException("config key 'ps.shard_placement' is executors, but "
                + ExchangeRules.executorShardsProblem(ExchangeSpec.Transport.IPC) + " (ps.transport)");
        }
        validateData(c.data, c.task);
        require(!withFiles || c.data.train != null, "data.train", "is required");
        require(!withFiles || c.data.test != null, "data.test", "is required");
        require(c.output.dir != null && !c.output.dir.isBlank(), "output.dir", "is required");
        require(c.recovery.maxAttempts >= 1, "recovery.max_attempts", "must be >= 1, got "
            + c.recovery.maxAttempts);
        require(c.accumulateSteps >= 1, "accumulate_steps", "must be >= 1, got " + c.accumulateSteps);
        Specs.optimizer(c.optimizer);
        Specs.model(c.model); // model.type and what each type needs: ModelSpec's rules
        Specs.clipping(c.clipping);
        require(c.checkpoint.keep >= 1, "checkpoint.keep", "must be >= 1, got " + c.checkpoint.keep);
        require(c.earlyStopping.patience >= 1, "early_stopping.patience", "must be >= 1, got "
            + c.earlyStopping.patience);
        require(c.earlyStopping.minDelta >= 0, "early_stopping.min_delta", "must be >= 0, got "
            + c.earlyStopping.minDelta);
        require(!"latest".equalsIgnoreCase(c.resume) || c.checkpoint.dir != null, "resume",
            "is latest but checkpoint.dir is not set");
        try {
            if (c.loss != null) {
                Models.loss(c.loss);
            }
            Models.activation(c.model.activation);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(e.getMessage());
        }
    }

    /** The choices a config cannot leave empty ({@code ps.wire: ~} binds null): each typed key has a value. */
    private static void requireChosen(JobConfig c) {
        Object[][] chosen = {
            {"task", c.task}, {"optimizer.type", c.optimizer.type}, {"on_non_finite", c.onNonFinite}, {"ps.transport", c.ps.transport},
            {"ps.shard_placement", c.ps.shardPlacement}, {"ps.wire", c.ps.wire},
            {"optimizer.step_placement", c.optimizer.stepPlacement}, {"validation.every", c.validation.every},
            {"checkpoint.every", c.checkpoint.every},
        };
        for (Object[] keyValue : chosen) {
            require(keyValue[1] != null, (String) keyValue[0], "is required");
        }
    }

    /** The data.* keys on their own and against data.format and the task (train/test presence aside). */
    public static void validateData(JobConfig.Data d, Task task) {
        require(d.format != null, "data.format", "is required");
        require(d.normalize != null, "data.normalize", "is required");
        if (d.download != null) {
            oneOf("data.download", d.download, "mnist");
        }
        DataFormat format = d.format;
        if (d.validation != null && d.validationFraction != null) {
            throw new ConfigException("config keys 'data.validation' and 'data.validation_fraction' are both set;"
                + " use one of them");
        }
        if (d.validationFraction != null) {
            double f = d.validationFraction;
            require(f > 0 && f < 1, "data.validation_fraction", "must be > 0 and < 1, got " + f);
        }
        if (d.labelColumn != null) {
            require(format != DataFormat.IDX && format != DataFormat.LIBSVM, "data.label_column",
                "does not apply to data.format " + format + " (the label is part of the format)");
            require(format != DataFormat.PARQUET || !d.labelColumn.isIndex(), "data.label_column",
                "must be a column name for data.format parquet, got " + d.labelColumn);
            require(format != DataFormat.CSV || d.labelColumn.isIndex() || d.header, "data.label_column",
                "is a column name ('" + d.labelColumn + "'), which needs data.header: true for csv");
        }
        require(d.featuresColumn == null || format == DataFormat.PARQUET, "data.features_column",
            "applies to data.format parquet only");
        require(d.featureColumns == null || format == DataFormat.PARQUET, "data.feature_columns",
            "applies to data.format parquet only");
        if (d.featuresColumn != null && d.featureColumns != null) {
            throw new ConfigException("config keys 'data.features_column' and 'data.feature_columns' are both set;"
                + " use one of them");
        }
        if (d.featureColumns != null) {
            require(!d.featureColumns.isEmpty(), "data.feature_columns", "must name at least one column");
            require(d.featureColumns.stream().distinct().count() == d.featureColumns.size(),
                "data.feature_columns", "names a column twice: " + d.featureColumns);
            require(d.labelColumn == null || !d.featureColumns.contains(d.labelColumn.name()),
                "data.feature_columns", "contains the label column '" + d.labelColumn + "'");
        }
        if (d.features != null) {
            require(format == DataFormat.LIBSVM, "data.features", "applies to data.format libsvm only");
            require(d.features >= 1, "data.features", "must be >= 1, got " + d.features);
        }
        if (d.classes != null) {
            require(d.classes >= 2 && d.classes <= MAX_CLASSES, "data.classes", "must be >= 2 and <= "
                + MAX_CLASSES + " (labels are stored one-hot, one float per class per row), got " + d.classes);
            require(task == Task.CLASSIFICATION || task == Task.BINARY && d.classes == 2, "data.classes",
                "applies to task classification only (task is " + task.key() + ")");
        }
    }

    /**
     * Every number-valued key (double fields of the config and its sections, found by reflection, so
     * new keys are covered) must be finite: {@code optimizer.lr: 1e400} reads as Infinity.
     */
    private static void requireFinite(Object section, String prefix) {
        PropertyNamingStrategies.NamingBase snake = (PropertyNamingStrategies.NamingBase) PropertyNamingStrategies.SNAKE_CASE;
        for (Field f : section.getClass().getFields()) {
            if (Modifier.isStatic(f.getModifiers())) {
                continue;
            }
            Object value;
            try {
                value = f.get(section);
            } catch (IllegalAccessException e) {
                continue;
            }
            String key = prefix + snake.translate(f.getName());
            if (value instanceof Double d && !Double.isFinite(d)) {
                throw new ConfigException("config key '" + key + "' must be a finite number, got " + d
                    + (d.isInfinite() ? " (the value is too large for a double)" : ""));
            }
            if (value != null && f.getType().getEnclosingClass() == JobConfig.class) {
                requireFinite(value, key + ".");
            }
        }
    }

    private static void oneOf(String key, String value, String... allowed) {
        require(value != null && List.of(allowed).contains(value.toLowerCase(Locale.ROOT)), key,
            "must be one of " + String.join(", ", allowed) + ", got '" + value + "'");
    }

    /** A rule's message under its key; messages of the worker's specs already start with their key. */
    static String keyed(String key, String message) {
        return message.startsWith(key) ? message : "config key '" + key + "' " + message;
    }

    /** The parse rule a typed value broke while binding (not a config type's own shape check), else null. */
    private static IllegalArgumentException ruleBroken(JsonMappingException e) {
        if (e instanceof com.fasterxml.jackson.databind.exc.ValueInstantiationException v
            && (v.getType() == null || !v.getType().isEnumType())) {
            return null;
        }
        for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException rule) {
                return rule;
            }
        }
        return null;
    }

    private static void require(boolean ok, String key, String message) {
        if (!ok) {
            throw new ConfigException("config key '" + key + "' " + message);
        }
    }

    /** A config problem, reported as one line naming the key. */
    public static final class ConfigException extends IllegalArgumentException {
        public ConfigException(String message) {
            super(message);
        }
    }
}
