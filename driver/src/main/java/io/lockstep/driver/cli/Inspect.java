package io.lockstep.driver.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.output.HadoopCheckpointStore;
import io.lockstep.driver.output.ModelMetadata;
import io.lockstep.worker.checkpoint.Checkpoint;
import io.lockstep.worker.model.FineTune;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.dataset.api.preprocessor.DataNormalization;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerMinMaxScaler;
import org.nd4j.linalg.dataset.api.preprocessor.NormalizerStandardize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Date;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.zip.ZipFile;

/**
 * {@code lockstep inspect PATH}: what a model ({@code model.zip}) or a checkpoint ({@code *.lsck}) holds: the
 * architecture (layer by layer), the parameter count, the normalization saved with it, and how it was trained
 * (Lockstep's version, the config, step, epoch, metrics), as text or JSON.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
    description = "Show what a model.zip or a checkpoint (.lsck) holds: architecture, parameters, normalization,"
        + " and how it was trained.")
public final class Inspect implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Parameters(index = "0", paramLabel = "PATH", description = "a model.zip or a checkpoint file")
    Path path;

    @Option(names = "--json", description = "one JSON object instead of text")
    boolean json;

    @Override
    public Integer call() throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(path + ": no such file");
        }
        ObjectNode report = isZip(path) ? model(path) : checkpoint(path);
        System.out.print(json ? JSON.writeValueAsString(report) + "\n" : text(report));
        return 0;
    }

    private static boolean isZip(Path p) throws IOException {
        try (InputStream in = Files.newInputStream(p)) {
            byte[] head = in.readNBytes(4);
            return head.length == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
        }
    }

    /** A model.zip: DL4J's network and normalizer, and Lockstep's metadata where it has some. */
    static ObjectNode model(Path p) throws IOException {
        ObjectNode r = JSON.createObjectNode();
        r.put("path", p.toString());
        r.put("kind", "model");
        try (ZipFile zip = new ZipFile(p.toFile())) {
            if (zip.getEntry("configuration.json") == null) {
                throw new IllegalArgumentException(p + ": a zip but no DL4J model (no configuration.json in it)");
            }
        }
        Model net = FineTune.restore(p.toString(), "PATH");
        r.put("model_class", net instanceof ComputationGraph ? "ComputationGraph" : "MultiLayerNetwork");
        r.put("parameters", net.numParams());
        r.set("layers", layers(net));
        DataNormalization normalizer = ModelSerializer.restoreNormalizerFromFile(p.toFile());
        r.set("normalization", normalization(normalizer));
        JsonNode metadata = ModelMetadata.read(p);
        if (metadata != null) {
            r.set("lockstep", metadata);
        }
        return r;
    }

    /** A checkpoint: where the run was, the keys that shaped it, its parameter and optimizer-state sizes. */
    static ObjectNode checkpoint(Path p) throws IOException {
        Checkpoint c;
        try {
            c = HadoopCheckpointStore.read(p.toAbsolutePath().toString());
        } catch (IOException e) {
            throw new IllegalArgumentException(p + ": neither a model.zip nor a readable checkpoint: " + e.getMessage(), e);
        }
        ObjectNode r = JSON.createObjectNode();
        r.put("path", p.toString());
        r.put("kind", "checkpoint");
        r.put("step", c.step());
        r.put("epoch", c.epoch());
        r.put("step_in_epoch", c.stepInEpoch());
        r.put("seed", c.seed());
        r.put("parameters", c.params().length);
        r.put("optimizer_state_values", c.updaterState().length);
        r.put("normalization_bytes", c.normalization().length);
        r.put("written", new Date(c.createdMillis()).toInstant().toString());
        r.put("config_digest", c.configDigest());
        ObjectNode keys = r.putObject("config");
        c.configKeys().forEach(keys::put);
        return r;
    }

    private static ArrayNode layers(Model net) {
        ArrayNode out = JSON.createArrayNode();
        Layer[] layers = net instanceof MultiLayerNetwork m ? m.getLayers() : ((ComputationGraph) net).getLayers();
        for (Layer l : layers) {
            ObjectNode o = out.addObject();
            org.deeplearning4j.nn.conf.layers.Layer conf = l.conf().getLayer();
            o.put("name", conf.getLayerName() == null ? "layer " + l.getIndex() : conf.getLayerName());
            o.put("type", conf.getClass().getSimpleName());
            if (conf instanceof org.deeplearning4j.nn.conf.layers.FeedForwardLayer ff) {
                o.put("inputs", ff.getNIn());
                o.put("outputs", ff.getNOut());
            }
            if (conf instanceof org.deeplearning4j.nn.conf.layers.BaseLayer base && base.getActivationFn() != null) {
                o.put("activation", base.getActivationFn().toString());
            }
            o.put("parameters", l.numParams());
        }
        return out;
    }

    private static JsonNode normalization(DataNormalization n) {
        ObjectNode o = JSON.createObjectNode();
        if (n == null) {
            o.put("kind", "none");
        } else if (n instanceof NormalizerStandardize s) {
            o.put("kind", "standardize");
            o.put("features", s.getMean().length());
        } else if (n instanceof NormalizerMinMaxScaler m) {
            o.put("kind", "minmax");
            o.put("features", m.getMin().length());
        } else {
            o.put("kind", n.getClass().getSimpleName());
        }
        return o;
    }

    /** The report as lines of text: the model or checkpoint, then how it was trained. */
    static String text(ObjectNode r) {
        StringBuilder sb = new StringBuilder();
        sb.append(r.get("kind").asText()).append(' ').append(r.get("path").asText()).append('\n');
        if (r.get("kind").asText().equals("model")) {
            sb.append(String.format("  %s, %,d parameters%n", r.get("model_class").asText(), r.get("parameters").asLong()));
            for (JsonNode l : r.get("layers")) {
                sb.append(String.format("    %-10s %-22s %s%s  %,d parameters%n", l.get("name").asText(),
                    l.get("type").asText(), l.has("inputs") ? l.get("inputs").asText() + " -> " + l.get("outputs").asText() : "",
                    l.has("activation") ? " " + l.get("activation").asText() : "", l.get("parameters").asLong()));
            }
            JsonNode n = r.get("normalization");
            sb.append("  normalization: ").append(n.get("kind").asText())
                .append(n.has("features") ? " (" + n.get("features").asText() + " features)" : "").append('\n');
            JsonNode m = r.get("lockstep");
            if (m == null) {
                sb.append("  no Lockstep metadata (not written by lockstep train)\n");
            } else {
                JsonNode s = m.path("summary");
                sb.append("  trained by Lockstep ").append(m.path("lockstep_version").asText()).append(": task ")
                    .append(s.path("task").asText()).append(", ").append(m.path("features").asText()).append(" features, ")
                    .append(m.path("outputs").asText()).append(" outputs; ").append(s.path("steps").asText())
                    .append(" steps, ").append(s.path("epochs_completed").asText()).append(" epochs, ")
                    .append(s.path("workers").asText()).append(" workers\n");
                if (s.has("test")) {
                    sb.append("  test: ").append(metrics(s.get("test"))).append('\n');
                }
                if (s.hasNonNull("validation")) {
                    sb.append("  last validation: ").append(metrics(s.get("validation"))).append('\n');
                }
                sb.append("  config:\n");
                flatten("", m.path("config"), sb);
            }
        } else {
            sb.append(String.format("  step %d (epoch %d, %d steps into it), seed %d, written %s%n",
                r.get("step").asLong(), r.get("epoch").asInt(), r.get("step_in_epoch").asInt(), r.get("seed").asLong(),
                r.get("written").asText()));
            sb.append(String.format("  %,d parameters, %,d optimizer-state values, normalization %s%n",
                r.get("parameters").asLong(), r.get("optimizer_state_values").asLong(),
                r.get("normalization_bytes").asInt() == 0 ? "none" : "saved"));
            sb.append("  config (the keys that shape the model and the data):\n");
            flatten("", r.get("config"), sb);
        }
        return sb.toString();
    }

    private static String metrics(JsonNode m) {
        StringBuilder sb = new StringBuilder();
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getValue().isNumber()) {
                sb.append(sb.length() == 0 ? "" : ", ").append(e.getKey()).append(' ')
                    .append(e.getValue().isIntegralNumber() ? e.getValue().asText()
                        : String.format("%.4f", e.getValue().asDouble()));
            }
        }
        return sb.toString();
    }

    private static void flatten(String prefix, JsonNode node, StringBuilder sb) {
        if (node.isObject() && node.size() > 0) {
            node.fields().forEachRemaining(e -> flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(),
                e.getValue(), sb));
        } else if (!node.isNull() && !node.isMissingNode() && !(node.isObject() && prefix.isEmpty())) {
            sb.append("    ").append(prefix).append(": ").append(node.isTextual() ? node.asText() : node.toString())
                .append('\n');
        }
    }
}
