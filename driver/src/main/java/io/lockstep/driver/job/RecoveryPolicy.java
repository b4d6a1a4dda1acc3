package io.lockstep.driver.job;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataLoader;
import io.lockstep.driver.spark.BarrierStage.AttemptFailed;
import io.lockstep.driver.spark.StageFailures;
import io.lockstep.driver.spark.StartPoint;
import io.lockstep.worker.exchange.WireDrops;
import io.lockstep.worker.train.NonFiniteException;
import org.apache.spark.api.java.JavaSparkContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.Set;

/**
 * Whether a failed attempt of the training stage runs again, and from where. A retryable failure (a lost
 * executor, a rank that stalled past the deadline or failed in the exchange) restarts the stage from the
 * newest valid checkpoint — step 0 without one — with a fresh job id, so leftovers of the failed attempt are
 * dropped as foreign, and a fresh parameter server. A fatal failure (bad data or config, a non-finite loss) or
 * the last allowed attempt ({@code recovery.max_attempts}) ends the job, naming the first real cause, which
 * {@link StageFailures} finds among Spark's task events while the policy is open.
 */
final class RecoveryPolicy implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    /** Exception classes a rank throws for bad data, config or a diverged model: retrying cannot help. */
    private static final Set<String> FATAL = Set.of(
        IllegalArgumentException.class.getName(), ConfigLoader.ConfigException.class.getName(),
        NumberFormatException.class.getName(), UnsupportedOperationException.class.getName(),
        NonFiniteException.class.getName());

    /** How long a failed stage's cause may take to arrive on Spark's (asynchronous) listener bus. */
    private static final long CAUSE_WAIT_MILLIS = 3000;

    private final JavaSparkContext sc;
    private final JobConfig cfg;
    private final Prepared prepared;
    private final StageFailures failures = new StageFailures();
    private int stageFrom;

    /** Starts listening to {@code sc}'s task events until {@link #close()}. */
    RecoveryPolicy(JavaSparkContext sc, JobConfig cfg, Prepared prepared) {
        this.sc = sc;
        this.cfg = cfg;
        this.prepared = prepared;
        sc.sc().addSparkListener(failures);
    }

    /** Why an attempt failed (one line), whether another attempt can help, and the frames refused in it. */
    record Diagnosis(String cause, boolean retryable, WireDrops drops) {
    }

    /** An attempt starts: failures of the stages submitted before it are not its own. */
    void attemptStarts() {
        stageFrom = failures.nextStage();
    }

    /** The first real cause of the failed attempt, and every frame count the driver and the failed tasks kept. */
    Diagnosis diagnose(AttemptFailed failed) throws InterruptedException {
        StageFailures.Failure f = failures.first(stageFrom, CAUSE_WAIT_MILLIS);
        // the driver's own counts, and what the failed tasks carried back in their exceptions
        WireDrops drops = failed.drops().merge(failures.drops(stageFrom));
        String cause = (f != null ? f.describe() : DataLoader.rootCause(failed).getMessage())
            + (failed.waiting().isEmpty() ? "" : " [parameter server: " + failed.waiting() + "]");
        boolean retryable = f == null || f.lost() || !FATAL.contains(f.className());
        return new Diagnosis(cause, retryable, drops);
    }

    /**
     * The error that ends the job when attempt {@code attempt} failed as {@code d} says and may not run again
     * (logged here with its whole chain; the CLI prints one line); null when another attempt runs.
     */
    IllegalStateException giveUp(Diagnosis d, int attempt, Throwable cause) {
        if (d.retryable() && attempt < cfg.recovery().maxAttempts()) {
            return null;
        }
        String message = (!d.retryable() ? "training stage failed: " + d.cause()
            : "training failed in all " + attempt + " attempts (recovery.max_attempts); the last: " + d.cause())
            + droppedThisAttempt(d.drops());
        LOG.error(message, cause);
        return new IllegalStateException(message, cause);
    }

    /** Where the next attempt starts: the newest valid checkpoint, else step 0. */
    StartPoint resumePoint() throws IOException {
        return Resume.latest(cfg, prepared.plan().checkpoints(), prepared.plan().identity(),
            prepared.start().params(), "recovery");
    }

    int maxAttempts() {
        return cfg.recovery().maxAttempts();
    }

    /** For the one-line error: " (frames dropped this attempt: shards malformed=3; workers ignored=2)", or "". */
    static String droppedThisAttempt(WireDrops drops) {
        String counted = drops.nonZero();
        return counted.isEmpty() ? "" : " (frames dropped this attempt: " + counted + ")";
    }

    @Override
    public void close() {
        sc.sc().removeSparkListener(failures);
    }
}
