package io.lockstep.driver.job;

import io.lockstep.ps.EmbeddedAeron;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.GradientClient;
import io.lockstep.worker.train.Replica;
import io.lockstep.worker.train.ReplicaResult;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.train.TrainingSpec;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.broadcast.Broadcast;
import scala.collection.Iterator;
import scala.collection.JavaConverters;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The body of each barrier task: partition index = rank. Packs the partition into a shard (in
 * source order, so runs are reproducible), joins the parameter server and trains one replica.
 */
public final class TrainTask extends AbstractFunction1<Iterator<Sample>, Iterator<ReplicaResult>> implements Serializable {
    private final TrainingSpec spec;
    private final Broadcast<float[]> initialParams;
    private final ExchangeSpec exchange;
    private final int features;
    private final int classes;

    TrainTask(TrainingSpec spec, Broadcast<float[]> initialParams, ExchangeSpec exchange, int features, int classes) {
        this.spec = spec;
        this.initialParams = initialParams;
        this.exchange = exchange;
        this.features = features;
        this.classes = classes;
    }

    @Override
    public Iterator<ReplicaResult> apply(Iterator<Sample> partition) {
        int rank = BarrierTaskContext.get().partitionId();
        List<Sample> samples = new ArrayList<>();
        JavaConverters.asJavaIterator(partition).forEachRemaining(samples::add);
        samples.sort(Comparator.comparingLong(Sample::index));
        DataPartition shard = DataPartition.of(samples.iterator(), features, classes);
        samples = null; // the packed shard replaces the objects
        try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(exchange);
             GradientClient client = new GradientClient(aeron.aeron(), exchange, rank, workerHost())) {
            Replica replica = new Replica(spec, initialParams.value(), rank);
            client.awaitConnected();
            ReplicaResult result = replica.train(shard, client);
            return JavaConverters.asScalaIterator(List.of(result).iterator());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("rank " + rank + " interrupted (another task of the stage failed?)", e);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("rank " + rank + " timed out: " + e.getMessage(), e);
        }
    }

    /** The address this worker receives averages on: loopback when the server is local. */
    private String workerHost() {
        String host = exchange.host();
        if (host.startsWith("127.") || host.equals("localhost")) {
            return "127.0.0.1";
        }
        try {
            return InetAddress.getLocalHost().getHostAddress();
        } catch (UnknownHostException e) {
            throw new IllegalStateException("cannot resolve this executor's address", e);
        }
    }
}
