package io.lockstep.bench;

import io.lockstep.ps.ExchangeSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

/**
 * {@code lockstep bench-alloc}: heap bytes allocated per exchange in steady state, by thread role, and
 * the garbage collections over the run. N clients exchange back to back ({@link ExchangeRun}); after
 * the warm-up, every live thread's allocation counter ({@code com.sun.management.ThreadMXBean}), the
 * JVM's total and the collectors' counts are read, again after the measured span, and the differences
 * divided by the steps in between. Where the bytes come from: run with
 * {@code LOCKSTEP_JAVA_OPTS="-Xmx8g -XX:StartFlightRecording=filename=alloc.jfr"}, then
 * {@code jfr print --events jdk.ObjectAllocationSample alloc.jfr}.
 */
@Command(name = "bench-alloc", mixinStandardHelpOptions = true,
    description = "Measure heap bytes allocated per exchange step (by thread role) and GC counts over a run.")
public final class AllocationBench implements Callable<Integer> {
    @Option(names = "--floats", description = "vector size (default: ${DEFAULT-VALUE}, the MNIST MLP's parameters)")
    String floats = "235146";

    @Option(names = "--clients", description = "client threads (default: ${DEFAULT-VALUE})")
    int clients = 2;

    @Option(names = "--transport", description = "ipc or udp (default: ${DEFAULT-VALUE})")
    String transport = "udp";

    @Option(names = "--shards", description = "parameter-server shards (default: ${DEFAULT-VALUE})")
    int shards = 2;

    @Option(names = "--warmup-seconds", description = "unmeasured exchanging first (default: ${DEFAULT-VALUE})")
    int warmupSeconds = 10;

    @Option(names = "--seconds", description = "measured span (default: ${DEFAULT-VALUE})")
    int seconds = 60;

    /** Allocation counters of every thread (by id, with its name), the JVM total, collections and their time. */
    record Snapshot(long steps, Map<Long, String> names, Map<Long, Long> bytes, long total, long gcCount, long gcMillis) {
    }

    @Override
    public Integer call() throws Exception {
        int n = Math.toIntExact(BenchArgs.count(floats, "--floats"));
        ExchangeSpec.Transport t = BenchArgs.transports(transport, "--transport").get(0);
        if (clients < 1 || seconds < 1 || warmupSeconds < 0) {
            throw new IllegalArgumentException("--clients and --seconds must be >= 1, --warmup-seconds >= 0");
        }
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        if (!threads.isThreadAllocatedMemorySupported()) {
            throw new IllegalStateException("this JVM does not count allocated bytes per thread");
        }
        threads.setThreadAllocatedMemoryEnabled(true);
        System.out.printf(Locale.ROOT, "bench-alloc: %s floats, %d clients, %s, %d shards, %d s warm-up, %d s measured%n",
            BenchArgs.floats(n), clients, t, shards, warmupSeconds, seconds);
        Snapshot before;
        Snapshot after;
        try (ExchangeRun run = new ExchangeRun(t, clients, n, shards, ExchangeSpec.DEFAULT_TERM_LENGTH,
            ExchangeSpec.DEFAULT_MTU, Long.MAX_VALUE, 0)) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (run.completedSteps() == 0) { // connected and exchanging
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("no exchange completed within 120 s");
                }
                Thread.sleep(10);
            }
            Thread.sleep(TimeUnit.SECONDS.toMillis(warmupSeconds));
            before = snapshot(threads, run.completedSteps());
            Thread.sleep(TimeUnit.SECONDS.toMillis(seconds));
            after = snapshot(threads, run.completedSteps());
            run.requestStop();
            run.await(ExchangeRun.TIMEOUT_MS);
        }
        System.out.print(report(before, after));
        return 0;
    }

    static Snapshot snapshot(com.sun.management.ThreadMXBean bean, long steps) {
        Map<Long, String> names = new LinkedHashMap<>();
        for (Thread thread : Thread.getAllStackTraces().keySet()) {
            names.put(thread.getId(), thread.getName());
        }
        long[] ids = names.keySet().stream().mapToLong(Long::longValue).toArray();
        long[] allocated = bean.getThreadAllocatedBytes(ids);
        Map<Long, Long> bytes = new LinkedHashMap<>();
        for (int i = 0; i < ids.length; i++) {
            bytes.put(ids[i], allocated[i]);
        }
        long gcCount = 0;
        long gcMillis = 0;
        for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
            gcCount += Math.max(0, gc.getCollectionCount());
            gcMillis += Math.max(0, gc.getCollectionTime());
        }
        return new Snapshot(steps, names, bytes, bean.getTotalThreadAllocatedBytes(), gcCount, gcMillis);
    }

    /** The role of a thread by its name: what this benchmark or Lockstep and Aeron call their threads. */
    static String role(String thread) {
        if (thread.startsWith("bench-client-")) {
            return "exchange clients (GradientClient)";
        }
        if (thread.contains("lockstep-ps-shard")) {
            return "parameter-server shards";
        }
        if (thread.startsWith("aeron-client")) {
            return "Aeron client conductors";
        }
        if (thread.contains("driver-conductor") || thread.contains("sender") || thread.contains("receiver")) {
            return "Aeron media drivers"; // a shared driver's thread is named after its directory and agents
        }
        return "other (main, JVM, monitoring)";
    }

    /** Bytes per step by role (threads alive at both snapshots), the JVM's total, and GCs. */
    static String report(Snapshot before, Snapshot after) {
        long steps = after.steps() - before.steps();
        if (steps <= 0) {
            throw new IllegalStateException("no exchange completed during the measured span");
        }
        Map<String, long[]> byRole = new LinkedHashMap<>(); // role -> {bytes, threads}
        List<String> detail = new ArrayList<>();
        for (Map.Entry<Long, Long> e : after.bytes().entrySet()) {
            Long start = before.bytes().get(e.getKey());
            if (start == null || start < 0 || e.getValue() < 0) {
                continue; // started during the span, or not measurable
            }
            long delta = e.getValue() - start;
            String name = after.names().get(e.getKey());
            long[] acc = byRole.computeIfAbsent(role(name), k -> new long[2]);
            acc[0] += delta;
            acc[1]++;
            if (delta > 0) {
                detail.add(String.format(Locale.ROOT, "    %-50s %,14.1f B/step", name, delta / (double) steps));
            }
        }
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%n%,d steps measured%n%n| thread role | threads | bytes/step |%n|---|---|---|%n",
            steps));
        for (Map.Entry<String, long[]> e : byRole.entrySet()) {
            sb.append(String.format(Locale.ROOT, "| %s | %d | %,.1f |%n", e.getKey(), e.getValue()[1],
                e.getValue()[0] / (double) steps));
        }
        sb.append(String.format(Locale.ROOT, "| whole JVM (getTotalThreadAllocatedBytes) | - | %,.1f |%n",
            (after.total() - before.total()) / (double) steps));
        sb.append(String.format(Locale.ROOT, "%nGC: %d collections, %d ms, over the measured span%n",
            after.gcCount() - before.gcCount(), after.gcMillis() - before.gcMillis()));
        sb.append("threads that allocated:\n");
        detail.forEach(d -> sb.append(d).append('\n'));
        return sb.toString();
    }
}
