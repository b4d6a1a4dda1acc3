package io.lockstep.ps.server;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The listeners a job's driver gives its parameter server, findable by job id in the driver's own JVM.
 * A job whose only worker runs in that JVM (embedded Spark) needs no exchange at all: the worker steps
 * alone and tells these listeners directly what the server would have told them.
 */
public final class JobListeners {
    private static final Map<Long, JobListeners> BY_JOB = new ConcurrentHashMap<>();

    private final StepListener steps;
    private final GatherListener gathers;

    private JobListeners(StepListener steps, GatherListener gathers) {
        this.steps = steps;
        this.gathers = gathers;
    }

    public StepListener steps() { return steps; }
    public GatherListener gathers() { return gathers; }

    /** Registers the job's listeners until the returned handle is closed. */
    public static Registration register(long jobId, StepListener steps, GatherListener gathers) {
        JobListeners listeners = new JobListeners(steps, gathers);
        if (BY_JOB.putIfAbsent(jobId, listeners) != null) {
            throw new IllegalStateException("job " + Long.toHexString(jobId) + " already has listeners here");
        }
        return () -> BY_JOB.remove(jobId, listeners);
    }

    /** Ends a registration. */
    @FunctionalInterface
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    /** The job's listeners when its driver runs in this JVM, else null. */
    public static JobListeners find(long jobId) {
        return BY_JOB.get(jobId);
    }
}
