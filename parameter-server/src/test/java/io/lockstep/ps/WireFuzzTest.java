package io.lockstep.ps;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Subscription;
import org.agrona.BufferUtil;
import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A real multi-step exchange (3 workers, 2 shards, UDP, real embedded media drivers) while a rogue,
 * from a media driver of its own, sends well over 100,000 random, mutated and forged frames at the
 * server's gradient and gather ports and at the workers' receive ports: frames of random bytes,
 * well-formed frames of the job (its id, the current step or round, every rank, zero-sample ones
 * included) with no valid tag, forged JOINs naming the rogue's own endpoint, replays of captured real
 * frames (also sent the wrong way), captured frames with a bit flipped, truncated, or grown past one
 * frame (Aeron then fragments them), and raw UDP datagrams. Every step's average and every gathered
 * blob must stay bit-exact against a plain-Java computation, no forged sample count may reach a sum,
 * nothing may crash or stall (no wait comes near the deadline), the rogue's endpoint must never be
 * sent to, and the drops must be counted.
 */
class WireFuzzTest {
    static final int N = 40_000;
    static final int WORKERS = 3;
    static final int SHARDS = 2;
    static final long BUDGET_MS = 20_000;
    static final int MIN_ROGUE_FRAMES = 100_000;
    static final int MIN_STEPS = 20;
    static final int MAX_STEPS = 5_000;
    static final int GATHER_EVERY = 4;

    static int samples(int rank, long step) {
        return rank == 2 && step % 7 == 0 ? 0 : 1 + (int) ((rank + step) % 5);
    }

    static float value(int rank, long step, int i) {
        return (rank + 1) * (int) ((i + step) % 101) - 50; // small integers: every weighted sum is exact in float
    }

