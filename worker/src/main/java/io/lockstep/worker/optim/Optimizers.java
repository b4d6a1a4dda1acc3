package io.lockstep.worker.optim;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayer;
import org.deeplearning4j.nn.conf.layers.recurrent.Bidirectional;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.schedule.FixedSchedule;
import org.nd4j.linalg.schedule.ISchedule;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * {@link OptimizerSpec} to DL4J: the updater, and the regularization DL4J applies inside the updater step.
 *
 * <p>How that step runs, as read from DL4J 1.0.0-M2.1 ({@code BaseMultiLayerUpdater.update},
 * {@code UpdaterBlock.update}), per updater block:
 * <ol>
 *   <li>divide the gradient by the batch size (the replica passes 1: the exchanged gradient is
 *       already the global batch mean), then per-layer GradientNormalization (left at None: we clip
 *       the whole averaged gradient with {@link GradientClipping} before this call);</li>
 *   <li>{@code BEFORE_UPDATER} regularization: {@code g += l2 * w}, {@code g += l1 * sign(w)};
 *       added after the division, so its strength does not depend on the batch size;</li>
 *   <li>the updater turns {@code g} into the step, with {@code lr(t) = schedule.valueAt(t, epoch)};</li>
 *   <li>{@code POST_UPDATER} regularization: {@code step += lr(t) * weightDecay * w}
 *       ({@code WeightDecay(coeff, applyLR = true)}, lr being the updater's rate at this step);</li>
 * </ol>
 * and the caller then does {@code w -= step}.
 *
 * <p><b>DL4J 1.0.0-M2.1 applies builder-level weight decay twice.</b> When a layer is built,
 * {@code NeuralNetConfiguration.Builder.configureLayer} first copies the builder's regularization list into
 * the layer ({@code copyConfigToLayer}), then {@code LayerValidation.configureBaseLayer} merges the same
 * list in again, skipping only entries that are L1 or L2: every {@code WeightDecay} ends up in the layer
 * twice and the decay is doubled. So after {@code build()}, pass the configuration through
 * {@link #removeDuplicateRegularization} (idempotent, harmless once DL4J is fixed) before creating the
 * network or writing its JSON.
 */
public final class Optimizers {
    private Optimizers() {
    }

    /**
     * The updater for {@code spec}, its rate given by {@code lr} ({@link LrSchedule} normally):
     * sgd → {@code Sgd}, or {@link Momentum} when momentum &gt; 0; adam and adamw → {@code Adam} (AdamW's
     * decoupled decay is the {@code WeightDecay} regularization set by {@link #configure}); rmsprop → {@code RmsProp}.
     */
    public static IUpdater updater(OptimizerSpec spec, ISchedule lr) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(lr, "lr schedule");
        IUpdater u = switch (spec.type()) {
            case SGD -> spec.momentum() > 0 ? new Momentum(lr, spec.momentum(), spec.nesterov()) : new Sgd(lr);
            case ADAM, ADAMW -> new Adam(Double.NaN, spec.beta1(), spec.beta2(), spec.epsilon());
            case RMSPROP -> new RmsProp(Double.NaN, spec.rmsDecay(), spec.epsilon());
        };
        u.setLrAndSchedule(Double.NaN, lr); // as DL4J's own schedule constructors: the schedule, not the NaN, is used
        return u;
    }

    /**
     * Optimizer state values each parameter carries ({@link #updater}'s state size per parameter): sgd 0 (1 with
     * momentum), rmsprop 1, adam and adamw 2.
     */
    public static int stateSlots(OptimizerSpec spec) {
        return Math.toIntExact(updater(spec, new FixedSchedule(spec.lr())).stateSize(1));
    }

    /**
     * Sets the updater (with {@link LrSchedule#of}{@code (spec, workers, totalSteps)}), L1, L2 and
     * decoupled weight decay on {@code builder}, as defaults for every layer (weights only, not biases; a
     * layer's own updater, L1 or L2 wins). Returns the schedule, so the caller can log {@code rate(step)}.
     * After {@code build()}, call {@link #removeDuplicateRegularization} (DL4J doubles the weight decay).
     */
    public static LrSchedule configure(NeuralNetConfiguration.Builder builder, OptimizerSpec spec, int workers,
                                       long totalSteps) {
        LrSchedule schedule = LrSchedule.of(spec, workers, totalSteps);
        builder.updater(updater(spec, schedule));
        // each call first removes what it sets, and 0 adds nothing; l2 and weight decay are never both > 0
        builder.l1(spec.l1());
        builder.l2(spec.l2());
        builder.weightDecay(spec.weightDecay(), true);
        return schedule;
    }

    /**
     * Removes repeated entries (equal, in order) from every layer's weight and bias regularization, undoing
     * DL4J's doubling of builder-level weight decay (see the class comment). Modifies {@code conf}; returns it.
     */
    public static MultiLayerConfiguration removeDuplicateRegularization(MultiLayerConfiguration conf) {
        for (NeuralNetConfiguration layerConf : conf.getConfs()) {
            dedupe(layerConf.getLayer());
        }
        return conf;
    }

    /** As {@link #removeDuplicateRegularization(MultiLayerConfiguration)}, for every layer vertex of a graph. */
    public static ComputationGraphConfiguration removeDuplicateRegularization(ComputationGraphConfiguration conf) {
        for (GraphVertex vertex : conf.getVertices().values()) {
            if (vertex instanceof LayerVertex lv && lv.getLayerConf() != null) {
                dedupe(lv.getLayerConf().getLayer());
            }
        }
        return conf;
    }

    private static void dedupe(Layer layer) {
        if (layer instanceof BaseLayer base) {
            base.setRegularization(distinct(base.getRegularization()));
            base.setRegularizationBias(distinct(base.getRegularizationBias()));
        } else if (layer instanceof BaseWrapperLayer wrapper) {
            dedupe(wrapper.getUnderlying());
        } else if (layer instanceof FrozenLayer frozen) {
            dedupe(frozen.getLayer());
        } else if (layer instanceof Bidirectional bi) {
            dedupe(bi.getFwd());
            dedupe(bi.getBwd());
        }
    }

    private static List<Regularization> distinct(List<Regularization> list) {
        if (list == null) {
            return null;
        }
        List<Regularization> out = new ArrayList<>(list.size());
        for (Regularization r : list) {
            if (!out.contains(r)) {
                out.add(r);
            }
        }
        return out;
    }
}
