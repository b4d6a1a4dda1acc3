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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * Reads a job YAML, applies {@code --set key=value} overrides (old key names renamed, with a warning), binds the
 * keys to a typed {@link JobConfig} and checks it by {@link ConfigRules}.
 */
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

    /** {@code config}, checked by the rules a YAML file is: configs built in code get the same messages. */
    public static JobConfig checked(JobConfig config, boolean withFiles) {
        ConfigRules.validate(config, withFiles);
        return config;
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
        ConfigRules.validate(config, withFiles);
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

    /** Every key at its default, read once from {@code defaults.yaml}. */
    private static final ObjectNode DEFAULTS = defaultsTree();

    private static ObjectNode defaultsTree() {
        try (var in = ConfigLoader.class.getResourceAsStream("defaults.yaml")) {
            return (ObjectNode) YAML.readTree(in);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("io/lockstep/driver/config/defaults.yaml is missing from the classpath", e);
        }
    }

    static JobConfig defaults() {
        return toConfig(DEFAULTS.deepCopy(), "defaults.yaml");
    }

    /** A copy of {@code config} with {@code key} (dotted, as in --set) set to {@code value}, bound without the rules. */
    static JobConfig with(JobConfig config, String key, Object value) {
        ObjectNode tree = toTree(config);
        set(tree, key, YAML.valueToTree(value));
        return toConfig(tree, "config");
    }

    static JobConfig.Data with(JobConfig.Data data, String key, Object value) {
        return with(defaults().with("data", data), key, value).data();
    }

    /** A copy of {@code config} with {@code key=value} overrides, bound without the rules. */
    static JobConfig with(JobConfig config, List<String> overrides) {
        return with(config, overrides, "config");
    }

    /** As {@link #with(JobConfig, List)}, errors naming {@code source} (what the overrides came from). */
    public static JobConfig with(JobConfig config, List<String> overrides, String source) {
        return read(toTree(config), overrides, source);
    }

    /** Binds the keys of {@code tree} laid over every key's default. */
    private static JobConfig toConfig(ObjectNode tree, String source) {
        JobConfig config;
        try {
            config = YAML.treeToValue(overDefaults(DEFAULTS.deepCopy(), tree), JobConfig.class);
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

    /** {@code given} laid over {@code base}: sections merge key by key, any other value replaces. */
    private static ObjectNode overDefaults(ObjectNode base, ObjectNode given) {
        given.fields().forEachRemaining(e -> {
            JsonNode under = base.get(e.getKey());
            boolean section = under instanceof ObjectNode && e.getValue() instanceof ObjectNode
                && !"conf".equals(e.getKey()); // spark.conf is a map: the given one is the whole map
            base.set(e.getKey(), section ? overDefaults((ObjectNode) under, (ObjectNode) e.getValue()) : e.getValue());
        });
        return base;
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
        set(tree, keys, value);
    }

    private static void set(ObjectNode tree, String key, JsonNode value) {
        if (RENAMED.containsKey(key)) {
            throw new ConfigException("config key '" + key + "' is now '" + RENAMED.get(key) + "'");
        }
        set(tree, splitKey(key), value);
    }

    private static void set(ObjectNode tree, String[] keys, JsonNode value) {
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

    /** A config problem, reported as one line naming the key. */
    public static final class ConfigException extends IllegalArgumentException {
        public ConfigException(String message) {
            super(message);
        }
    }
}
