package io.lockstep.driver.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.job.Evaluator;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.driver.output.ModelMetadata;
import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.model.FineTune;
import io.lockstep.worker.model.Network;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.deeplearning4j.nn.api.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lockstep evaluate MODEL DATA}: a trained model's metrics on a data set, exactly as training reports its
 * test split (the same metrics, the same distributed evaluation). DATA is read in the format and columns the model
 * was trained with (from the model's {@code lockstep.json}; {@code --set data.format=...} and the other
 * {@code data.*} keys change them) and scaled with the model's own normalization; rows of another width, or labels
 * outside the model's classes, are refused naming the file and the sizes.
 */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
    description = "A trained model's metrics on a data set, as training reports its test split; printed and written"
        + " as JSON.")
public final class Evaluate implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @Parameters(index = "0", paramLabel = "MODEL", description = "a model.zip written by lockstep train")
    Path model;

    @Parameters(index = "1", paramLabel = "DATA", description = "the data to evaluate on (any path training reads)")
    String data;

    @Option(names = "--labels", description = "the labels file of IDX images (default: next to DATA)")
    String labels;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "override a key of the model's job config,"
        + " e.g. data.format=parquet or spark.master=local[4]")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--out", description = "where the metrics go as JSON (default: ${DEFAULT-VALUE})")
    Path out = Path.of("evaluation.json");

    @Override
    public Integer call() throws IOException {
        Map<String, Object> metrics = evaluate(model, data, labels, overrides);
        String json = JSON.writeValueAsString(metrics);
        Files.writeString(out, json + "\n", StandardCharsets.UTF_8);
        System.out.println(json);
        return 0;
    }

    /** The model's metrics on {@code data}: {@code model}, {@code data}, {@code task} and the task's metrics. */
    static Map<String, Object> evaluate(Path model, String data, String labels, List<String> overrides)
        throws IOException {
        if (!Files.isRegularFile(model)) {
            throw new IllegalArgumentException(model + ": no such file");
        }
        JsonNode meta = ModelMetadata.read(model);
        if (meta == null) {
            throw new IllegalArgumentException(model + ": no lockstep.json in it (a model written by lockstep train"
                + " carries its task, data layout and normalization there)");
        }
        List<String> sets = new ArrayList<>(List.of("spark.master=~", "data.validation=~",
            "data.validation_fraction=~", "data.download=~", "data.test_labels=" + (labels == null ? "~" : labels)));
        sets.addAll(overrides);
        ObjectNode tree = ((ObjectNode) meta.get("config")).deepCopy();
        JobConfig cfg = ConfigLoader.bind(tree, sets, model + " (lockstep.json)", false)
            .with("data.train", data).with("data.test", data);
        int features = meta.get("features").asInt();
        int outputs = meta.get("outputs").asInt();
        int classes = meta.get("classes").asInt();
        Model net = FineTune.restore(model.toString(), "MODEL");
        String json = Network.of(net).toJson();
        float[] params = net.params().toFloatVector();
        try (JavaSparkContext sc = new JavaSparkContext(SparkConfs.of(cfg))) {
            DataLoader.Scored rows = DataLoader.forModel(sc, cfg, ModelMetadata.scaling(meta), features, classes);
            Broadcast<float[]> shared = sc.broadcast(params);
            EvalMetrics m = Evaluator.evaluate(rows.rows(), json, shared, features, cfg.task().key(), outputs);
            shared.destroy();
            System.err.println("lockstep: " + model + " on " + data + ": " + rows.count() + " rows, "
                + TrainingJob.headline(m));
            Map<String, Object> result = new java.util.LinkedHashMap<>();
            result.put("model", model.toString());
            result.put("data", data);
            result.put("task", cfg.task().key());
            result.put("metrics", m.toMap());
            return result;
        }
    }
}
