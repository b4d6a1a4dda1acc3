package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.ps.ExchangeSpec;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseOutputLayer;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.RnnOutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.conf.preprocessor.FeedForwardToCnnPreProcessor;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The network against the data, on the driver before the stage starts: its input width must be
 * the number of features per row and its output width the job's outputs, or the first step of
 * every replica fails inside DL4J. Works on either kind of DL4J network (MultiLayerNetwork: the
 * first layer's nIn or its input preprocessor, the last layer's nOut; ComputationGraph: the same on
 * the layers reading the network input and on the output layer); widths a configuration does not
 * state are not checked.
 */
public final class ModelDataCheck {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private ModelDataCheck() {
    }

    /** A width the network states, and where it states it (for messages). */
    public record Width(long size, String where) {
    }

    /**
     * The job's checks: {@link #check(Model, int, int, String, String)} with the model named by its
     * config key, and a warning when ps.shards exceeds the gradient chunks of this model.
     *
     * @param task classification, binary or regression
     */
    public static void check(JobConfig cfg, Model model, int features, int outputs, String task) {
        check(model, features, outputs, describe(cfg.model()),
            task.equalsIgnoreCase("classification") ? outputs + " classes" : "task " + task.toLowerCase(Locale.ROOT));
        long params = model.numParams();
        int mtu = cfg.ps().mtu().resolve(cfg.ps().host());
        long chunks = (params + ExchangeSpec.chunkValuesFor(mtu) - 1) / ExchangeSpec.chunkValuesFor(mtu);
        if (cfg.ps().shards() > Math.max(JobConfig.defaults().ps().shards(), chunks)) { // the default is fine for any model
            LOG.warn("ps.shards is {} but the model's {} parameters make {} gradient chunk{} of up to {} floats (one"
                    + " Aeron frame at ps.mtu {}): shards beyond one chunk each only add threads, ports and /dev/shm",
                cfg.ps().shards(), params, chunks, chunks == 1 ? "" : "s", ExchangeSpec.chunkValuesFor(mtu), mtu);
        }
    }

    /**
     * Fails with a {@link ConfigLoader.ConfigException} naming both sizes when the network's input
     * width is not {@code features} or its output width not {@code outputs}.
     *
     * @param what  the model for the message, e.g. "model.path: net.json"
     * @param needs why the job needs {@code outputs}, e.g. "10 classes"
     */
    public static void check(Model model, int features, int outputs, String what, String needs) {
        for (Width in : inputs(model)) {
            if (in.size() == -2) {
                throw new ConfigLoader.ConfigException(what + ": " + in.where() + " takes images, but rows come flat ("
                    + features + " features): give the configuration an input type"
                    + " (setInputType(InputType.convolutionalFlat(height, width, channels))) so it reshapes them");
            }
            if (in.size() > 0 && in.size() != features) {
                throw new ConfigLoader.ConfigException(what + ": the network takes " + in.size() + " inputs ("
                    + in.where() + ") but the data has " + features + " features per row");
            }
        }
        Width out = output(model);
        if (out != null && out.size() > 0 && out.size() != outputs) {
            throw new ConfigLoader.ConfigException(what + ": the network has " + out.size() + " outputs (" + out.where()
                + ") but the job needs " + outputs + " (" + needs + ")");
        }
    }

    /** The model as its config keys name it, for messages. */
    public static String describe(JobConfig.Model m) {
        if (m.initFrom() != null) {
            return "model.init_from: " + m.initFrom();
        }
        return switch (m.type()) {
            case JSON -> "model.path: " + m.path();
            case FACTORY -> "model.factory: " + m.factory();
            default -> "model.type: " + m.type().key();
        };
    }

    /**
     * The input widths the network states: one per layer that reads the network input. Size -1:
     * not stated; -2: a convolution reading flat rows without a preprocessor to reshape them.
     */
    public static List<Width> inputs(Model model) {
        List<Width> widths = new ArrayList<>();
        if (model instanceof MultiLayerNetwork net) {
            MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
            widths.add(width(conf.getConf(0).getLayer(), conf.getInputPreProcess(0), "layer 0"));
        } else if (model instanceof ComputationGraph graph) {
            ComputationGraphConfiguration conf = graph.getConfiguration();
            String input = conf.getNetworkInputs().get(0);
            for (Map.Entry<String, List<String>> e : conf.getVertexInputs().entrySet()) {
                GraphVertex v = conf.getVertices().get(e.getKey());
                if (e.getValue().contains(input) && v instanceof LayerVertex lv) {
                    widths.add(width(lv.getLayerConf().getLayer(), lv.getPreProcessor(), "'" + e.getKey() + "'"));
                }
            }
        }
        return widths;
    }

    /** The output width the network states (the output layer's nOut), or null. */
    public static Width output(Model model) {
        Layer last = null;
        String where = null;
        if (model instanceof MultiLayerNetwork net) {
            MultiLayerConfiguration conf = net.getLayerWiseConfigurations();
            int n = conf.getConfs().size();
            last = conf.getConf(n - 1).getLayer();
            where = "layer " + (n - 1);
        } else if (model instanceof ComputationGraph graph) {
            ComputationGraphConfiguration conf = graph.getConfiguration();
            String name = conf.getNetworkOutputs().get(0);
            if (conf.getVertices().get(name) instanceof LayerVertex lv) {
                last = lv.getLayerConf().getLayer();
                where = "'" + name + "'";
            }
        }
        last = last == null ? null : unwrap(last);
        if (last instanceof FeedForwardLayer ff && ff.getNOut() > 0) {
            return new Width(ff.getNOut(), where + ", " + last.getClass().getSimpleName() + " nOut");
        }
        return null;
    }

    /** The layer inside a frozen (fine-tuning) wrapper. */
    private static Layer unwrap(Layer layer) {
        for (int i = 0; i < 8; i++) {
            if (layer instanceof FrozenLayer f) {
                layer = f.getLayer();
            } else if (layer instanceof BaseWrapperLayer w) {
                layer = w.getUnderlying();
            } else {
                break;
            }
        }
        return layer;
    }

    private static Width width(Layer layer, InputPreProcessor pre, String where) {
        layer = unwrap(layer);
        String kind = layer.getClass().getSimpleName();
        if (pre instanceof FeedForwardToCnnPreProcessor cnn) {
            long size = cnn.getInputHeight() * cnn.getInputWidth() * cnn.getNumChannels();
            return new Width(size > 0 ? size : -1, where + ", " + kind + " reading " + cnn.getInputHeight() + "x"
                + cnn.getInputWidth() + "x" + cnn.getNumChannels() + " images");
        }
        if (pre != null) {
            return new Width(-1, where);
        }
        if (layer instanceof ConvolutionLayer) {
            return new Width(-2, where + " (" + kind + ")");
        }
        if ((layer instanceof DenseLayer || layer instanceof BaseOutputLayer && !(layer instanceof RnnOutputLayer))
            && ((FeedForwardLayer) layer).getNIn() > 0) {
            return new Width(((FeedForwardLayer) layer).getNIn(), where + ", " + kind + " nIn");
        }
        return new Width(-1, where);
    }
}
