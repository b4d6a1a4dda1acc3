package io.lockstep.worker.cpu;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Which build of ND4J's native library (libnd4jcpu) this JVM loads: the AVX2 one where the CPU has
 * what it was compiled for, else the generic x86-64 one. Both ship with Lockstep
 * ({@code nd4j-native} classifiers {@code linux-x86_64} and {@code linux-x86_64-avx2}); JavaCPP
 * picks one by the system property {@value #EXTENSION_PROPERTY}, read once, when its
 * {@code Loader} class first initialises. {@link #select()} must therefore run before anything
 * touches ND4J or JavaCPP: the CLI's main, {@code Lockstep}'s API entry and {@code Network} (the
 * first ND4J use of a Spark task on an executor) call it. A value the user gave wins.
 *
 * <p>Why set it at all: with the property unset and both jars on the classpath, JavaCPP takes the
 * first extension of ND4J's list it finds, {@code -avx2}, whatever the CPU (checked with JavaCPP
 * 1.5.7): on a CPU without AVX2 that dies with SIGILL. So the generic build is chosen explicitly
 * (an empty extension). Measured gain of the AVX2 build on the MNIST MLP: docs/benchmarks.md, "CPU build".
 */
public final class NativeBuild {
    private static final Logger LOG = LoggerFactory.getLogger(NativeBuild.class);

    public static final String EXTENSION_PROPERTY = "org.bytedeco.javacpp.platform.extension";
    public static final String AVX2_EXTENSION = "-avx2";
    /**
     * What the AVX2 libnd4jcpu of 1.0.0-M2.1 executes beyond x86-64: AVX2 and FMA ({@code vfmadd*},
     * 276k of them) and F16C ({@code vcvtph2ps}/{@code vcvtps2ph}, 250k), found by disassembling it;
     * no BMI or MOVBE.
     */
    public static final List<String> AVX2_NEEDS = List.of("avx", "avx2", "fma", "f16c");
    /** The AVX2 library inside {@code nd4j-native-*-linux-x86_64-avx2.jar} (and the dist jar). */
    static final String AVX2_LIBRARY = "org/nd4j/linalg/cpu/nativecpu/bindings/linux-x86_64-avx2/libnd4jcpu.so";

    /**
     * The build a JVM uses.
     *
     * @param extension the value of {@value #EXTENSION_PROPERTY} ({@code ""}: generic)
     * @param given     whether the user (or a launcher) set it rather than Lockstep
     * @param applied   false when JavaCPP had started before the choice: then {@code extension} is what
     *                  this CPU should have got, and what loaded is whatever JavaCPP found first
     * @param reason    why, for the log line
     */
    public record Choice(String extension, boolean given, boolean applied, String reason) {
        /** "avx2", "generic", or the extension without its dash. */
        public String build() {
            return label(extension);
        }

        public String line() {
            return "ND4J native build: " + (applied ? build() : "not chosen") + " (" + reason + ")";
        }
    }

    private static Choice selected;

    private NativeBuild() {
    }

    /**
     * Chooses the build for this JVM once, sets {@value #EXTENSION_PROPERTY} when the user did not,
     * and logs the choice on one line. Later calls return the first choice. Too late when JavaCPP
     * has already initialised in this JVM: then nothing is set, and a warning names what was loaded.
     */
    public static synchronized Choice select() {
        if (selected != null) {
            return selected;
        }
        CpuFlags cpu = CpuFlags.ofThisMachine();
        Choice choice = decide(System.getProperty(EXTENSION_PROPERTY), cpu, avx2Shipped());
        boolean javacppStarted = mappedLibrary("libjnijavacpp.so").isPresent(); // Linux; elsewhere not detected
        if (javacppStarted && !choice.given()) {
            String nd4j = loadedLibrary().map(NativeBuild::platformOf).orElse("not yet");
            choice = new Choice(choice.extension(), false, false, "JavaCPP was initialised before Lockstep started,"
                + " libnd4jcpu loaded: " + nd4j + "; for this CPU set -D" + EXTENSION_PROPERTY + "="
                + choice.extension() + " on the JVM's command line");
            LOG.warn(choice.line());
        } else {
            if (!choice.given()) {
                System.setProperty(EXTENSION_PROPERTY, choice.extension());
            }
            if (choice.extension().equals(AVX2_EXTENSION) && !cpu.flags().isEmpty() && !cpu.hasAll(AVX2_NEEDS)) {
                LOG.warn(choice.line() + ": this CPU lacks " + cpu.missing(AVX2_NEEDS)
                    + ", libnd4jcpu will likely die with SIGILL");
            } else {
                LOG.info(choice.line());
            }
        }
        selected = choice;
        return choice;
    }

    /**
     * The choice for a CPU: the user's {@code given} extension when set; else AVX2 when the CPU has
     * {@link #AVX2_NEEDS} and the AVX2 natives are on the classpath; else generic.
     */
    static Choice decide(String given, CpuFlags cpu, boolean avx2Shipped) {
        String has = "CPU flags from " + cpu.source() + (cpu.flags().isEmpty() ? "" : ": "
            + (cpu.hasAll(AVX2_NEEDS) ? "has " + String.join(" ", AVX2_NEEDS) : "lacks " + cpu.missing(AVX2_NEEDS)));
        if (given != null) {
            return new Choice(given.trim(), true, true, "-D" + EXTENSION_PROPERTY + "=" + given.trim() + " given; " + has);
        }
        if (!cpu.hasAll(AVX2_NEEDS)) {
            return new Choice("", false, true, has);
        }
        if (!avx2Shipped) {
            return new Choice("", false, true, has + ", but the AVX2 natives (org.nd4j:nd4j-native:linux-x86_64-avx2)"
                + " are not on the classpath");
        }
        return new Choice(AVX2_EXTENSION, false, true, has);
    }

    /** Whether the AVX2 libnd4jcpu is on the classpath that loads ND4J. */
    static boolean avx2Shipped() {
        ClassLoader loader = NativeBuild.class.getClassLoader();
        return (loader == null ? ClassLoader.getSystemResource(AVX2_LIBRARY) : loader.getResource(AVX2_LIBRARY)) != null;
    }

    /** The libnd4jcpu this JVM has loaded (its file in JavaCPP's cache), from the process's memory map; Linux only. */
    public static Optional<String> loadedLibrary() {
        return mappedLibrary("libnd4jcpu.so");
    }

    /**
     * The platform folder of a loaded libnd4jcpu, i.e. the build: {@code linux-x86_64-avx2} for
     * {@code ~/.javacpp/cache/…/bindings/linux-x86_64-avx2/libnd4jcpu.so}.
     */
    public static String platformOf(String libraryPath) {
        Path parent = Path.of(libraryPath).getParent();
        return parent == null ? libraryPath : parent.getFileName().toString();
    }

    /** "avx2" for "-avx2" (and for the folder "linux-x86_64-avx2"), "generic" for "" or "linux-x86_64". */
    public static String label(String extensionOrPlatform) {
        String s = extensionOrPlatform.startsWith("linux-x86_64") ? extensionOrPlatform.substring(12) : extensionOrPlatform;
        return s.isEmpty() ? "generic" : s.startsWith("-") ? s.substring(1) : s;
    }

    /** The path of a shared library this process has mapped whose file name is {@code name}, from /proc/self/maps. */
    private static Optional<String> mappedLibrary(String name) {
        Path maps = Path.of("/proc/self/maps");
        if (!Files.isReadable(maps)) {
            return Optional.empty();
        }
        try (Stream<String> lines = Files.lines(maps)) {
            return lines.map(l -> l.indexOf('/') < 0 ? "" : l.substring(l.indexOf('/')))
                .filter(p -> p.endsWith("/" + name)).findFirst();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
