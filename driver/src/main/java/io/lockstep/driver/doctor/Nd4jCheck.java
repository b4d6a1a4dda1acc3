package io.lockstep.driver.doctor;

import io.lockstep.worker.cpu.CpuFlags;
import io.lockstep.worker.cpu.NativeBuild;
import org.nd4j.linalg.factory.Nd4j;

import java.util.List;

/** The native ND4J backend loads, and whether its AVX2 build runs where the CPU has AVX2. */
final class Nd4jCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        return List.of(onThisMachine());
    }

    static Finding onThisMachine() {
        try {
            NativeBuild.Choice choice = NativeBuild.select(); // a no-op after LockstepCli's main
            Object backend = Nd4j.getBackend();
            Nd4j.create(new float[]{1f, 2f}).sumNumber();
            return nativeBuild("native backend " + backend.getClass().getSimpleName() + " loads ("
                + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ")", choice,
                NativeBuild.loadedLibrary().map(NativeBuild::platformOf).orElse(null), CpuFlags.ofThisMachine());
        } catch (Throwable t) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError ...
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String why = String.valueOf(root.getMessage()).lines().findFirst().orElse(root.getClass().getSimpleName());
            return Finding.fail("nd4j", "the native ND4J backend does not load (" + why + "): nd4j-native needs its"
                + " binaries for " + System.getProperty("os.name") + " " + System.getProperty("os.arch")
                + " on the classpath (linux-x86_64, macosx, windows, ... classifiers); rebuild with"
                + " ./mvnw -DskipTests install, and see why with LOCKSTEP_JAVA_OPTS=-Dorg.bytedeco.javacpp.logger.debug=true");
        }
    }

    /**
     * Which libnd4jcpu build runs ({@code loaded}: its platform folder, null where unknown) against what
     * the CPU can run: a WARN where an AVX2-capable CPU runs the generic build or the build loaded is
     * not the one chosen.
     */
    static Finding nativeBuild(String backend, NativeBuild.Choice choice, String loaded, CpuFlags cpu) {
        String build = loaded == null ? choice.build() : NativeBuild.label(loaded);
        boolean avx2Cpu = cpu.hasAll(NativeBuild.AVX2_NEEDS);
        String line = backend + "; build " + build + (loaded == null ? "" : " (" + loaded + "/libnd4jcpu.so)")
            + "; CPU " + (cpu.flags().isEmpty() ? "flags unknown (" + cpu.source() + ")"
            : (avx2Cpu ? "has AVX2" : "lacks " + cpu.missing(NativeBuild.AVX2_NEEDS)));
        if (loaded != null && !build.equals(choice.build())) {
            return Finding.warn("nd4j", line + ", but " + choice.build() + " was wanted: " + (choice.applied()
                ? "its natives are not on the classpath" : "JavaCPP started before Lockstep could choose; set -D"
                + NativeBuild.EXTENSION_PROPERTY + "=" + choice.extension() + " on the JVM"));
        }
        if (avx2Cpu && build.equals("generic")) {
            return Finding.warn("nd4j", line + ": the AVX2 build runs DL4J's Adam step about 2.5x faster; "
                + (choice.given() ? "remove -D" + NativeBuild.EXTENSION_PROPERTY + "= or set it to -avx2"
                : "put org.nd4j:nd4j-native:linux-x86_64-avx2 on the classpath"));
        }
        return Finding.ok("nd4j", line);
    }
}
