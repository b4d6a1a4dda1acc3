package io.lockstep.worker.model;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A network's parameter count from its configuration alone, without allocating the parameters: what a job
 * will train, known before the network is built (the doctor sizes memory with it).
 */
public final class ParameterCount {
    private ParameterCount() {
    }

    /**
     * Parameters of the network {@link ModelBuilder#build} makes for {@code spec} and {@code ctx}; -1 where only
     * building it tells ({@code model.init_from}, {@code factory}). Refuses what {@code build} refuses
     * ({@link IllegalArgumentException}), and a {@code json} file that cannot be read ({@link UncheckedIOException}).
     */
    public static long of(ModelSpec spec, ModelContext ctx) {
        if (spec.initFrom() != null) {
            return -1;
        }
        return switch (spec.type()) {
            case MLP -> of(ModelBuilder.mlpConfig(spec, ctx));
            case LENET -> of(ModelBuilder.lenetConfig(spec, ctx));
            case JSON -> ofJson(read(spec.path()));
            case FACTORY -> -1;
        };
    }

    /** Parameters of a DL4J JSON configuration, either kind (a MultiLayerNetwork's or a ComputationGraph's). */
    public static long ofJson(String json) {
        if (Network.isGraphJson(json)) {
            long n = 0;
            for (GraphVertex v : ComputationGraphConfiguration.fromJson(json).getVertices().values()) {
                if (v instanceof LayerVertex lv) {
                    n += lv.numParams(true);
                }
            }
            return n;
        }
        return of(MultiLayerConfiguration.fromJson(json));
    }

    static long of(MultiLayerConfiguration conf) {
        long n = 0;
        for (NeuralNetConfiguration layer : conf.getConfs()) {
            n += layer.getLayer().initializer().numParams(layer);
        }
        return n;
    }

    private static String read(String path) {
        try {
            return Files.readString(Path.of(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
