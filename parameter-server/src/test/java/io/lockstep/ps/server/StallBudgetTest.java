package io.lockstep.ps.server;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * ps.timeout_seconds is the one stall budget: a whole worker JVM (its media driver and Aeron client
 * included) stopped for longer than Aeron's default 10 s liveness timeouts, but within the budget,
 * carries on and the exchange stays exact. Rank 1 runs in a child JVM that the test stops with
 * SIGSTOP, as a long GC pause or a frozen container would; rank 0 and the server run here.
 */
@Tag("slow")
class StallBudgetTest {
    static final int N = 40_000;
    static final int STEPS = 4;
    static final long BUDGET_MS = 20_000;
    static final long PAUSE_MS = 12_000;

    @Test
    void aWorkerJvmStoppedLongerThanAeronsDefaultTimeoutsButWithinTheBudgetCarriesOn() throws Exception {
        ShardLayout layout = new ShardLayout(N, 2, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, 2)
            .transport(ExchangeSpec.Transport.UDP).termLength(4 * 1024 * 1024).timeoutMillis(BUDGET_MS).build();
        Path dir = Files.createTempDirectory("lockstep-stall");
        Path specFile = dir.resolve("spec.bin");
        try (ObjectOutputStream out = new ObjectOutputStream(Files.newOutputStream(specFile))) {
            out.writeObject(spec);
        }
        Path log = dir.resolve("rank1.log");
        CountDownLatch stepOneDone = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        Process child = null;
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, (step, samples, loss, t) -> {
                 if (step == 1) {
                     stepOneDone.countDown();
                 }
             })) {
            child = launch(specFile, 1, log);
            Future<?> rank0 = pool.submit(() -> {
                runWorker(workerAeron, spec, 0);
                return null;
            });
            assertTrue(stepOneDone.await(60, TimeUnit.SECONDS), "step 1 never completed: " + read(log));
            signal(child, "STOP");
            long stopped = System.nanoTime();
            Thread.sleep(PAUSE_MS);
            signal(child, "CONT");
            rank0.get(60, TimeUnit.SECONDS);
            assertTrue(child.waitFor(60, TimeUnit.SECONDS), "rank 1 did not finish: " + read(log));
            assertEquals(0, child.exitValue(), "rank 1 failed: " + read(log));
            assertTrue(System.nanoTime() - stopped >= TimeUnit.MILLISECONDS.toNanos(PAUSE_MS));
            assertNull(server.failure());
        } finally {
            if (child != null) {
                child.destroyForcibly();
            }
            pool.shutdownNow();
        }
    }

    /** Steps 0..STEPS-1 with values whose weighted sums are exact in float, checked after every step. */
    static void runWorker(EmbeddedAeron aeron, ExchangeSpec spec, int rank) throws Exception {
        int workers = spec.workers();
        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
        try (GradientClient client = new GradientClient(aeron.aeron(), spec, rank, "127.0.0.1")) {
            client.awaitConnected();
            for (int step = 0; step < STEPS; step++) {
                for (int i = 0; i < N; i++) {
                    vec.putFloat(i * 4, (float) ((rank + 1) * (i % 97) + step));
                }
                client.exchange(step, vec.addressOffset(), rank + 1 + step, rank);
                long total = 0;
                for (int q = 0; q < workers; q++) {
                    total += q + 1 + step;
                }
                assertEquals(total, client.totalSamples(), "rank " + rank + " step " + step);
                for (int i = 0; i < N; i++) {
                    float sum = 0;
                    for (int q = 0; q < workers; q++) {
                        sum += (q + 1 + step) * (float) ((q + 1) * (i % 97) + step);
                    }
                    assertEquals(sum / (float) total, vec.getFloat(i * 4), "rank " + rank + " step " + step + " value " + i);
                }
            }
        }
    }

    /** The child JVM: one worker rank, exit status 0 when every step's average was exact. */
    public static void main(String[] args) throws Exception {
        ExchangeSpec spec;
        try (ObjectInputStream in = new ObjectInputStream(Files.newInputStream(Path.of(args[0])))) {
            spec = (ExchangeSpec) in.readObject();
        }
        int rank = Integer.parseInt(args[1]);
        try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(spec)) {
            runWorker(aeron, spec, rank);
            System.out.println("rank " + rank + ": " + STEPS + " steps exact");
        } catch (Throwable e) {
            e.printStackTrace(System.out);
            System.out.flush();
            Runtime.getRuntime().halt(1);
        }
        System.exit(0);
    }

    private static Process launch(Path specFile, int rank, Path log) throws Exception {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        String flags = System.getProperty("lockstep.test.executor.flags", "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED");
        cmd.addAll(Arrays.stream(flags.trim().split("\\s+")).filter(s -> !s.isEmpty()).toList());
        cmd.addAll(List.of("-Xmx256m", "-XX:+UseSerialGC", "-cp", classpath, StallBudgetTest.class.getName(),
            specFile.toString(), String.valueOf(rank)));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void signal(Process p, String signal) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(p.pid())).inheritIO().start();
        assertEquals(0, kill.waitFor(), "kill -" + signal);
    }

    private static String read(Path log) {
        try {
            return log.toFile().exists() ? Files.readString(log) : "(no output)";
        } catch (Exception e) {
            return "(unreadable: " + e + ")";
        }
    }
}
