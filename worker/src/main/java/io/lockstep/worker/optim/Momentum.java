package io.lockstep.worker.optim;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonAutoDetect;
import org.nd4j.shade.jackson.annotation.JsonCreator;
import org.nd4j.shade.jackson.annotation.JsonInclude;
import org.nd4j.shade.jackson.annotation.JsonProperty;

import java.util.Map;
import java.util.Objects;

/**
 * SGD with momentum, heavy-ball or Nesterov, in PyTorch's formulation ({@code torch.optim.SGD},
 * dampening 0), as a DL4J updater.
 *
 * <p>DL4J ships only Nesterov momentum ({@code Nesterovs}), and in the Sutskever form
 * {@code v = mu*v - lr*g}, where the rate is folded into the velocity. Here the state is the
 * rate-free buffer {@code b}, and the rate multiplies the step:
 * <pre>
 *   b      = mu * b + g
 *   update = lr(t) * b                 (heavy ball)
 *   update = lr(t) * (g + mu * b)      (nesterov)
 *   w     -= update                    (done by the caller / DL4J)
 * </pre>
 * With a constant rate this is exactly {@code v = mu*v + lr*g; update = v} (v = lr*b) and, for
 * Nesterov, DL4J's {@code Nesterovs}. Under a changing rate (warmup, decay) the two differ, and the
 * form here is the one that needs no "momentum correction" when the rate changes (Goyal et al. 2017,
 * section 2.1): a rate change takes effect at once instead of being smeared over ~1/(1-mu) steps.
 * It is also what PyTorch users expect when they compare runs.
 *
 * <p>The buffer {@code b} (one value per parameter, {@link #stateSize} = n) lives in DL4J's updater state
 * view, so {@code net.getUpdater().getStateViewArray()} checkpoints it as part of one flat vector. Zero at
 * the start: the first step is {@code lr * g}, as in PyTorch (whose first step copies g into the buffer).
 *
 * <p>Serialized into the model JSON by DL4J's shaded Jackson: the {@code "@class"} type property comes
 * from {@link IUpdater}'s {@code @JsonTypeInfo}, fields by name through the creator below, as the built-in
 * updaters do. Class and property names are part of the saved-model format.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
    isGetterVisibility = JsonAutoDetect.Visibility.NONE, setterVisibility = JsonAutoDetect.Visibility.NONE)
public final class Momentum implements IUpdater {
    private double learningRate;
    private ISchedule learningRateSchedule;
    private final double momentum;
    private final boolean nesterov;

    /** A constant rate. */
    public Momentum(double learningRate, double momentum, boolean nesterov) {
        this(learningRate, null, momentum, nesterov);
    }

    /** A scheduled rate: {@code lr(t) = schedule.valueAt(iteration, epoch)}. */
    public Momentum(ISchedule learningRateSchedule, double momentum, boolean nesterov) {
        this(Double.NaN, Objects.requireNonNull(learningRateSchedule, "learningRateSchedule"), momentum, nesterov);
    }

    @JsonCreator
    private Momentum(@JsonProperty("learningRate") double learningRate,
                     @JsonProperty("learningRateSchedule") ISchedule learningRateSchedule,
                     @JsonProperty("momentum") double momentum,
                     @JsonProperty("nesterov") boolean nesterov) {
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("optimizer.momentum must be in [0, 1), got " + Num.str(momentum));
        }
        if (learningRateSchedule == null && !(learningRate > 0)) {
            throw new IllegalArgumentException("optimizer.lr must be > 0, got " + Num.str(learningRate));
        }
        this.learningRate = learningRate;
        this.learningRateSchedule = learningRateSchedule;
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    public double momentum() {
        return momentum;
    }

    public boolean nesterov() {
        return nesterov;
    }

    public ISchedule learningRateSchedule() {
        return learningRateSchedule;
    }

    @Override
    public long stateSize(long numParams) {
        return numParams;
    }

    @Override
    public GradientUpdater<Momentum> instantiate(INDArray viewArray, boolean initializeViewArray) {
        MomentumUpdater u = new MomentumUpdater(this);
        u.setStateViewArray(viewArray, viewArray.shape(), viewArray.ordering(), initializeViewArray);
        return u;
    }

    @Override
    public GradientUpdater<Momentum> instantiate(Map<String, INDArray> updaterState, boolean initializeStateArrays) {
        MomentumUpdater u = new MomentumUpdater(this);
        u.setState(updaterState, initializeStateArrays);
        return u;
    }

    @Override
    public Momentum clone() {
        return new Momentum(learningRate, learningRateSchedule == null ? null : learningRateSchedule.clone(),
            momentum, nesterov);
    }

    @Override
    public double getLearningRate(int iteration, int epoch) {
        return learningRateSchedule != null ? learningRateSchedule.valueAt(iteration, epoch) : learningRate;
    }

    @Override
    public boolean hasLearningRate() {
        return true;
    }

    @Override
    public void setLrAndSchedule(double lr, ISchedule lrSchedule) {
        this.learningRate = lr;
        this.learningRateSchedule = lrSchedule;
    }

    @Override
    public boolean equals(Object o) {
        // DL4J puts consecutive parameters into one updater block only when their updaters are equal
        return o instanceof Momentum that
            && Double.compare(learningRate, that.learningRate) == 0
            && Objects.equals(learningRateSchedule, that.learningRateSchedule)
            && Double.compare(momentum, that.momentum) == 0 && nesterov == that.nesterov;
    }

    @Override
    public int hashCode() {
        return Objects.hash(learningRate, learningRateSchedule, momentum, nesterov);
    }

    @Override
    public String toString() {
        return "Momentum{" + (learningRateSchedule != null ? learningRateSchedule : "lr=" + learningRate)
            + ", momentum=" + momentum + ", nesterov=" + nesterov + "}";
    }
}
