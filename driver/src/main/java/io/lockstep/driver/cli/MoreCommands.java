package io.lockstep.driver.cli;

import java.util.List;

/**
 * Commands another module adds to {@code lockstep} (the bench module's benchmarks, which stay out of the driver's
 * jar), found with {@link java.util.ServiceLoader} when that module is on the classpath.
 */
public interface MoreCommands {
    /** picocli commands (objects of {@code @Command} classes), in the order {@code lockstep --help} lists them. */
    List<Object> commands();
}
