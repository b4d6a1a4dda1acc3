package io.lockstep.bench;

import org.nd4j.linalg.factory.Nd4j;

/** Threads of libnd4j's own loops and of its BLAS (OpenBLAS), set in-process (OMP_NUM_THREADS only at start). */
final class NativeThreads {
    private NativeThreads() {
    }

    static void set(int threads) {
        Nd4j.getEnvironment().setMaxThreads(threads);
        Nd4j.getEnvironment().setMaxMasterThreads(threads);
        Nd4j.factory().blas().setMaxThreads(threads);
    }
}
