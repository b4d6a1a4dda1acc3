package io.lockstep.worker.train;

import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;

import io.lockstep.ps.GradientClient;
import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

/**
 * One data-parallel replica: the synchronous SGD loop of a single worker.
 *
 * <p>Per step: take the prefetched batch, let DL4J compute the gradient into the network's
 * flat gradient view, turn that sum into the batch mean, exchange it for the global
 * sample-weighted mean through the parameter server (in place, off-heap), then let the DL4J
 * updater turn it into a step and subtract it. Every replica starts from the same parameters
 * and applies the same step, so all stay identical.
 */
public final class Replica {
    private static final Logger LOG = LoggerFactory.getLogger(Replica.class);

    private final TrainingSpec spec;
    private final int rank;
    private final MultiLayerNetwork net;
    private final INDArray gradient;
    private final long gradientAddress;
    private final INDArray params;
    private final INDArray update; // the gradient view in the parameters' shape: the updater writes the step here
    private List<INDArray> perSampleViews; // gradient views DL4J divides by the batch size (found on first use)

    public Replica(TrainingSpec spec, float[] initialParams, int rank) {
        this.spec = spec;
        this.rank = rank;
        this.net = new MultiLayerNetwork(MultiLayerConfiguration.fromJson(spec.modelJson()));
        net.init(Nd4j.create(initialParams, new long[]{1, initialParams.length}, 'c'), true);
        net.initGradientsView();
        this.gradient = net.getGradientsViewArray();
        if (gradient.dataType() != DataType.FLOAT || gradient.offset() != 0 || gradient.length() != initialParams.length) {
            throw new IllegalStateException("expected a dense float32 gradient view of " + initialParams.length
                + " values, got " + gradient.dataType() + " x " + gradient.length() + " at offset " + gradient.offset());
        }
        this.gradientAddress = gradient.data().address();
        this.params = net.params();
        this.update = gradient.reshape(gradient.ordering(), params.shape());
        if (update.data().address() != gradientAddress || params.length() != gradient.length()) {
            throw new IllegalStateException("the parameter-shaped gradient must be a view, not a copy");
        }
    }

    public MultiLayerNetwork network() {
        return net;
    }

    /** Runs the whole schedule on {@code shard}, exchanging through {@code client}. */
    public ReplicaResult train(DataPartition shard, GradientClient client) throws TimeoutException, InterruptedException {
        if (shard.size() == 0) {
            throw new IllegalArgumentException("rank " + rank + " got an empty shard");
        }
        Updater updater = net.getUpdater();
        LayerWorkspaceMgr workspaces = LayerWorkspaceMgr.noWorkspaces();
        long dataNs = 0, computeNs = 0, exchangeNs = 0, applyNs = 0, samples = 0, step = 0;
        long start = System.nanoTime();
        try (BatchSource batches = new BatchSource(shard, spec.batchSize(), spec.stepsPerEpoch(),
            spec.seed() * 31 + rank, spec.shuffle(), 0)) {
            for (int epoch = 0; epoch < spec.epochs(); epoch++) {
                net.setEpochCount(epoch);
                for (int s = 0; s < spec.stepsPerEpoch(); s++, step++) {
                    long t0 = System.nanoTime();
                    Batch batch = batches.next();
                    long t1 = System.nanoTime();
                    float loss = 0f;
                    if (batch.size() > 0) {
                        net.setInput(batch.features());
                        net.setLabels(batch.labels());
                        net.computeGradientAndScore();
                        toBatchMean(batch.size());
                        loss = (float) net.score();
                        samples += batch.size();
                    }
                    long t2 = System.nanoTime();
                    client.exchange(step, gradientAddress, batch.size(), loss);
                    long t3 = System.nanoTime();
                    // already a mean over all workers' samples: a batch size of 1 stops DL4J dividing again
                    updater.update(net, net.gradient(), (int) step, epoch, 1, workspaces);
                    params.subi(update);
                    net.setIterationCount((int) step + 1);
                    long t4 = System.nanoTime();
                    dataNs += t1 - t0;
                    computeNs += t2 - t1;
                    exchangeNs += t3 - t2;
                    applyNs += t4 - t3;
                }
                if (rank == 0 && LOG.isDebugEnabled()) {
                    LOG.debug("rank 0 finished epoch {}", epoch + 1);
                }
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        float[] finalParams = params.toFloatVector();
        return new ReplicaResult(rank, digest(finalParams), rank == 0 ? finalParams : null, step, samples, seconds,
            new StepTimes(dataNs / 1e9, computeNs / 1e9, exchangeNs / 1e9, applyNs / 1e9));
    }

    /**
     * DL4J leaves the batch SUM in the gradient view and its updater divides by the batch size,
     * except for parameters whose "gradient" is really an update (BatchNorm's running mean and
     * variance). Do that division here, with the same per-parameter rule, so the exchange carries
     * batch means and the updater (told batch size 1) divides nothing again.
     */
    private void toBatchMean(int batchSize) {
        if (perSampleViews == null) {
            perSampleViews = new ArrayList<>();
            long divisible = 0;
            for (Map.Entry<String, INDArray> e : net.gradient().gradientForVariable().entrySet()) {
                String key = e.getKey();
                int split = key.lastIndexOf('_');
                if (net.getLayer(Integer.parseInt(key.substring(0, split))).updaterDivideByMinibatch(key.substring(split + 1))) {
                    perSampleViews.add(e.getValue());
                    divisible += e.getValue().length();
                }
            }
            if (divisible == gradient.length()) {
                perSampleViews = List.of(gradient); // the usual case: one pass over the whole view
            }
        }
        for (INDArray view : perSampleViews) {
            view.divi(batchSize);
        }
    }

    /** Order-sensitive digest of the exact float bits: equal digests mean bit-identical replicas. */
    public static long digest(float[] values) {
        long h = 1125899906842597L;
        for (float v : values) {
            h = 31 * h + Float.floatToRawIntBits(v);
        }
        return h;
    }
}
