package io.lockstep.driver.doctor;

import io.lockstep.driver.config.Task;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataPaths;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.lockstep.driver.doctor.Bytes.MIB;
import static io.lockstep.driver.doctor.Bytes.format;

/** The heap and off-heap limits (and each executor's memory) against the model's size ({@link ModelSize}). */
final class MemoryCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        long params = job.withJob()
            ? ModelSize.parameters(job.cfg(), DataPaths.features(DataPaths.hadoop(job.cfg()), job.cfg().data())) : -1;
        return find(job, params, Runtime.getRuntime().maxMemory(), offHeapLimit());
    }

    static List<Finding> find(Setting job, long params, long heapMax, long offHeapMax) {
        JobConfig cfg = job.cfg();
        Placement where = job.where();
        List<Finding> findings = new ArrayList<>();
        if (params < 0) {
            findings.add(Finding.ok("heap", "-Xmx " + format(heapMax) + "; off-heap limit " + format(offHeapMax)
                + " (org.bytedeco.javacpp.maxbytes); the model's size is not known before the data or the model is read"
                + " (model.type " + cfg.model().type().key() + (cfg.model().initFrom() != null ? ", model.init_from" : "")
                + ", data.format " + cfg.data().format() + ")"));
            return findings;
        }
        if (params > Integer.MAX_VALUE) {
            findings.add(Finding.fail("model", String.format(Locale.ROOT, "%,d parameters: more than the %,d one flat"
                + " parameter vector holds (model.hidden, model.*): train a smaller model", params, Integer.MAX_VALUE)));
        }
        int copies = ModelSize.stateCopies(cfg);
        int replicas = where.workersInDriver() ? cfg.workers() + 1 : 1;
        long offHeap = params * Float.BYTES * (2 + copies) * replicas;
        String model = String.format(Locale.ROOT, "%,d parameters%s", params,
            cfg.task() == Task.CLASSIFICATION && cfg.data().classes() == null ? " or more (data.classes not set)" : "");
        String offWhat = model + " x 4 B x (parameters, gradient" + (copies == 0 ? "" : ", " + copies
            + " optimizer state vector" + (copies == 1 ? "" : "s")) + ") x " + replicas
            + (where.workersInDriver() ? " (" + cfg.workers() + " workers and the driver's copy)" : " (the driver's copy)");
        findings.add(limit("off-heap", offHeap, offHeapMax, "about " + format(offHeap) + " off-heap for " + offWhat
            + ", of " + format(offHeapMax) + " allowed (org.bytedeco.javacpp.maxbytes, default -Xmx)",
            "raise it (LOCKSTEP_JAVA_OPTS=\"-Xmx16g -Dorg.bytedeco.javacpp.maxbytes=16g\", spark.driver.memory with"
                + " spark-submit), run fewer workers in this JVM, or train a smaller model"));
        // float[] copies on the heap: the start point and the published parameters, and each replica's
        // result (last and best parameters) collected to the driver
        long heap = params * Float.BYTES * (2 + 2L * cfg.workers());
        findings.add(limit("heap", heap, heapMax, "about " + format(heap) + " of heap for " + model + " x 4 B x "
            + (2 + 2L * cfg.workers()) + " float[] copies (start point, published, last and best of each worker), of "
            + format(heapMax) + " (-Xmx)", "raise -Xmx (LOCKSTEP_JAVA_OPTS=-Xmx16g; spark.driver.memory with"
            + " spark-submit) or train a smaller model"));
        if (!where.sameHost()) {
            findings.add(executor(cfg, where, params * Float.BYTES * (2 + copies) * where.workersPerExecutor()));
        }
        return findings;
    }

    /** Each executor JVM's off-heap need against spark.executor.memory (the off-heap limit follows -Xmx). */
    private static Finding executor(JobConfig cfg, Placement where, long need) {
        long executorMemory = sizeOf(cfg.spark().conf().get("spark.executor.memory"), 1024 * MIB);
        String line = "each executor JVM needs about " + format(need) + " off-heap for its "
            + where.workersPerExecutor() + " worker" + (where.workersPerExecutor() == 1 ? "" : "s")
            + ", spark.executor.memory is " + format(executorMemory);
        return need > executorMemory / 2
            ? Finding.warn("executor", line + ": raise spark.executor.memory (the off-heap limit follows -Xmx) and"
                + " spark.executor.memoryOverhead")
            : Finding.ok("executor", line);
    }

    private static Finding limit(String name, long need, long max, String what, String remedy) {
        if (need > max) {
            return Finding.fail(name, what + ": " + remedy);
        }
        if (need > max / 2) {
            return Finding.warn(name, what + ": tight; " + remedy);
        }
        return Finding.ok(name, what);
    }

    /** A JVM memory size as Spark writes it (512m, 4g, 1073741824), or {@code dflt}. */
    static long sizeOf(String text, long dflt) {
        if (text == null || text.isBlank()) {
            return dflt;
        }
        Matcher m = Pattern.compile("(\\d+)\\s*([kmgt]?)b?", Pattern.CASE_INSENSITIVE).matcher(text.trim());
        if (!m.matches()) {
            return dflt;
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> n * 1024;
            case "m" -> n * MIB;
            case "g" -> n * 1024 * MIB;
            case "t" -> n * 1024 * 1024 * MIB;
            default -> text.trim().matches("\\d+") ? n : n * MIB; // Spark reads a bare number as MiB
        };
    }

    static long offHeapLimit() {
        try {
            return org.bytedeco.javacpp.Pointer.maxBytes();
        } catch (Throwable t) {
            return Runtime.getRuntime().maxMemory();
        }
    }
}
