package io.lockstep.bench;

import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.FreePorts;
import io.lockstep.ps.media.LinkMtu;
import io.lockstep.ps.server.ParameterServer;
import io.lockstep.ps.server.StepListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeoutException;

/**
 * The exchange between two hosts next to raw Aeron over the same link: one process per host (e.g. two namespaces
 * of {@code deploy/netns-cluster.sh}, see {@code bench/link-bench.sh}). The {@code serve} side, on the driver's
 * host, first receives raw transfers of the vector's bytes on a plain subscription, timed from the first fragment
 * to the last byte (what Aeron alone moves one way); then it runs a {@link ParameterServer} for the vector. The
 * {@code send} side, on a worker's host, pushes the raw transfers, then exchanges as {@code --clients} workers, rank
 * 0 timing each step (the gradient up and the average back). The two sides meet through files in {@code --dir} (a
 * directory both hosts see): the raw port, then the exchange's spec.
 */
@Command(name = "bench-link", mixinStandardHelpOptions = true,
    description = "The exchange between two hosts next to raw Aeron one way over the same link (run serve on one host,"
        + " send on the other; bench/link-bench.sh does both in namespaces).")
final class LinkBench implements Callable<Integer> {
    private static final int RAW_STREAM = 4343;
    private static final long WAIT_MS = 120_000;

    @Option(names = "--role", required = true, description = "serve (the driver's host) or send (a worker's host)")
    String role;

    @Option(names = "--host", required = true, description = "this host's address")
    String host;

    @Option(names = "--dir", required = true, description = "a directory both processes see (rendezvous files)")
    Path dir;

    @Option(names = "--floats", description = "vector size in floats (default: ${DEFAULT-VALUE})")
    int floats = 10_000_000;

    @Option(names = "--clients", description = "workers on the sending host (default: ${DEFAULT-VALUE})")
    int clients = 1;

    @Option(names = "--shards", description = "parameter-server shards (default: ${DEFAULT-VALUE})")
    int shards = 2;

    @Option(names = "--repeats", description = "measured raw transfers and exchange steps (default: ${DEFAULT-VALUE})")
    int repeats = 10;

    @Option(names = "--warmup", description = "unmeasured raw transfers and steps first (default: ${DEFAULT-VALUE})")
    int warmup = 3;

    @Option(names = "--mtu", description = "frame size; 0: ps.mtu auto, one IP packet on this host's link (default: ${DEFAULT-VALUE})")
    int mtuOption;

