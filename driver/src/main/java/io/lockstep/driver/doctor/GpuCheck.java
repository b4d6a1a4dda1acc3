package io.lockstep.driver.doctor;

import io.lockstep.worker.device.Device;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * GPUs: what the job asks of Spark's resource scheduling, what the discovery script finds on this host, and
 * whether ND4J's backend here can use them (the CPU build records an assigned GPU but computes on the CPU).
 */
final class GpuCheck implements Check {
    static final String TASK_AMOUNT = "spark.task.resource.gpu.amount";
    static final String EXECUTOR_AMOUNT = "spark.executor.resource.gpu.amount";
    static final String SCRIPT = "spark.executor.resource.gpu.discoveryScript";

    @Override
    public List<Finding> run(Setting job) {
        Map<String, String> conf = job.cfg().spark().conf();
        String backend = Device.ndBackend();
        String task = conf.get(TASK_AMOUNT);
        if (task == null) {
            return List.of(Finding.ok("gpu", "no GPUs requested (" + TASK_AMOUNT + " unset): workers compute on the"
                + " CPU; ND4J backend " + backend));
        }
        String found = conf.containsKey(SCRIPT) ? discover(conf.get(SCRIPT)) : "no " + SCRIPT + " (the cluster"
            + " manager assigns them)";
        String asked = TASK_AMOUNT + "=" + task + ", " + EXECUTOR_AMOUNT + "=" + conf.getOrDefault(EXECUTOR_AMOUNT, "unset")
            + "; this host: " + found;
        if (!task.trim().equals("1")) {
            return List.of(Finding.warn("gpu", asked + ": one worker uses one GPU, so " + TASK_AMOUNT + " should be 1"
                + " (extra GPUs of a task stay idle)"));
        }
        if (!backend.equals("cuda")) {
            return List.of(Finding.warn("gpu", asked + ": but ND4J's backend is the CPU (this is the CPU build):"
                + " assigned GPUs are recorded, not used; build with ./mvnw -Dcuda -Pdist package"));
        }
        return List.of(Finding.ok("gpu", asked + "; backend cuda: each worker binds its threads to its task's GPU"));
    }

    /** The addresses the discovery script prints on this host, or why it could not be run. */
    static String discover(String script) {
        if (!Files.isExecutable(Path.of(script))) {
            return "discovery script " + script + " is not an executable file here";
        }
        try {
            Process p = new ProcessBuilder(script).redirectErrorStream(true).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "discovery script " + script + " did not finish in 10 s";
            }
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            return p.exitValue() == 0 ? "discovery script prints " + out : "discovery script " + script + " failed (exit "
                + p.exitValue() + "): " + out.lines().findFirst().orElse("");
        } catch (IOException e) {
            return "discovery script " + script + " could not run: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted";
        }
    }
}
