package io.lockstep.driver.doctor;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.output.RunOutputs;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * What a run needs from this machine and from its config, checked before anything heavy starts: the Spark
 * master's task slots, the native ND4J backend, the data paths and output.dir (for a job), /dev/shm against
 * what Aeron maps, heap and off-heap against the model's size, and that the driver's endpoint address binds. One
 * {@link Finding} per line, in that order; {@code lockstep doctor} prints them, {@code lockstep train} runs
 * them first ({@link #preflight}).
 */
public final class Checkup {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");

    private Checkup() {
    }

    /** Every check for a job (data paths and output.dir included). */
    public static List<Finding> run(JobConfig cfg) {
        return run(cfg, true);
    }

    /** The checks for {@code cfg}; without a job ({@code withJob} false) this machine's alone. */
    public static List<Finding> run(JobConfig cfg, boolean withJob) {
        Setting job = Setting.of(cfg, withJob);
        List<Check> checks = new ArrayList<>(List.of(new SparkCheck(), new Nd4jCheck(), new GpuCheck()));
        if (withJob) {
            checks.addAll(List.of(new DataCheck(), new OutputCheck()));
        }
        checks.addAll(List.of(new ShmCheck(), new MemoryCheck(), new PortsCheck()));
        List<Finding> findings = new ArrayList<>();
        for (Check c : checks) {
            findings.addAll(c.run(job));
        }
        return findings;
    }

    /**
     * The checks of {@code lockstep train} before the job runs: output.dir is created (a config
     * error when it cannot be), WARN lines are logged, and the first FAIL is thrown, as a
     * {@link ConfigLoader.ConfigException} when a config key's value causes it.
     */
    public static void preflight(JobConfig cfg) throws IOException {
        RunOutputs.prepare(Path.of(cfg.output().dir()));
        for (Finding f : run(cfg, true)) {
            if (f.name().equals("output")) {
                continue; // prepared above
            }
            if (f.status() == Status.WARN) {
                LOG.warn("{}: {}", f.name(), f.message());
            } else if (f.status() == Status.FAIL) {
                if (f.configError()) {
                    throw new ConfigLoader.ConfigException(f.message());
                }
                throw new IllegalStateException(f.message());
            }
        }
    }
}
