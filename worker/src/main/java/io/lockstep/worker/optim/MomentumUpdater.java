package io.lockstep.worker.optim;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.Axpy;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;

/**
 * The per-block worker of {@link Momentum}: turns the block's gradient into the step in place,
 * keeping the momentum buffer in a slice of the network's updater state view.
 */
final class MomentumUpdater implements GradientUpdater<Momentum> {
    /** The key of the momentum buffer in {@link #getState()}, as DL4J's Nesterovs names its velocity. */
    static final String STATE = "V";

    private final Momentum config;
    private INDArray buffer; // 1-D view into the updater state, same length as the block's gradient

    MomentumUpdater(Momentum config) {
        this.config = config;
    }

    @Override
    public Momentum getConfig() {
        return config;
    }

    @Override
    public void setState(Map<String, INDArray> stateMap, boolean initialize) {
        if (stateMap == null || stateMap.size() != 1 || !stateMap.containsKey(STATE)) {
            throw new IllegalStateException("momentum state must hold exactly [" + STATE + "], got "
                + (stateMap == null ? null : stateMap.keySet()));
        }
        buffer = flat(stateMap.get(STATE));
        if (initialize) {
            buffer.assign(0);
        }
    }

    @Override
    public Map<String, INDArray> getState() {
        return Collections.singletonMap(STATE, buffer);
    }

    @Override
    public void setStateViewArray(INDArray viewArray, long[] gradientShape, char gradientOrder, boolean initialize) {
        if (!viewArray.isVectorOrScalar()) {
            throw new IllegalArgumentException("momentum state view must be a vector, got shape "
                + Arrays.toString(viewArray.shape()));
        }
        if (initialize) {
            viewArray.assign(0);
        }
        buffer = flat(viewArray);
    }

    /**
     * {@code b = mu*b + g}, then {@code g := lr*b} or, Nesterov, {@code g := lr*(g + mu*b)}; in place, elementwise
     * (no reductions), so the result does not depend on thread counts.
     */
    @Override
    public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        if (buffer == null) {
            throw new IllegalStateException("momentum updater has no state view");
        }
        INDArray g = flat(gradient);
        if (g.length() != buffer.length()) {
            throw new IllegalStateException("gradient of " + g.length() + " values for a momentum buffer of " + buffer.length());
        }
        double lr = config.getLearningRate(iteration, epoch);
        double mu = config.momentum();
        buffer.muli(mu).addi(g);
        if (config.nesterov()) {
            Nd4j.exec(new Axpy(buffer, g, g, mu)); // g = mu*b + g
        } else {
            g.assign(buffer);
        }
        g.muli(lr);
    }

    /** A 1-D view (never a copy: the updates must land in DL4J's arrays). */
    private static INDArray flat(INDArray a) {
        if (a.rank() == 1) {
            return a;
        }
        INDArray v = Shape.newShapeNoCopy(a, new long[]{a.length()}, a.ordering() == 'f');
        if (v == null) {
            throw new IllegalStateException("momentum arrays must be contiguous views, got shape "
                + Arrays.toString(a.shape()) + " strides " + Arrays.toString(a.stride()));
        }
        return v;
    }
}