    static byte[] blob(long round, int rank) {
        int[] sizes = {0, 10, 3_000, 70_000}; // 70,000 bytes take two frames
        byte[] b = new byte[sizes[(int) ((round / GATHER_EVERY + rank) % sizes.length)]];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 13 + round * 7 + rank);
        }
        return b;
    }

    @Test
    void forgedMutatedReplayedAndRandomFramesAreDroppedAndCountedWhileEveryStepStaysExact() throws Exception {
        ShardLayout layout = new ShardLayout(N, SHARDS, ExchangeSpec.chunkValuesFor(ExchangeSpec.DEFAULT_MTU));
        long job = ThreadLocalRandom.current().nextLong();
        ExchangeSpec spec = ExchangeSpec.create(job, layout, WORKERS, ExchangeSpec.Transport.UDP, "127.0.0.1",
            4 * 1024 * 1024, ExchangeSpec.DEFAULT_MTU, BUDGET_MS, 0);
        Map<Long, Long> samplesByStep = new ConcurrentHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS + 1);
        long started = System.nanoTime();
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             EmbeddedAeron rogueAeron = EmbeddedAeron.acquire("rogue", BUDGET_MS);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec,
                 (step, samples, loss, t) -> samplesByStep.put(step, samples))) {
            Rogue rogue = new Rogue(spec, rogueAeron.aeron());
            AtomicReference<String[]> endpoints = new AtomicReference<>();
            CountDownLatch connected = new CountDownLatch(WORKERS);
            AtomicLong longestWaitNs = new AtomicLong();
            List<Future<long[]>> ranks = new ArrayList<>();
            for (int r = 0; r < WORKERS; r++) {
                int rank = r;
                ranks.add(pool.submit(() -> runWorker(workerAeron.aeron(), spec, rank, rogue, endpoints, connected,
                    longestWaitNs)));
            }
            assertTrue(connected.await(30, TimeUnit.SECONDS), "workers never connected");
            Future<?> attack = pool.submit(() -> {
                rogue.attack(serverAeron.aeron(), workerAeron.aeron(), endpoints.get());
                return null;
            });
            long ignored = 0;
            long unauthenticatedAtWorkers = 0;
            long steps = -1;
            try {
                for (Future<long[]> f : ranks) {
                    long[] result = f.get(120, TimeUnit.SECONDS);
                    ignored += result[0];
                    unauthenticatedAtWorkers += result[1];
                    assertTrue(steps < 0 || steps == result[2], "ranks ran different step counts");
                    steps = result[2];
                }
            } finally {
                rogue.stop = true;
                attack.get(30, TimeUnit.SECONDS);
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            DropCounters drops = server.drops();
            System.out.printf("fuzz: %d steps in %.1f s; rogue sent %,d frames (%s) and %,d raw datagrams; server drops: %s;"
                    + " workers ignored %,d and refused %,d unauthenticated; longest wait %.0f ms%n", steps, seconds,
                rogue.sent, rogue.byKind(), rogue.raw, drops, ignored, unauthenticatedAtWorkers,
                longestWaitNs.get() / 1e6);
            assertNull(server.failure(), "the server kept running");
            assertTrue(rogue.sent >= MIN_ROGUE_FRAMES, "rogue sent only " + rogue.sent);
            assertTrue(drops.unauthenticated() > 0, drops.toString());
            assertTrue(drops.malformed() > 0, drops.toString());
            assertTrue(drops.staleStep() + drops.duplicate() > 0, drops.toString());
            assertTrue(unauthenticatedAtWorkers > 0, "workers refused no forged frame");
            assertTrue(ignored > 0, "workers skipped nothing");
            assertEquals(0, rogue.ownEndpoint.imageCount(), "the server never sent to the rogue's endpoint");
            assertTrue(longestWaitNs.get() < TimeUnit.MILLISECONDS.toNanos(BUDGET_MS / 2),
                "a wait came near the deadline: " + longestWaitNs.get() / 1e6 + " ms");
            for (long step = 0; step < steps; step++) {
                long total = 0;
                for (int q = 0; q < WORKERS; q++) {
                    total += samples(q, step);
                }
                assertEquals(total, samplesByStep.get(step), "samples summed at step " + step);
            }
            rogue.close();
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * One worker: steps with exact expected averages, and every GATHER_EVERY steps a gather whose rank-0
     * blob also carries the decision to stop (so every rank stops after the same step). Returns
     * {ignored frames, unauthenticated frames, steps}.
     */
    static long[] runWorker(Aeron aeron, ExchangeSpec spec, int rank, Rogue rogue, AtomicReference<String[]> endpoints,
                            CountDownLatch connected, AtomicLong longestWaitNs) throws Exception {
        UnsafeBuffer vec = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * 4, 64));
        try (GradientClient client = new GradientClient(aeron, spec, rank, "127.0.0.1")) {
            client.awaitConnected();
            if (rank == 0) {
                String[] eps = new String[SHARDS + 1];
                for (int i = 0; i <= SHARDS; i++) {
                    eps[i] = client.receiveEndpoint(i);
                }
                endpoints.set(eps);
            }
            connected.countDown();
            long step = 0;
            while (true) {
                if (rank == 0) {
                    rogue.step = step;
                }
                int n = samples(rank, step);
                for (int i = 0; i < N; i++) {
                    vec.putFloat(i * 4, value(rank, step, i));
                }
                long t0 = System.nanoTime();
                client.exchange(step, vec.addressOffset(), n, rank);
                longestWaitNs.accumulateAndGet(System.nanoTime() - t0, Math::max);
                long total = 0;
                double loss = 0;
                for (int q = 0; q < WORKERS; q++) {
                    total += samples(q, step);
                    loss += (double) q * samples(q, step);
                }
                assertEquals(total, client.totalSamples(), "rank " + rank + " step " + step);
                assertEquals((float) (loss / total), client.meanLoss(), "rank " + rank + " step " + step);
                for (int i = 0; i < N; i++) {
                    int sum = 0;
                    for (int q = 0; q < WORKERS; q++) {
                        sum += samples(q, step) * (int) value(q, step, i);
                    }
                    float expected = (float) sum / (float) total;
                    if (Float.floatToRawIntBits(expected) != Float.floatToRawIntBits(vec.getFloat(i * 4))) {
                        fail("rank " + rank + " step " + step + " value " + i + ": " + vec.getFloat(i * 4) + ", expected "
                            + expected);
                    }
                }
                step++;
                if (step % GATHER_EVERY == 0) {
                    long round = step;
                    if (rank == 0) {
                        rogue.round = round;
                    }
                    byte[] mine = blob(round, rank);
                    byte[] upload = mine;
                    if (rank == 0) { // rank 0 decides for everyone: stop once the rogue has done its share
                        upload = Arrays.copyOf(mine, mine.length + 1);
                        upload[mine.length] = (byte) ((rogue.sent >= MIN_ROGUE_FRAMES && step >= MIN_STEPS)
                            || step >= MAX_STEPS ? 1 : 0);
                    }
                    long t1 = System.nanoTime();
                    byte[][] all = client.allGather(round, upload);
                    longestWaitNs.accumulateAndGet(System.nanoTime() - t1, Math::max);
                    for (int q = 1; q < WORKERS; q++) {
                        assertArrayEquals(blob(round, q), all[q], "rank " + rank + " round " + round + " blob of " + q);
                    }
                    byte[] lead = all[0];
                    assertArrayEquals(blob(round, 0), Arrays.copyOf(lead, lead.length - 1), "rank " + rank + " round " + round);
                    if (lead[lead.length - 1] == 1) {
                        return new long[]{client.ignoredFrames(), client.unauthenticatedFrames(), step};
                    }
                }
            }
        }
    }

    /** Sends junk as fast as the receivers take it, from a media driver of its own. */
    static final class Rogue implements AutoCloseable {
        static final String[] KINDS = {"random", "forged-gradient", "forged-gather", "forged-join", "replay",
            "bit-flip", "truncated-or-oversized", "forged-average", "forged-gathered"};

        final ExchangeSpec spec;
        final Aeron aeron;
        final Random rnd = new Random(ThreadLocalRandom.current().nextLong());
        final UnsafeBuffer frame = new UnsafeBuffer(new byte[200_000]);
        final long[] kinds = new long[KINDS.length];
        final List<byte[]> gradients = new ArrayList<>();
        final List<byte[]> averages = new ArrayList<>();
        final List<byte[]> gatherPieces = new ArrayList<>();
        final Subscription ownEndpoint;
        final String ownEndpointName;
        volatile boolean stop;
        volatile long step;
        volatile long round;
        volatile long sent;
        long raw;
        private final List<AutoCloseable> resources = new ArrayList<>();

        Rogue(ExchangeSpec spec, Aeron aeron) {
            this.spec = spec;
            this.aeron = aeron;
            int port = FreePorts.udp("127.0.0.1", 1)[0];
            ownEndpointName = "127.0.0.1:" + port;
            ownEndpoint = aeron.addSubscription(ExchangeSpec.destination(ownEndpointName), spec.downstreamStream(0));
            resources.add(ownEndpoint);
        }

        String byKind() {
            StringBuilder sb = new StringBuilder();
            for (int k = 0; k < KINDS.length; k++) {
                sb.append(k == 0 ? "" : ", ").append(KINDS[k]).append(' ').append(kinds[k]);
            }
            return sb.toString();
        }

        void attack(Aeron serverSide, Aeron workerSide, String[] workerEndpoints) throws Exception {
            ExclusivePublication[] toShard = new ExclusivePublication[SHARDS];
            ExclusivePublication[] toWorker = new ExclusivePublication[SHARDS];
            for (int s = 0; s < SHARDS; s++) {
                toShard[s] = aeron.addExclusivePublication(spec.upstreamChannel(s), spec.upstreamStream(s));
                toWorker[s] = aeron.addExclusivePublication(ExchangeSpec.destination(workerEndpoints[s])
                    + "|term-length=" + spec.termLength(), spec.downstreamStream(s));
            }
            ExclusivePublication toGather = aeron.addExclusivePublication(spec.gatherUpstreamChannel(),
                ExchangeSpec.GATHER_UPSTREAM_STREAM);
            ExclusivePublication toWorkerGather = aeron.addExclusivePublication(
                ExchangeSpec.destination(workerEndpoints[SHARDS]) + "|term-length=" + spec.termLength(),
                ExchangeSpec.GATHER_DOWNSTREAM_STREAM);
            resources.addAll(List.of(toShard));
            resources.addAll(List.of(toWorker));
            resources.addAll(List.of(toGather, toWorkerGather));
            // taps: the real frames, for replays (they share the real images and are polled all along);
            // they see the rogue's own images too, which are not captured
            java.util.Set<Integer> own = new java.util.HashSet<>(List.of(toShard[0].sessionId(), toWorker[0].sessionId(),
                toWorkerGather.sessionId()));
            Subscription gradientTap = serverSide.addSubscription(spec.upstreamChannel(0), spec.upstreamStream(0));
            Subscription averageTap = workerSide.addSubscription(ExchangeSpec.destination(workerEndpoints[0]),
                spec.downstreamStream(0));
            Subscription gatheredTap = workerSide.addSubscription(ExchangeSpec.destination(workerEndpoints[SHARDS]),
                ExchangeSpec.GATHER_DOWNSTREAM_STREAM);
            resources.addAll(List.of(gradientTap, averageTap, gatheredTap));
            int[] ports = new int[2 * SHARDS + 2];
            for (int s = 0; s < SHARDS; s++) {
                ports[s] = spec.upstreamPorts()[s];
                ports[SHARDS + s] = Integer.parseInt(workerEndpoints[s].substring(workerEndpoints[s].lastIndexOf(':') + 1));
            }
            ports[2 * SHARDS] = spec.gatherPort();
            ports[2 * SHARDS + 1] = Integer.parseInt(workerEndpoints[SHARDS].substring(workerEndpoints[SHARDS].lastIndexOf(':') + 1));
            ShardLayout layout = spec.layout();
            try (DatagramSocket udp = new DatagramSocket()) {
                InetAddress local = InetAddress.getByName("127.0.0.1");
                byte[] datagram = new byte[1500];
                long iteration = 0;
                while (!stop) {
                    iteration++;
                    gradientTap.poll((b, o, l, h) -> capture(gradients, own.contains(h.sessionId()), b, o, l), 4);
                    averageTap.poll((b, o, l, h) -> capture(averages, own.contains(h.sessionId()), b, o, l), 4);
                    gatheredTap.poll((b, o, l, h) -> capture(gatherPieces, own.contains(h.sessionId()), b, o, l), 4);
                    if (iteration % 16 == 0) {
                        rnd.nextBytes(datagram);
                        int len = rnd.nextInt(datagram.length);
                        udp.send(new DatagramPacket(datagram, len, local, ports[rnd.nextInt(ports.length)]));
                        raw++;
                    }
                    int kind = pickKind();
                    int shard = rnd.nextInt(SHARDS);
                    int length;
                    ExclusivePublication target;
                    switch (kind) {
                        case 0 -> { // random bytes, anywhere
                            length = rnd.nextInt(300);
                            randomBytes(0, length);
                            target = anyOf(toShard, toWorker, toGather, toWorkerGather);
                        }
                        case 1 -> { // the job's id, the current step, any rank, no valid tag; zero-sample half the time
                            int chunk = rnd.nextInt(layout.chunkCount(shard));
                            int rank = rnd.nextInt(10) == 0 ? (rnd.nextBoolean() ? -1 : WORKERS) : rnd.nextInt(WORKERS);
                            boolean full = rnd.nextInt(25) == 0;
                            int n = full ? layout.chunkLength(shard, chunk) : 0;
                            length = GradientFrame.frameLength(n);
                            new GradientFrame().wrapForWrite(frame, 0, length).header(FrameHeader.TYPE_GRADIENT,
                                spec.jobId(), step + rnd.nextInt(3) - 1, rank, shard, chunk,
                                layout.chunkCount(shard), full ? 1 + rnd.nextInt(5) : 0, rnd.nextFloat(),
                                layout.chunkStart(shard, chunk), n);
                            randomBytes(GradientFrame.HEADER_LENGTH, length - GradientFrame.HEADER_LENGTH);
                            target = toShard[shard];
                        }
                        case 2 -> { // a gather piece of the current or next round, any rank, no valid tag
                            int n = rnd.nextInt(100);
                            length = GatherFrame.frameLength(n);
                            new GatherFrame().wrapForWrite(frame, 0, length).header(FrameHeader.TYPE_GATHER, spec.jobId(),
                                round + (rnd.nextBoolean() ? 0 : GATHER_EVERY), rnd.nextInt(WORKERS), n, 0, n);
                            randomBytes(GatherFrame.HEADER_LENGTH, length - GatherFrame.HEADER_LENGTH);
                            target = toGather;
                        }
                        case 3 -> { // a JOIN naming the rogue's endpoint, sealed with a guessed secret
                            int t = rnd.nextInt(SHARDS + 1);
                            UnsafeBuffer join = TestFrames.join(JobSecret.random(), rnd.nextInt(WORKERS), spec.jobId(),
                                rnd.nextInt(WORKERS), t == SHARDS ? JoinFrame.GATHER_TARGET : t, ownEndpointName);
                            length = join.capacity();
                            frame.putBytes(0, join, 0, length);
                            target = t == SHARDS ? toGather : toShard[t];
                        }
                        case 4, 5, 6 -> { // a captured real frame: as it was, with a bit flipped, cut or grown
                            int which = rnd.nextInt(3);
                            List<byte[]> from = which == 0 ? gradients : which == 1 ? averages : gatherPieces;
                            if (from.isEmpty()) {
                                continue;
                            }
                            byte[] real = from.get(rnd.nextInt(from.size()));
                            frame.putBytes(0, real);
                            length = real.length;
                            if (kind == 5) {
                                int bit = rnd.nextInt(length * 8);
                                frame.putByte(bit / 8, (byte) (frame.getByte(bit / 8) ^ (1 << (bit % 8))));
                            } else if (kind == 6) {
                                if (rnd.nextBoolean()) {
                                    length = rnd.nextInt(length);
                                } else {
                                    int extra = 1 + rnd.nextInt(rnd.nextInt(8) == 0 ? 100_000 : 64);
                                    randomBytes(length, extra);
                                    length += extra; // past one frame, Aeron fragments it
                                }
                            }
                            // to where it was going, or the wrong way
                            boolean wrongWay = rnd.nextInt(4) == 0;
                            target = which == 0 ? (wrongWay ? toWorker[0] : toShard[0])
                                : which == 1 ? (wrongWay ? toShard[0] : toWorker[0])
                                : (wrongWay ? toGather : toWorkerGather);
                        }
                        case 7 -> { // an "average" of the current step for a real chunk, no valid tag
                            int chunk = rnd.nextInt(layout.chunkCount(shard));
                            int n = rnd.nextInt(5) == 0 ? layout.chunkLength(shard, chunk) : rnd.nextInt(4);
                            length = GradientFrame.frameLength(n);
                            new GradientFrame().wrapForWrite(frame, 0, length).header(FrameHeader.TYPE_AVERAGE,
                                spec.jobId(), step, GradientFrame.SERVER_RANK, shard, chunk, layout.chunkCount(shard),
                                rnd.nextInt(100), rnd.nextFloat(), layout.chunkStart(shard, chunk), n);
                            randomBytes(GradientFrame.HEADER_LENGTH, length - GradientFrame.HEADER_LENGTH);
                            target = toWorker[shard];
                        }
                        default -> { // a gathered piece of the current round, any owner, no valid tag
                            int n = rnd.nextInt(100);
                            length = GatherFrame.frameLength(n);
                            new GatherFrame().wrapForWrite(frame, 0, length).header(FrameHeader.TYPE_GATHERED,
                                spec.jobId(), round, rnd.nextInt(WORKERS), n, 0, n);
                            randomBytes(GatherFrame.HEADER_LENGTH, length - GatherFrame.HEADER_LENGTH);
                            target = toWorkerGather;
                        }
                    }
                    if (target.offer(frame, 0, length) > 0) {
                        sent++;
                        kinds[kind]++;
                    } else {
                        Thread.yield(); // back-pressured or not connected yet: the receivers set the pace
                    }
                }
            }
        }

        private int pickKind() {
            int p = rnd.nextInt(100);
            return p < 20 ? 0 : p < 40 ? 1 : p < 48 ? 2 : p < 52 ? 3 : p < 64 ? 4 : p < 74 ? 5 : p < 80 ? 6 : p < 92 ? 7 : 8;
        }

        private ExclusivePublication anyOf(ExclusivePublication[] a, ExclusivePublication[] b, ExclusivePublication c,
                                           ExclusivePublication d) {
            int i = rnd.nextInt(a.length + b.length + 2);
            return i < a.length ? a[i] : i < a.length + b.length ? b[i - a.length] : i == a.length + b.length ? c : d;
        }

        private void randomBytes(int at, int length) {
            for (int i = 0; i < length; i += 8) {
                long r = rnd.nextLong();
                for (int j = 0; j < 8 && i + j < length; j++) {
                    frame.putByte(at + i + j, (byte) (r >>> (8 * j)));
                }
            }
        }

        private void capture(List<byte[]> into, boolean rogues, DirectBuffer buffer, int offset, int length) {
            if (rogues || (into.size() >= 64 && rnd.nextInt(8) != 0)) {
                return;
            }
            byte[] copy = new byte[length];
            buffer.getBytes(offset, copy);
            if (into.size() < 64) {
                into.add(copy);
            } else {
                into.set(rnd.nextInt(into.size()), copy);
            }
        }

        @Override
        public void close() {
            resources.forEach(r -> {
                try {
                    r.close();
                } catch (Exception ignored) {
                    // closing
                }
            });
        }
    }
}
