package io.lockstep.driver.spark;

import io.lockstep.worker.exchange.WireDrops;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.ExecutorLostFailure;
import org.apache.spark.TaskEndReason;
import org.apache.spark.TaskKilled;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * What really failed in a barrier stage. Spark reports a failed barrier stage only as "Could not
 * recover from a failed barrier ResultStage … barrier task ResultTask(2, 1) finished
 * unsuccessfully"; this listener keeps the first real failure of each stage — a rank's own
 * exception, or the loss of an executor with the reason its worker gave — skipping the tasks
 * Spark killed because a sibling failed. It also keeps the frame counts failed ranks attached to their
 * exceptions ({@link WireDrops#attachTo}): Spark ships a failed task's exception to the driver only here,
 * in the task's end event, not as the cause of a failed barrier stage.
 */
public final class StageFailures extends SparkListener {

    /**
     * The first real failure of a stage.
     *
     * @param rank      the failed task's partition = rank, or -1 when an executor was lost
     * @param executor  executor id
     * @param host      the executor's host
     * @param lost      the executor process was lost (killed, crashed, disconnected)
     * @param className the exception class a rank threw (null when lost)
     * @param message   the exception's message or the loss reason, on one line
     */
    public record Failure(int rank, String executor, String host, boolean lost, String className, String message) {

        /** One line for a user: who failed, where, and why. */
        public String describe() {
            String where = "executor " + executor + (host == null ? "" : " on " + host);
            return lost ? where + " was lost" + (rank >= 0 ? " while running rank " + rank : "")
                + (message == null || message.isEmpty() ? "" : ": " + message)
                : "rank " + rank + " (" + where + ") failed: " + message;
        }
    }

    private final Map<Integer, Failure> firstByStage = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.AtomicInteger lastStage = new java.util.concurrent.atomic.AtomicInteger(-1);
    private final Map<String, String> removedExecutors = new ConcurrentHashMap<>();
    private final Map<Integer, WireDrops> dropsByStage = new ConcurrentHashMap<>();

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        TaskEndReason reason = end.reason();
        Failure failure = null;
        if (reason instanceof ExceptionFailure f) {
            if (f.exception().isDefined()) { // an exception that did not serialize arrives as its text only
                dropsByStage.merge(end.stageId(), WireDrops.carriedBy(f.exception().get()), WireDrops::merge);
            }
            failure = new Failure(end.taskInfo().index(), end.taskInfo().executorId(), end.taskInfo().host(), false,
                f.className(), firstLine(stripClass(f.description(), f.className())));
        } else if (reason instanceof ExecutorLostFailure f) {
            String why = f.reason().isDefined() ? f.reason().get() : removedExecutors.get(f.execId());
            failure = new Failure(end.taskInfo().index(), f.execId(), end.taskInfo().host(), true, null, firstLine(why));
        } else if (reason instanceof TaskKilled) {
            return; // killed because a sibling in the barrier stage failed: not a cause
        }
        if (failure != null) {
            firstByStage.putIfAbsent(end.stageId(), failure);
            synchronized (this) {
                notifyAll();
            }
        }
    }

    @Override
    public void onStageSubmitted(org.apache.spark.scheduler.SparkListenerStageSubmitted submitted) {
        lastStage.accumulateAndGet(submitted.stageInfo().stageId(), Math::max);
    }

    /** The first stage id a job submitted from now on can have: failures of earlier stages are someone else's. */
    public int nextStage() {
        return lastStage.get() + 1;
    }

    @Override
    public void onExecutorRemoved(SparkListenerExecutorRemoved removed) {
        removedExecutors.put(removed.executorId(), removed.reason());
    }

    /**
     * The first failure recorded for any stage at or after {@code fromStage}, waiting up to
     * {@code waitMillis} for Spark's listener bus (it delivers events asynchronously, so the
     * failure may arrive just after the job's exception); null when none arrived.
     */
    public synchronized Failure first(int fromStage, long waitMillis) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMillis);
        while (true) {
            Failure found = firstByStage.entrySet().stream().filter(e -> e.getKey() >= fromStage)
                .min(Map.Entry.comparingByKey()).map(Map.Entry::getValue).orElse(null);
            long left = deadline - System.nanoTime();
            if (found != null || left <= 0) {
                return found;
            }
            TimeUnit.NANOSECONDS.timedWait(this, left);
        }
    }

    /**
     * The frame counts the failed tasks of any stage at or after {@code fromStage} carried back, merged
     * ({@link WireDrops#NONE} when none did); complete for the failures {@link #first} has seen.
     */
    public WireDrops drops(int fromStage) {
        return dropsByStage.entrySet().stream().filter(e -> e.getKey() >= fromStage).map(Map.Entry::getValue)
            .reduce(WireDrops.NONE, WireDrops::merge);
    }

    private static String stripClass(String description, String className) {
        if (description == null) {
            return className;
        }
        return description.startsWith(className + ": ") ? description.substring(className.length() + 2) : description;
    }

    private static String firstLine(String s) {
        return s == null ? "" : s.lines().findFirst().orElse("").trim();
    }
}
