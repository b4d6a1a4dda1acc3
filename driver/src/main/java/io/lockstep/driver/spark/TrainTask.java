package io.lockstep.driver.spark;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.server.JobListeners;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.device.Device;
import io.lockstep.worker.exchange.AeronExchange;
import io.lockstep.worker.exchange.GradientExchange;
import io.lockstep.worker.exchange.AeronGroupExchange;
import io.lockstep.worker.exchange.InMemoryExchange;
import io.lockstep.worker.exchange.JvmWorkerGroup;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.listener.BestModelListener;
import io.lockstep.worker.listener.CheckpointListener;
import io.lockstep.worker.listener.EarlyStoppingListener;
import io.lockstep.worker.listener.TimelineListener;
import io.lockstep.worker.listener.ValidationListener;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.model.Network;
import io.lockstep.worker.train.NonFiniteException;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.train.TrainState;
import io.lockstep.worker.train.Trainer;
import io.lockstep.worker.train.TrainerOptions;
import io.lockstep.worker.train.TrainingLoop;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.broadcast.Broadcast;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The body of each barrier task: partition index = rank. Packs its training and validation rows
 * (in source order, so runs are reproducible), joins the parameter server and runs the training
 * loop of one replica with validation, best-model tracking, early stopping and checkpoints as
 * listeners.
 */
