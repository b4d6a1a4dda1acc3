package io.lockstep.worker.device;

import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Serializable;

/**
 * The device one worker computes on: the GPU Spark's resource scheduling gave its task
 * ({@code spark.task.resource.gpu.amount=1}), or the CPU. A JVM cannot set {@code CUDA_VISIBLE_DEVICES} per task,
 * and ND4J's CUDA backend hands devices to new threads round-robin, so every thread that touches this worker's
 * arrays (the training thread, the batch prefetch thread) binds itself with {@link #bindCurrentThread()} before
 * its first ND4J operation: two tasks of one executor then never share a GPU.
 *
 * @param gpu     the address Spark assigned (a CUDA ordinal such as "1"); null: none assigned
 * @param backend ND4J's backend in this JVM ({@code cpu} or {@code cuda})
 */
public record Device(String gpu, String backend) implements Serializable {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    private static final ThreadLocal<Device> BOUND = new ThreadLocal<>();

    /**
     * The device for rank {@code rank}'s task, given the GPU addresses Spark assigned it (null or empty: none).
     * More than one address: the first is used (one worker per GPU), the rest stay idle (logged).
     */
    public static Device forTask(int rank, String[] gpus) {
        String backend = ndBackend();
        if (gpus == null || gpus.length == 0) {
            if (backend.equals("cuda")) {
                LOG.warn("rank {}: no GPU assigned by Spark (spark.task.resource.gpu.amount unset?): ND4J's CUDA"
                    + " backend will pick a device itself", rank);
            }
            return new Device(null, backend);
        }
        String gpu = gpus[0].trim();
        if (gpus.length > 1) {
            LOG.warn("rank {}: Spark assigned GPUs {}; one worker uses one GPU: {} (set spark.task.resource.gpu.amount=1"
                + " to run one worker per GPU)", rank, String.join(", ", gpus), gpu);
        }
        ordinal(gpu, rank); // refuses an address that is not a device number, naming it
        Device device = new Device(gpu, backend);
        if (!device.usesGpu()) {
            LOG.warn("rank {}: Spark assigned GPU {} but ND4J's backend here is the CPU: training on the CPU (the"
                + " GPU build is ./mvnw -Pcuda -Pdist package, see README 'GPUs')", rank, gpu);
        }
        return device;
    }

    /** The CPU, whatever the backend. */
    public static Device cpu() {
        return new Device(null, "cpu");
    }

    /** ND4J's backend in this JVM: {@code cuda} or {@code cpu}. */
    public static String ndBackend() {
        return Nd4j.getBackend().getClass().getSimpleName().toLowerCase(java.util.Locale.ROOT).contains("cublas")
            ? "cuda" : "cpu";
    }

    /** True when this worker's arrays live on its GPU. */
    public boolean usesGpu() {
        return gpu != null && backend.equals("cuda");
    }

    /** Binds the calling thread's ND4J work to this device; call it before the thread's first ND4J operation. */
    public void bindCurrentThread() {
        if (usesGpu()) {
            Nd4j.getAffinityManager().unsafeSetDevice(ordinal(gpu, -1));
        }
        BOUND.set(this);
    }

    /** What {@link #bindCurrentThread()} last bound on the calling thread; null: never bound. */
    public static Device boundToCurrentThread() {
        return BOUND.get();
    }

    /** As summary.json reports it: {@code gpu 1}, {@code cpu}, or {@code cpu (gpu 1 assigned, backend cpu)}. */
    public String describe() {
        if (gpu == null) {
            return "cpu";
        }
        return usesGpu() ? "gpu " + gpu : "cpu (gpu " + gpu + " assigned, backend " + backend + ")";
    }

    private static int ordinal(String gpu, int rank) {
        try {
            return Integer.parseInt(gpu);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException((rank >= 0 ? "rank " + rank + ": " : "") + "GPU address '" + gpu
                + "' from Spark's resource scheduling is not a CUDA device number: the discovery script"
                + " (spark.executor.resource.gpu.discoveryScript) must print ordinals such as \"0\", \"1\"");
        }
    }
}
