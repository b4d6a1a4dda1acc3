package io.lockstep.worker.device;

import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The exchange reads and writes the gradient and parameter vectors through their host memory: on a GPU backend the
 * device's newer values must reach the host before (one device-to-host copy of each per step, into the same host
 * buffer every step), and what the exchange wrote must be marked as the newer copy after, so the next device
 * operation copies it up instead of reading a stale device buffer. On the CPU backend both are no-ops.
 */
public final class HostCopies {
    private HostCopies() {
    }

    /** Brings both arrays' newest values to their host buffers (two arrays, no varargs: nothing allocated per step). */
    public static void toHost(INDArray gradient, INDArray params) {
        AffinityManager affinity = Nd4j.getAffinityManager();
        affinity.ensureLocation(gradient, AffinityManager.Location.HOST);
        affinity.ensureLocation(params, AffinityManager.Location.HOST);
    }

    /** Marks both arrays' host buffers as the newest copies (the exchange wrote there). */
    public static void writtenOnHost(INDArray gradient, INDArray params) {
        AffinityManager affinity = Nd4j.getAffinityManager();
        affinity.tagLocation(gradient, AffinityManager.Location.HOST);
        affinity.tagLocation(params, AffinityManager.Location.HOST);
    }
}
