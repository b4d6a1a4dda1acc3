package io.lockstep.driver.job;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.lockstep.driver.output.MetricsLog;
import io.lockstep.ps.server.GatherListener;
import io.lockstep.worker.listener.ValidationListener;
import io.lockstep.worker.metrics.EvalMetrics;
import io.lockstep.worker.train.Trainer;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The driver's view of validation: the parameter server hands over every all-gather round; the
 * validation rounds hold each rank's partial metrics, merged here in rank order exactly as the
 * replicas merge them (on the metrics writer's thread, not the server's), and written to
 * metrics.jsonl and the progress log.
 */
final class ValidationLog implements GatherListener {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private final MetricsLog metrics;
    private final int stepsPerEpoch;
    private volatile Map<String, Object> last;

    ValidationLog(MetricsLog metrics, int stepsPerEpoch) {
        this.metrics = metrics;
        this.stepsPerEpoch = stepsPerEpoch;
    }

    /** Called on shard 0's agent thread: only hands the round over to the metrics writer. */
    @Override
    public void onGathered(long round, byte[][] blobsByRank) {
        if (round % 4 == Trainer.ROUND_VALIDATION) {
            metrics.later(() -> render(round / 4, blobsByRank));
        }
    }

    /** Merges the ranks' metrics of the validation after {@code step} steps, logs them, returns the JSON line. */
    private String render(long step, byte[][] blobsByRank) {
        EvalMetrics merged = ValidationListener.mergeInRankOrder(blobsByRank);
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("type", "validation");
        line.put("step", step);
        line.put("epoch", (step + stepsPerEpoch - 1) / stepsPerEpoch);
        line.putAll(merged.toMap());
        last = line;
        LOG.info(String.format(Locale.ROOT, "validation after step %d: %s, loss %.4f", step,
            TrainingJob.headline(merged), merged.loss()));
        try {
            return JSON.writeValueAsString(line);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The last validation line written (null before any). */
    Map<String, Object> last() {
        return last;
    }
}
