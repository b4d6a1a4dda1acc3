package io.lockstep.driver.job;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.worker.listener.CheckpointListener.RunIdentity;
import org.apache.commons.codec.digest.DigestUtils;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What makes two runs the same training problem: the config keys that shape the model and the
 * data (task, loss, seed, model.*, data.* except the download switch). A checkpoint records them;
 * a resume with any of them changed is refused, naming the keys.
 */
final class RunIdentities {
    private static final ObjectMapper SNAKE = new ObjectMapper()
        .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
    private static final List<String> SHAPING = List.of("task", "loss", "seed", "model.", "data.");

    private RunIdentities() {
    }

    static RunIdentity of(JobConfig cfg, byte[] normalization) {
        Map<String, String> keys = new TreeMap<>();
        flatten("", SNAKE.valueToTree(cfg), keys);
        keys.keySet().removeIf(k -> SHAPING.stream().noneMatch(p -> p.endsWith(".") ? k.startsWith(p) : k.equals(p))
            || k.equals("data.download"));
        return new RunIdentity(DigestUtils.sha256Hex(keys.toString()), keys, normalization);
    }

    /** Java serialization of a small value (the feature scaling) for the checkpoint. */
    static byte[] bytes(java.io.Serializable value) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try (java.io.ObjectOutputStream o = new java.io.ObjectOutputStream(out)) {
            o.writeObject(value);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Fails naming every shaping key whose value differs between the checkpoint's run and this one. */
    static void requireSame(Map<String, String> checkpoint, Map<String, String> now, String checkpointName) {
        List<String> changed = new ArrayList<>();
        for (String key : new TreeSet<>(union(checkpoint, now))) {
            String was = checkpoint.get(key);
            String is = now.get(key);
            if (!Objects.equals(was, is)) {
                changed.add(key + " (was " + was + ", now " + is + ")");
            }
        }
        if (!changed.isEmpty()) {
            throw new ConfigLoader.ConfigException("cannot resume from " + checkpointName
                + ": the config changed keys that shape the model or the data: " + String.join(", ", changed));
        }
    }

    private static TreeSet<String> union(Map<String, String> a, Map<String, String> b) {
        TreeSet<String> all = new TreeSet<>(a.keySet());
        all.addAll(b.keySet());
        return all;
    }

    private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
        if (node.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), out);
            }
        } else if (!node.isNull()) {
            out.put(prefix, node.isTextual() ? node.asText() : node.toString());
        }
    }
}
