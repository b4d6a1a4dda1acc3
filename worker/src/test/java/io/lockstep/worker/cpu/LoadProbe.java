package io.lockstep.worker.cpu;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Run in a fresh JVM by {@link NativeBuildLoadTest}: chooses the build as Lockstep does, runs ND4J
 * ops on it (a matrix product through BLAS and one step of libnd4j's Adam op, the op the AVX2 build
 * speeds up) and prints one line: the extension chosen, the libnd4jcpu mapped, the results.
 */
public final class LoadProbe {
    private LoadProbe() {
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("javacpp-first")) {
            org.bytedeco.javacpp.Loader.getPlatform(); // as a program that used JavaCPP before starting Lockstep
        }
        NativeBuild.Choice choice = NativeBuild.select();
        INDArray a = Nd4j.linspace(1, 6, 6, DataType.FLOAT).reshape(2, 3);
        double product = a.mmul(a.transpose()).sumNumber().doubleValue(); // [[14, 32], [32, 77]]

        int n = 1000;
        INDArray gradient = Nd4j.linspace(-499.5, 499.5, n, DataType.FLOAT).reshape(1, n);
        GradientUpdater<?> adam = new Adam(0.1).instantiate(Nd4j.zeros(DataType.FLOAT, 1, 2L * n), true);
        adam.applyUpdater(gradient, 0, 0); // the first step is lr * sign(g), up to epsilon
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double g = -499.5 + i;
            worst = Math.max(worst, Math.abs(gradient.getDouble(0, i) - 0.1 * Math.signum(g)));
        }
        System.out.println("probe extension=[" + choice.extension() + "] loaded="
            + NativeBuild.loadedLibrary().orElse("none") + " product=" + product + " adamError=" + worst);
    }
}