    @Option(names = "--term-length-mib", description = "Aeron term length in MiB (default: ${DEFAULT-VALUE})")
    int termLengthMib = 8;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(dir);
        int mtu = mtuOption > 0 ? mtuOption : LinkMtu.forHost(host);
        int termLength = termLengthMib << 20;
        switch (role) {
            case "serve" -> serve(mtu, termLength);
            case "send" -> send(mtu, termLength);
            default -> throw new IllegalArgumentException("--role must be serve or send, got '" + role + "'");
        }
        return 0;
    }

    private void serve(int mtu, int termLength) throws Exception {
        long bytes = floats * (long) Float.BYTES;
        ExchangeSpec rawSpec = spec(mtu, termLength);
        double[] seconds = new double[repeats];
        try (EmbeddedAeron aeron = EmbeddedAeron.forServer(rawSpec);
             OffHeap memory = new OffHeap(Math.toIntExact(bytes))) {
            int port = FreePorts.udp(host, 1)[0];
            String channel = "aeron:udp?endpoint=" + ExchangeSpec.endpoint(host, port) + "|mtu=" + mtu
                + "|term-length=" + termLength;
            try (Subscription sub = aeron.aeron().addSubscription(channel, RAW_STREAM)) {
                publish("raw-port", Integer.toString(port));
                RawAeron.Receiver receiver = new RawAeron.Receiver(sub, memory.buffer, bytes);
                for (int r = 0; r < warmup + repeats; r++) {
                    receiver.reset();
                    Thread t = new Thread(receiver, "bench-link-receiver");
                    t.setDaemon(true);
                    t.start();
                    t.join(WAIT_MS);
                    if (t.isAlive() || receiver.received != bytes) {
                        t.interrupt();
                        throw new TimeoutException("raw transfer " + r + ": " + receiver.received + " of " + bytes
                            + " bytes within " + WAIT_MS / 1000 + " s");
                    }
                    if (r >= warmup) {
                        seconds[r - warmup] = (receiver.doneAt - receiver.firstAt) / 1e9;
                    }
                }
            }
        }
        double raw = BenchArgs.median(seconds);
        System.out.printf(Locale.ROOT, "raw Aeron one way, %s floats (%.1f MB), mtu %d: median %.1f ms, %.3f GB/s%n",
            BenchArgs.floats(floats), bytes / 1e6, mtu, raw * 1e3, bytes / raw / 1e9);
        publish("raw-seconds", Double.toString(raw));

        ExchangeSpec spec = spec(mtu, termLength);
        try (EmbeddedAeron aeron = EmbeddedAeron.forServer(spec);
             ParameterServer server = ParameterServer.start(aeron.aeron(), spec, StepListener.NONE)) {
            Path file = dir.resolve("spec.bin");
            Path temp = dir.resolve("spec.bin.tmp");
            try (ObjectOutputStream out = new ObjectOutputStream(Files.newOutputStream(temp))) {
                out.writeObject(spec);
            }
            Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Path done = dir.resolve("exchange-done");
            long deadline = System.nanoTime() + (WAIT_MS + repeats * 60_000L) * 1_000_000L;
            while (!Files.exists(done)) {
                if (server.failure() != null) {
                    throw new IllegalStateException("parameter server failed", server.failure());
                }
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("the sending side never finished its exchange steps");
                }
                Thread.sleep(50);
            }
            System.out.println("exchange served: " + Files.readString(done).strip());
        }
    }

    private void send(int mtu, int termLength) throws Exception {
        long bytes = floats * (long) Float.BYTES;
        String serverHost = await("server-host");
        int port = Integer.parseInt(await("raw-port"));
        ExchangeSpec rawSpec = spec(mtu, termLength);
        try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(rawSpec);
             OffHeap memory = new OffHeap(Math.toIntExact(bytes))) {
            String channel = "aeron:udp?endpoint=" + ExchangeSpec.endpoint(serverHost, port) + "|mtu=" + mtu
                + "|term-length=" + termLength;
            try (ExclusivePublication pub = aeron.aeron().addExclusivePublication(channel, RAW_STREAM)) {
                long deadline = System.nanoTime() + WAIT_MS * 1_000_000L;
                while (!pub.isConnected()) {
                    if (System.nanoTime() > deadline) {
                        throw new TimeoutException("raw publication to " + serverHost + ":" + port + " never connected");
                    }
                    Thread.sleep(1);
                }
                for (int r = 0; r < warmup + repeats; r++) {
                    RawAeron.send(pub, memory.buffer, bytes);
                    Thread.sleep(200); // the receiver finishes and times this transfer before the next begins
                }
            }
        }
        double raw = Double.parseDouble(await("raw-seconds"));

        ExchangeSpec spec;
        Path file = dir.resolve("spec.bin");
        awaitFile(file);
        try (ObjectInputStream in = new ObjectInputStream(Files.newInputStream(file))) {
            spec = (ExchangeSpec) in.readObject();
        }
        long[][] stepNanos = new long[clients][];
        Throwable[] failures = new Throwable[clients];
        Thread[] threads = new Thread[clients];
        try (EmbeddedAeron aeron = EmbeddedAeron.forWorkers(spec)) {
            for (int c = 0; c < clients; c++) {
                int rank = c;
                threads[c] = new Thread(() -> {
                    try (OffHeap vector = new OffHeap(floats * Float.BYTES);
                         GradientClient client = new GradientClient(aeron.aeron(), spec, rank, host)) {
                        client.awaitConnected();
                        long[] nanos = new long[warmup + repeats];
                        long previous = System.nanoTime();
                        for (int step = 0; step < warmup + repeats; step++) {
                            client.exchange(step, vector.buffer.addressOffset(), 32, 0.5f);
                            long now = System.nanoTime();
                            nanos[step] = now - previous;
                            previous = now;
                        }
                        stepNanos[rank] = Arrays.copyOfRange(nanos, warmup, nanos.length);
                    } catch (Throwable e) {
                        failures[rank] = e;
                    }
                }, "bench-link-client-" + c);
                threads[c].start();
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        for (Throwable f : failures) {
            if (f != null) {
                throw new IllegalStateException("a client failed", f);
            }
        }
        double step = BenchArgs.median(Arrays.stream(stepNanos[0]).mapToDouble(n -> n / 1e9).toArray());
        String line = String.format(Locale.ROOT, "exchange, %d client(s) on %s, %d shard(s), %s floats: median step"
                + " %.1f ms (%.3f GB/s each way per client); raw Aeron one way %.1f ms: step / (2 x raw) = %.2f",
            clients, host, shards, BenchArgs.floats(floats), step * 1e3, bytes / step / 1e9, raw * 1e3,
            step / (2 * raw));
        System.out.println(line);
        Files.writeString(dir.resolve("exchange-done"), line + "\n");
    }

    private ExchangeSpec spec(int mtu, int termLength) {
        ShardLayout layout = new ShardLayout(floats, shards, ExchangeSpec.chunkValuesFor(mtu));
        return ExchangeSpec.builder(new SecureRandom().nextLong(), layout, clients).host(host)
            .termLength(termLength).mtu(mtu).timeoutMillis(ExchangeRun.TIMEOUT_MS).build();
    }

    /** Writes a rendezvous value atomically (the serve side also names its host first). */
    private void publish(String name, String value) throws IOException {
        if (!Files.exists(dir.resolve("server-host"))) {
            write("server-host", host);
        }
        write(name, value);
    }

    private void write(String name, String value) throws IOException {
        Path temp = dir.resolve(name + ".tmp");
        Files.writeString(temp, value);
        Files.move(temp, dir.resolve(name), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    private String await(String name) throws Exception {
        Path file = dir.resolve(name);
        awaitFile(file);
        return Files.readString(file).strip();
    }

    private static void awaitFile(Path file) throws Exception {
        long deadline = System.nanoTime() + WAIT_MS * 1_000_000L;
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                throw new TimeoutException(file + " did not appear within " + WAIT_MS / 1000 + " s: is the serve side running?");
            }
            Thread.sleep(50);
        }
    }
}
