package io.lockstep.worker.data;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Minibatches of one partition, epoch after epoch: rows in a fresh seeded permutation per epoch
 * (or in partition order when shuffling is off), exactly {@code stepsPerEpoch} batches per epoch
 * (empty ones once the partition is exhausted, so every worker runs the same steps), and the
 * next batch always assembled on a background thread while the current one trains.
 *
 * <p>Full batches are assembled into two buffers used in turn (heap staging arrays and the off-heap
 * arrays DL4J reads), so a step allocates nothing for its batch: the buffer being filled is always the
 * one the step before last used, which the network no longer reads. A shorter last batch of an epoch
 * gets arrays of its own.
 */
public final class BatchSource implements AutoCloseable {
    private final DataPartition partition;
    private final int batchSize;
    private final int stepsPerEpoch;
    private final long seed;
    private final boolean shuffle;
    private final ExecutorService prefetcher;
    private final int[] order;
    private final Slot[] slots = new Slot[2];
    private int nextSlot;

    private int epoch;
    private int step;
    private CompletableFuture<Batch> next;

    public BatchSource(DataPartition partition, int batchSize, int stepsPerEpoch, long seed, boolean shuffle, int firstEpoch) {
        this(partition, batchSize, stepsPerEpoch, seed, shuffle, firstEpoch, 0);
    }

    /** Starts at batch {@code firstBatch} of epoch {@code firstEpoch}: a resumed run sees the rows it would have seen. */
    public BatchSource(DataPartition partition, int batchSize, int stepsPerEpoch, long seed, boolean shuffle, int firstEpoch,
                       int firstBatch) {
        this(partition, batchSize, stepsPerEpoch, seed, shuffle, firstEpoch, firstBatch, () -> { });
    }

    /**
     * As above; {@code onPrefetchThread} runs first on the prefetch thread, before it touches ND4J (the worker's
     * device binding: the batches' arrays are made there).
     */
    public BatchSource(DataPartition partition, int batchSize, int stepsPerEpoch, long seed, boolean shuffle, int firstEpoch,
                       int firstBatch, Runnable onPrefetchThread) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch_size must be >= 1, got " + batchSize);
        }
        this.partition = partition;
        this.batchSize = batchSize;
        this.stepsPerEpoch = stepsPerEpoch;
        this.seed = seed;
        this.shuffle = shuffle;
        this.order = new int[partition.size()];
        if (partition.size() >= batchSize) {
            slots[0] = new Slot(batchSize, partition.featureCount(), partition.labelCount());
            slots[1] = new Slot(batchSize, partition.featureCount(), partition.labelCount());
        }
        this.prefetcher = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(() -> {
                onPrefetchThread.run();
                r.run();
            }, "lockstep-prefetch");
            t.setDaemon(true);
            return t;
        });
        if (firstBatch < 0 || firstBatch >= stepsPerEpoch) {
            throw new IllegalArgumentException("first batch " + firstBatch + " is outside the epoch's " + stepsPerEpoch);
        }
        this.epoch = firstEpoch;
        this.step = firstBatch;
        permute();
        next = prefetch(step);
    }

    /** The next batch; blocks only if the background thread has not finished it yet. */
    public Batch next() throws InterruptedException {
        Batch batch;
        try {
            batch = next.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException("preparing a batch failed", e.getCause());
        }
        if (++step == stepsPerEpoch) {
            step = 0;
            epoch++;
            permute(); // safe: the prefetcher is idle until the next submit below
        }
        next = prefetch(step);
        return batch;
    }

    private CompletableFuture<Batch> prefetch(int s) {
        Slot slot = slot();
        return CompletableFuture.supplyAsync(() -> assemble(s, slot), prefetcher);
    }

    /** The buffer for the batch after the current one (created on first use: an empty partition needs none). */
    private Slot slot() {
        int i = nextSlot;
        nextSlot ^= 1;
        return slots[i];
    }

    private void permute() {
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        if (shuffle) {
            // Fisher-Yates with a generator seeded per epoch: reproducible and resumable by epoch
            Random rnd = new Random(seed * 1_000_003L + epoch);
            for (int i = order.length - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        }
    }

    private Batch assemble(int s, Slot slot) {
        int from = s * batchSize;
        int n = Math.max(0, Math.min(batchSize, partition.size() - from));
        if (n == 0) {
            return Batch.EMPTY;
        }
        if (n < batchSize) {
            Slot once = new Slot(n, partition.featureCount(), partition.labelCount());
            return once.fill(partition, order, from);
        }
        return slot.fill(partition, order, from);
    }

    /** One reusable full batch: heap staging arrays and the off-heap arrays DL4J reads. */
    private static final class Slot {
        private final float[] x;
        private final float[] y;
        private final Batch batch;

        Slot(int n, int features, int labels) {
            x = new float[n * features];
            y = new float[n * labels];
            batch = new Batch(Nd4j.create(DataType.FLOAT, new long[]{n, features}, 'c'),
                Nd4j.create(DataType.FLOAT, new long[]{n, labels}, 'c'), n);
        }

        Batch fill(DataPartition partition, int[] order, int from) {
            for (int i = 0; i < batch.size(); i++) {
                partition.copyRow(order[from + i], x, y, i);
            }
            batch.features().data().setData(x); // one copy into the existing off-heap buffer
            batch.labels().data().setData(y);
            return batch;
        }
    }

    public int epoch() { return epoch; }

    @Override
    public void close() {
        prefetcher.shutdownNow();
    }
}
