package io.lockstep.driver.cli;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.doctor.Checkup;
import io.lockstep.driver.job.TrainingJob;
import io.lockstep.worker.cpu.NativeBuild;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;

/**
 * {@code lockstep train CONFIG [--set key=value]...}, {@code lockstep doctor [CONFIG]} and {@code lockstep inspect PATH}, and the commands other
 * modules on the classpath add ({@link MoreCommands}: {@code lockstep bench} and the other benchmarks).
 */
@Command(name = "lockstep", mixinStandardHelpOptions = true, version = "lockstep 0.1.0",
    description = "Synchronous data-parallel DL4J training on Spark with an Aeron parameter server.",
    subcommands = {LockstepCli.Train.class, Doctor.class, Inspect.class, Evaluate.class})
public final class LockstepCli {

    @Command(name = "train", mixinStandardHelpOptions = true, description = "Run a training job.")
    static final class Train implements Callable<Integer> {
        @Parameters(index = "0", paramLabel = "CONFIG", description = "job YAML, e.g. examples/mnist-mlp.yaml")
        Path config;

        @Option(names = "--set", paramLabel = "KEY=VALUE", description = "override a config key, e.g. epochs=2")
        List<String> overrides = new ArrayList<>();

        @Option(names = "--resume", description = "continue from the newest valid checkpoint in checkpoint.dir "
            + "(same as --set resume=latest)")
        boolean resume;

        @Override
        public Integer call() throws Exception {
            List<String> settings = new ArrayList<>(overrides);
            if (resume) {
                settings.add("resume=latest");
            }
            JobConfig job = ConfigLoader.load(config, settings);
            Checkup.preflight(job); // output.dir, data paths, /dev/shm, memory, ps.host: before Spark starts
            TrainingJob.run(job);
            return 0;
        }
    }

    public static void main(String[] args) {
        NativeBuild.select(); // the AVX2 or the generic natives, before anything loads ND4J
        int code;
        try {
            code = commandLine()
                .setExecutionExceptionHandler((e, cmd, parsed) -> {
                    System.err.println("lockstep: error: " + oneLine(e));
                    if (Boolean.getBoolean("lockstep.trace")) {
                        e.printStackTrace();
                    }
                    return e instanceof ConfigLoader.ConfigException ? 2 : 1;
                })
                .execute(args);
        } catch (Throwable t) {
            System.err.println("lockstep: error: " + oneLine(t));
            code = 1;
        }
        // Spark leaves non-daemon threads (e.g. the barrier task timer): end the JVM with the job
        System.exit(code);
    }

    /** The command line: train, doctor, and every command a {@link MoreCommands} on the classpath adds. */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new LockstepCli());
        for (MoreCommands more : ServiceLoader.load(MoreCommands.class)) {
            more.commands().forEach(cli::addSubcommand);
        }
        return cli;
    }

    /** The first message in the cause chain that explains the failure (Spark's wrappers skipped), on one line. */
    public static String oneLine(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t.getMessage() != null && explains(t)) {
                return t.getMessage().lines().findFirst().orElse("");
            }
        }
        String message = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
        return message.lines().findFirst().orElse(message);
    }

    /** Exceptions Lockstep throws with a message meant for the user. */
    private static boolean explains(Throwable t) {
        return t instanceof IllegalArgumentException || t instanceof IllegalStateException
            || t instanceof java.io.IOException || t instanceof java.io.UncheckedIOException
            || t instanceof java.util.concurrent.TimeoutException;
    }
}
