package io.lockstep.driver.job;

import io.lockstep.driver.config.Normalize;
import io.lockstep.worker.optim.OptimizerSpec;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.StepPlacement;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.TestData;
import io.lockstep.worker.data.Batch;
import io.lockstep.worker.data.BatchSource;
import io.lockstep.worker.data.DataPartition;
import io.lockstep.worker.data.Sample;
import io.lockstep.worker.train.TrainerOptions;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * N workers at batch b over the parameter server train like one process at batch N·b on the same rows per step:
 * 3 workers exchanging over Aeron (UDP or IPC, no in-memory shortcut), uneven partitions (334/334/333 rows), a
 * ragged last batch, shuffling on, SGD with momentum, RMSProp and Adam applied by the shards or by every replica,
 * and gradient accumulation. The reference is a
 * one-worker job at batch 3b whose training file holds the rows in the order the three shuffled workers draw them
 * (each worker's batch source asked which rows it serves at every micro-batch), so step s of both jobs averages
 * the gradient of the same 3b rows.
 */
@Tag("slow")
class WireEquivalenceTest {
    static final int WORKERS = 3;
    static final int ROWS = 1001;       // 334/334/333 over 3 workers
    static final int BATCH = 16;        // 20 full batches per worker, then 14/14/13 rows: 41 of 48

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0}, {1} applied on the {3}, accumulate {2}")
    @CsvSource({"udp,sgd,1,server", "ipc,rmsprop,1,replica", "udp,adam,2,server", "ipc,sgd,2,replica"})
    void threeWorkersAtBatchBOverTheWireEqualOneWorkerAtBatch3BOnTheSameRows(String transport, String optimizer,
                                                                             int accumulate, String placement)
        throws Exception {
        List<String> lines = scaledDigits(ROWS);
        Path train = Files.write(dir.resolve("train.csv"), lines);
        Path test = Files.write(dir.resolve("test.csv"), scaledDigits(1797).subList(ROWS, 1797));

        JobConfig three = job(train, test, dir.resolve("three"), optimizer, accumulate)
            .with("workers", WORKERS)
            .with("batch_size", BATCH)
            .with("shuffle", true)
            .with("ps.shards", 2)
            .with("ps.transport", Transport.parse(transport));
        three = three.with("ps.local_reduction", false); // every gradient crosses the parameter server
        three = three.with("optimizer.step_placement", StepPlacement.parse(placement));

        int micro = TrainerOptions.stepsPerEpoch((ROWS + WORKERS - 1) / WORKERS, BATCH, accumulate) * accumulate;
        Path inDrawOrder = Files.write(dir.resolve("draw-order.csv"), drawOrder(lines, three.seed(), micro));
        JobConfig one = job(inDrawOrder, test, dir.resolve("one"), optimizer, accumulate)
            .with("workers", 1)
            .with("batch_size", WORKERS * BATCH)
            .with("shuffle", false);

        Map<String, Object> s3 = TrainingJob.run(three);
        Map<String, Object> s1 = TrainingJob.run(one);
        JsonNode ps = new ObjectMapper().readTree(dir.resolve("three/summary.json").toFile()).get("ps");
        assertEquals(transport, ps.get("transport").asText(), "the three workers exchanged over Aeron: " + ps);
        assertEquals(placement, ps.get("optimizer").asText(), ps.toString());
        assertEquals(0, ps.get("dropped_frames").asLong(-1), ps.toString());
        assertEquals("memory", ((Map<?, ?>) s1.get("ps")).get("transport"), "the reference is one process");
        long steps = (ROWS + WORKERS * BATCH * accumulate - 1) / (WORKERS * BATCH * accumulate);
        assertEquals(steps, ((Number) s3.get("steps")).longValue());
        assertEquals(s1.get("steps"), s3.get("steps"));
        assertEquals((long) ROWS, ((Number) s3.get("samples_trained")).longValue());

        float[] p3 = TrainingJobTest.params(dir.resolve("three/model.zip"));
        float[] p1 = TrainingJobTest.params(dir.resolve("one/model.zip"));
        double diff = TrainingJobTest.maxDiff(p1, p3);
        assertTrue(diff <= 1e-5, "max abs difference " + diff);
        double accuracy = ((Number) ((Map<?, ?>) s3.get("test")).get("accuracy")).doubleValue();
        assertTrue(accuracy > 0.5, "the runs trained (else equal parameters prove little): test accuracy " + accuracy);
    }

    /** The digits rows with features scaled to [0, 1] (no fitted normalization: both jobs see the same values). */
    static List<String> scaledDigits(int rows) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : TestData.digitsLines().subList(0, rows)) {
            String[] cells = line.split(",");
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < cells.length - 1; i++) {
                sb.append(String.format(Locale.ROOT, "%.4f", Double.parseDouble(cells[i]) / 16)).append(',');
            }
            out.add(sb.append(cells[cells.length - 1]).toString());
        }
        return out;
    }

    /**
     * The training rows in the order the workers draw them: for every micro-batch, rank 0's rows, then rank 1's,
     * then rank 2's. Rank r holds the rows with index ≡ r (mod 3); its batch source (the one the job uses, seeded
     * as the job seeds it) says which of them it serves when.
     */
    static List<String> drawOrder(List<String> lines, long seed, int microBatches) throws InterruptedException {
        List<List<List<Integer>>> byRank = new ArrayList<>();
        for (int r = 0; r < WORKERS; r++) {
            List<Sample> mine = new ArrayList<>();
            for (int i = r; i < lines.size(); i += WORKERS) {
                mine.add(new Sample(i, new float[]{i}, new float[]{0}));
            }
            List<List<Integer>> batches = new ArrayList<>();
            try (BatchSource source = new BatchSource(DataPartition.of(mine.iterator(), 1, 1), BATCH, microBatches,
                seed * 31 + r, true, 0)) {
                for (int m = 0; m < microBatches; m++) {
                    Batch b = source.next();
                    List<Integer> rows = new ArrayList<>();
                    for (float f : b.size() == 0 ? new float[0] : b.features().toFloatVector()) {
                        rows.add((int) f);
                    }
                    batches.add(rows);
                }
            }
            byRank.add(batches);
        }
        List<String> out = new ArrayList<>();
        for (int m = 0; m < microBatches; m++) {
            int before = out.size();
            for (int r = 0; r < WORKERS; r++) {
                for (int row : byRank.get(r).get(m)) {
                    out.add(lines.get(row));
                }
            }
            int size = out.size() - before;
            assertTrue(size == WORKERS * BATCH || m >= microBatches - 2 && size < WORKERS * BATCH,
                "micro-batch " + m + " holds " + size + " rows: the one-worker job would cut its batches elsewhere");
        }
        assertEquals(lines.size(), out.size(), "every row once");
        assertNotEquals(lines, out, "shuffled");
        return out;
    }

    static JobConfig job(Path train, Path test, Path out, String optimizer, int accumulate) {
        JobConfig c = TestData.digitsJob(train, test, out)
            .with("data.normalize", Normalize.NONE)
            .with("epochs", 1)
            .with("accumulate_steps", accumulate)
            .with("optimizer.type", OptimizerSpec.Type.parse(optimizer));
        switch (optimizer) {
            case "sgd" -> {
                c = c.with("optimizer.lr", 0.1)
                    .with("optimizer.momentum", 0.9);
            }
            case "rmsprop" -> c = c.with("optimizer.lr", 0.005);
            default -> c = c.with("optimizer.lr", 0.01);
        }
        return c;
    }
}