final class TrainTask extends AbstractFunction1<Iterator<RankRows>, Iterator<ReplicaResult>>
    implements Serializable {

    private final RunPlan plan;
    private final Broadcast<StartPoint> start;

    TrainTask(RunPlan plan, Broadcast<StartPoint> start) {
        this.plan = plan;
        this.start = start;
    }

    @Override
    public Iterator<ReplicaResult> apply(Iterator<RankRows> rows) {
        int rank = BarrierTaskContext.get().partitionId();
        if (plan.checkpoints() != null) {
            try {
                plan.checkpoints().requireShared("rank " + rank + " (" + where() + ")");
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("rank " + rank + ": cannot read checkpoint.dir", e);
            }
        }
        Device device = Device.forTask(rank, assignedGpus());
        device.bindCurrentThread(); // before this thread's first ND4J operation
        RankRows mine = rows.hasNext() ? rows.next() : new RankRows(List.of(), List.of());
        DataPartition train = pack(mine.train());
        DataPartition validation = pack(mine.validation());
        mine = null; // the packed partitions replace the objects
        if (train.size() == 0) {
            throw new IllegalArgumentException("rank " + rank + " got no training rows");
        }
        ExchangeSpec spec = plan.exchange();
        JobListeners driverHere = plan.localReduction() ? JobListeners.find(spec.jobId()) : null;
        ExecutorShards shards = null;
        GradientClient client = null;
        try {
            int[] inDriver = driverHere != null ? ranksInThisJvm() : null;
            if (inDriver != null && inDriver.length == spec.workers()) {
                // every worker in the driver's JVM (embedded Spark): reduce and step in memory, no wire at all
                JvmWorkerGroup group = JvmWorkerGroup.join(spec.jobId(), inDriver);
                GradientExchange exchange = new InMemoryExchange(group, rank, spec.workers(), spec.optimizer(),
                    start.value().serverState(plan.stepSite()), driverHere,
                    spec.timeoutMillis());
                try {
                    return JavaConverters.asScalaIterator(List.of(train(rank, exchange, train, validation, plan,
                        start.value(), device)).iterator());
                } finally {
                    exchange.close();
                }
            }
            if (plan.shardsOnExecutors()) { // this rank's shards, if it hosts any, and every shard's endpoint
                shards = ExecutorShards.start(BarrierTaskContext.get(), plan, start.value(), executorHost());
                spec = shards.spec();
            }
            try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(spec);
                 GradientClient joined = new GradientClient(aeron.aeron(), spec, rank, executorHost())) {
                client = joined;
                joined.awaitConnected();
                AeronExchange alone = new AeronExchange(joined, spec);
                int[] local = plan.localReduction() ? ranksInThisJvm() : new int[]{rank};
                GradientExchange exchange = local.length == 1 ? alone
                    : new AeronGroupExchange(JvmWorkerGroup.join(spec.jobId(), local), alone, spec.timeoutMillis());
                try {
                    ReplicaResult result = train(rank, exchange, train, validation, plan, start.value(), device);
                    finishTogether(joined);
                    return JavaConverters.asScalaIterator(List.of(result.withDrops(dropsHere(shards, joined)))
                        .iterator());
                } finally {
                    exchange.close(); // a group member leaves its group (the client closes twice: harmless)
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw dropsHere(shards, client).attachTo(
                new IllegalStateException("rank " + rank + " interrupted (another task of the stage failed?)", e));
        } catch (java.util.concurrent.TimeoutException e) {
            String here = shards == null ? "" : shards.status();
            throw dropsHere(shards, client).attachTo(new IllegalStateException("rank " + rank + " timed out: "
                + e.getMessage() + (here.isEmpty() ? "" : " [shards on this executor: " + here + "]"), e));
        } catch (RuntimeException e) {
            throw dropsHere(shards, client).attachTo(e); // its class decides whether the driver retries: kept
        } catch (Exception e) {
            throw dropsHere(shards, client).attachTo(
                new IllegalStateException("rank " + rank + ": " + e.getMessage(), e));
        } finally {
            if (shards != null) {
                shards.close();
            }
        }
    }

    /**
     * Every rank waits here for all the others, reading and dropping what its client is sent meanwhile: rank 0 may
     * still fetch the optimizer state for its last checkpoint, and the shards' answers reach every worker JVM on one
     * publication that waits for its slowest reader (a rank stopped in the barrier would hold the state back once
     * it exceeds half an answer term). Past it every worker is done with every shard, so the executors' shards may
     * close.
     */
    private static void finishTogether(GradientClient client) throws InterruptedException {
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread draining = new Thread(() -> {
            org.agrona.concurrent.IdleStrategy idle = io.lockstep.ps.media.IdleStrategies.client();
            while (!done.get()) {
                idle.idle(client.drain());
            }
        }, "lockstep-drain-rank-" + client.rank());
        draining.setDaemon(true);
        draining.start();
        try {
            BarrierTaskContext.get().barrier();
        } finally {
            done.set(true);
            draining.join();
        }
    }

    /**
     * The frames refused where this rank ran, so far: by its client and by the shards it hosts (either may be
     * null). A failing rank attaches them to its exception: the driver learns them only that way.
     */
    private static WireDrops dropsHere(ExecutorShards shards, GradientClient client) {
        WireDrops drops = (shards == null ? WireDrops.NONE : shards.drops()).merge(WireDrops.of(client));
        // this JVM's Aeron link counts, once per executor JVM (its lowest rank); the driver counts its own
        boolean reportsLinks = !"driver".equals(org.apache.spark.SparkEnv.get().executorId())
            && ranksInThisJvm()[0] == BarrierTaskContext.get().partitionId();
        return reportsLinks ? drops.withLinkCounters() : drops;
    }

    /**
     * One replica's whole run over any exchange: the network from the start point, the listeners, the loop, on
     * {@code device} (the calling thread already bound to it; the prefetch thread binds itself).
     */
    static ReplicaResult train(int rank, GradientExchange exchange, DataPartition train, DataPartition validation,
                               RunPlan plan, StartPoint from, Device device) throws Exception {
        Network network = Network.fromJson(plan.modelJson(), from.params());
        if (from.updaterState() != null) {
            network.setUpdaterState(from.updaterState());
        }
        TrainState state = from.state().copy();
        TrainerOptions options = plan.options();
        Trainer trainer = new Trainer(network, exchange, options, state);
        if (plan.stepSite().isServer()) {
            trainer.serverStateLayout(plan.stepSite().plan()::toDl4jState);
        }
        trainer.addListener(new TimelineListener(plan.logEvery())); // first: its gather round precedes validation's
        BestModelListener best = null;
        if (plan.validation() != null && validation != null) {
            trainer.addListener(new ValidationListener(validation,
                () -> EvalMetrics.forTask(plan.task(), plan.outputs()), plan.validation()));
            if (plan.bestMetric() != null) {
                best = new BestModelListener(plan.bestMetric(), plan.higherIsBetter(), plan.minDelta(),
                    from.bestParams(), t -> writeBest(plan, t));
                trainer.addListener(best);
                if (plan.patience() > 0) {
                    trainer.addListener(new EarlyStoppingListener(plan.bestMetric(), plan.patience()));
                }
            }
        }
        plan.listeners().forEach(trainer::addListener);
        if (plan.checkpoints() != null) {
            trainer.addListener(new CheckpointListener(plan.checkpoints(), plan.checkpointEvery(), plan.identity()));
        }
        long started = System.nanoTime();
        String failure = null;
        int batchesPerEpoch = options.batchesPerEpoch();
        try (BatchSource batches = new BatchSource(train, plan.batchSize(), batchesPerEpoch, plan.seed() * 31 + rank,
            plan.shuffle(), state.epoch(), state.stepInEpoch() * options.accumulateSteps(), device::bindCurrentThread)) {
            if (state.epoch() < options.epochs()) {
                TrainingLoop.run(trainer, batches);
            }
        } catch (NonFiniteException e) {
            failure = e.getMessage(); // the same on every rank: end the stage normally and let the driver report it
        }
        double seconds = (System.nanoTime() - started) / 1e9;
        float[] params = network.params().toFloatVector();
        return new ReplicaResult(rank, where(), device.describe(), ReplicaResult.digest(params), rank == 0 ? params : null,
            rank == 0 && best != null ? best.bestParams() : null, state.copy(), trainer.stopReason(), failure,
            trainer.samples(), seconds, trainer.times(), WireDrops.NONE);
    }

    private static void writeBest(RunPlan plan, Trainer trainer) {
        if (plan.checkpoints() != null) {
            try {
                plan.checkpoints().writeBest(CheckpointListener.snapshot(trainer, plan.identity()), plan.bestMetric(),
                    trainer.state().bestValue());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("writing the best checkpoint failed: " + e.getMessage(), e);
            }
        }
    }

    private DataPartition pack(List<Sample> samples) {
        List<Sample> sorted = new ArrayList<>(samples);
        sorted.sort(Comparator.comparingLong(Sample::index));
        return DataPartition.of(sorted.iterator(), plan.features(), plan.outputs());
    }

    /** The GPU addresses Spark's resource scheduling gave this task ({@code spark.task.resource.gpu.amount}); none: empty. */
    private static String[] assignedGpus() {
        org.apache.spark.resource.ResourceInformation gpus = BarrierTaskContext.get().resourcesJMap().get("gpu");
        return gpus == null ? new String[0] : gpus.addresses();
    }

    /**
     * The ranks of this stage whose tasks run in this executor (in local mode: all), from the barrier's
     * task infos: the same executor address means the same JVM.
     */
    private static int[] ranksInThisJvm() {
        BarrierTaskContext ctx = BarrierTaskContext.get();
        org.apache.spark.BarrierTaskInfo[] infos = ctx.getTaskInfos();
        String mine = infos[ctx.partitionId()].address();
        return java.util.stream.IntStream.range(0, infos.length).filter(r -> infos[r].address().equals(mine)).toArray();
    }

    /** See {@link #endpointAddress}: where this task's workers receive and its shards listen. */
    private String executorHost() {
        return endpointAddress(BarrierTaskContext.get(), plan.exchange().host());
    }

    /**
     * Where this rank ran: {@code pid@hostname executor ID ADDRESS}, the address telling hosts apart where hostnames
     * repeat (containers, namespaces).
     */
    private static String where() {
        return ReplicaResult.here() + " executor " + org.apache.spark.SparkEnv.get().executorId() + " "
            + executorAddress(BarrierTaskContext.get());
    }

    /**
     * The address the workers of {@code ctx}'s executor receive on and its shards listen on: loopback when the
     * driver's endpoints ({@code driverHost}) are (one machine), else the executor's address as Spark knows it (the
     * one the driver and the other executors reach it at: never loopback on a cluster).
     */
    static String endpointAddress(BarrierTaskContext ctx, String driverHost) {
        if (driverHost.startsWith("127.") || driverHost.equals("localhost") || driverHost.equals("::1")) {
            return "127.0.0.1";
        }
        return executorAddress(ctx);
    }

    /**
     * The executor address of {@code ctx}'s task as Spark knows it: the source address of its connection to the
     * driver (so the one the driver reaches it at), which tells hosts apart where hostnames repeat.
     */
    private static String executorAddress(BarrierTaskContext ctx) {
        String address = ctx.getTaskInfos()[ctx.partitionId()].address();
        int colon = address.lastIndexOf(':');
        String executor = colon > 0 ? address.substring(0, colon) : address;
        return executor.startsWith("[") && executor.endsWith("]") ? executor.substring(1, executor.length() - 1)
            : executor;
    }
}
