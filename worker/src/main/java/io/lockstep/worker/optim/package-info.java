/**
 * Optimizer, learning-rate schedule and gradient clipping for the synchronous data-parallel loop.
 *
 * <p>Every replica applies the same DL4J updater step to the same averaged gradient at the same
 * GLOBAL step, so everything here is a pure function of (configuration, global step, averaged
 * gradient, updater state): no per-replica randomness, no thread-count dependent reductions.
 *
 * <ul>
 *   <li>{@link io.lockstep.worker.optim.OptimizerSpec} / {@link io.lockstep.worker.optim.ScheduleSpec}:
 *       validated config values, errors naming the YAML key.</li>
 *   <li>{@link io.lockstep.worker.optim.Optimizers}: turns them into a DL4J {@code IUpdater} plus
 *       L1 / L2 / decoupled weight decay on a {@code NeuralNetConfiguration.Builder}.</li>
 *   <li>{@link io.lockstep.worker.optim.LrSchedule}: the learning rate by global step, an
 *       {@code ISchedule} that travels inside the model JSON.</li>
 *   <li>{@link io.lockstep.worker.optim.Momentum}: heavy-ball / Nesterov SGD momentum in the PyTorch
 *       formulation, its state in the updater state view.</li>
 *   <li>{@link io.lockstep.worker.optim.GradientClipping} / {@link io.lockstep.worker.optim.ClippingSpec}:
 *       global clipping of the averaged flat gradient (DL4J's per-layer GradientNormalization is not used).</li>
 *   <li>{@link io.lockstep.worker.optim.StepSite}: where the step runs, the replicas or the server
 *   <li>{@link io.lockstep.worker.optim.ServerPlan}: the same step for the parameter-server shards
 *       ({@code optimizer.step_placement: server}): rule, parameter roles, and the optimizer state in both layouts.</li>
 * </ul>
 */
package io.lockstep.worker.optim;
