package io.lockstep.driver.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/** A job running in a spark-submit child process. */
public final class Submission implements AutoCloseable {
    private final StandaloneCluster cluster;
    private final Process process;
    private final Path log;
    private final StringBuffer output = new StringBuffer();
    private final Set<Long> executors = ConcurrentHashMap.newKeySet();
    private final Thread pump;
    private final Thread watcher;

    Submission(StandaloneCluster cluster, Process process, Path log) {
        this.cluster = cluster;
        this.process = process;
        this.log = log;
        cluster.seen.add(process.pid());
        this.pump = new Thread(this::pump, "spark-submit-output-" + process.pid());
        this.pump.setDaemon(true);
        this.pump.start();
        // the executors this job ran on (they exit with the application): look every 200 ms while it runs
        this.watcher = new Thread(() -> {
            while (process.isAlive()) {
                cluster.executors().forEach(e -> executors.add(e.pid()));
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "spark-submit-executors-" + process.pid());
        this.watcher.setDaemon(true);
        this.watcher.start();
    }

    private void pump() {
        try (InputStream in = process.getInputStream(); OutputStream file = Files.newOutputStream(log)) {
            byte[] buf = new byte[8192];
            for (int n; (n = in.read(buf)) >= 0; ) {
                file.write(buf, 0, n);
                file.flush();
                output.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            output.append("\n[output pump: ").append(e).append("]\n");
        }
    }

    /** The driver's process (and, through it, whatever it started). */
    ProcessHandle handle() {
        return process.toHandle();
    }

    /** The driver's pid (the spark-submit scripts exec into the driver JVM). */
    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Everything the driver printed so far (stdout and stderr interleaved). */
    public String output() {
        return output.toString();
    }

    public Path logFile() {
        return log;
    }

    /** Executor pids seen while this job ran (polled every 200 ms). */
    public Set<Long> executorsSeen() {
        return Set.copyOf(executors);
    }

    /** Waits until the output matches {@code pattern} (anywhere); false if the job ended or time ran out first. */
    public boolean awaitOutput(Pattern pattern, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            if (pattern.matcher(output).find()) {
                return true;
            }
            if (!process.isAlive()) {
                pump.join(5000);
                return pattern.matcher(output).find();
            }
            Thread.sleep(100);
        }
        return false;
    }

    /** Waits for the job to end; kills the driver (and fails) if it runs past {@code timeout}. */
    public StandaloneCluster.Result await(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            kill();
            throw new IllegalStateException("spark-submit did not finish within " + timeout + " (killed); output in "
                + log + ", ends:\n" + StandaloneCluster.tail(output(), 30));
        }
        pump.join(10_000);
        watcher.join(5_000);
        return new StandaloneCluster.Result(process.exitValue(), output(), process.pid(), executorsSeen());
    }

    /** SIGKILL to the driver and anything it started. */
    public void kill() throws InterruptedException {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
        pump.join(5_000);
    }
}
