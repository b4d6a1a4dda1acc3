package io.lockstep.driver.config;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The README's job-config tables name exactly the keys a config has (every default in defaults.yaml). */
class ConfigReferenceTest {
    @Test
    void theReadmeDocumentsEveryKeyAndNoOther() throws IOException {
        Set<String> keys = new TreeSet<>();
        leaves(ConfigLoader.toTree(JobConfig.defaults()), "", keys);
        assertEquals(keys, documented(Files.readAllLines(Path.of("..", "README.md"))),
            "README.md's Job config tables against the config's keys");
    }

    private static void leaves(JsonNode node, String prefix, Set<String> out) {
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String key = prefix + e.getKey();
            if (e.getValue().isObject() && !key.equals("spark.conf")) { // spark.conf is a map of Spark settings
                leaves(e.getValue(), key + ".", out);
            } else {
                out.add(key);
            }
        }
    }

    /** First-cell keys of the table rows under "## Job config"; {@code beta2} after {@code optimizer.beta1} is optimizer's. */
    private static Set<String> documented(List<String> readme) {
        Set<String> keys = new TreeSet<>();
        boolean inSection = false;
        Pattern code = Pattern.compile("`([a-z0-9_.]+)`");
        for (String line : readme) {
            if (line.startsWith("## ")) {
                inSection = line.equals("## Job config");
            }
            if (!inSection || !line.startsWith("| `")) {
                continue;
            }
            String cell = line.substring(1, line.indexOf('|', 1));
            String section = null;
            for (Matcher m = code.matcher(cell); m.find(); ) {
                String key = m.group(1);
                if (section == null) {
                    section = key.contains(".") ? key.substring(0, key.lastIndexOf('.') + 1) : "";
                } else if (!key.contains(".")) {
                    key = section + key;
                }
                keys.add(key);
            }
        }
        return keys;
    }
}
