package io.lockstep.driver.cli;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.doctor.Checkup;
import io.lockstep.driver.doctor.ExecutorsCheck;
import io.lockstep.driver.doctor.Finding;
import io.lockstep.driver.doctor.Status;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code lockstep doctor [CONFIG]}: what a run needs from this machine and from its config, checked
 * before anything heavy starts, one line per check (OK, WARN or FAIL) saying what to change when
 * it is not OK ({@link Checkup}). The same checks run when {@code lockstep train} starts.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
    description = "Check this machine and a job config before a run: one line per check (OK, WARN, FAIL); "
        + "exit 0 when nothing FAILs.")
public final class Doctor implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
        description = "job YAML to check (without it: this machine, with the default settings)")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "override a config key, as for train")
    List<String> overrides = new ArrayList<>();

    @Option(names = "--on-cluster", description = "also run a short Spark application on the job's master: UDP between"
        + " the driver and every rank and between the ranks, on ps.ports, and checkpoint.dir seen by every rank"
        + " (deploy/spark-submit.sh doctor sets it)")
    boolean onCluster;

    @Override
    public Integer call() {
        JobConfig cfg;
        if (config != null) {
            cfg = ConfigLoader.load(config, overrides); // a config error ends here: exit 2, as for train
            System.out.println(new Finding(Status.OK, "config", config + ": every key valid", false).line());
        } else {
            if (!overrides.isEmpty()) {
                throw new ConfigLoader.ConfigException("--set " + overrides.get(0) + " needs a CONFIG");
            }
            cfg = JobConfig.defaults();
        }
        boolean failed = false;
        List<Finding> findings = new ArrayList<>(Checkup.run(cfg, config != null));
        for (Finding f : findings) {
            System.out.println(f.line());
            failed |= f.status() == Status.FAIL;
        }
        if (onCluster) {
            for (Finding f : ExecutorsCheck.run(cfg)) {
                System.out.println(f.line());
                failed |= f.status() == Status.FAIL;
            }
        }
        return failed ? 1 : 0;
    }
}
