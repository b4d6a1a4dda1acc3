package io.lockstep.ps.server;

import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.attack.AeronAttacker;
import io.lockstep.ps.attack.TermPosition;
import io.lockstep.ps.client.GradientClient;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.WireGuards;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A black-box attacker on the loopback network against a real UDP exchange (2 workers, 2 shards, real embedded media
 * drivers), run once undisturbed and once under attack:
 * <ul>
 * <li>a stranger (no secret) scans the ephemeral ports with SETUPs for the stream ids Lockstep used to fix, floods
 *     10x the 18,000 SETUPs with 1 GiB terms that used to exhaust the JVM's memory mappings (on the real stream ids,
 *     as if they had leaked), sends junk, and forges status messages (no tag, another tag, the 4-byte "preferred"
 *     marker) and NAKs at the shards' control ports;</li>
 * <li>an on-path attacker (it knows the session ids and stream positions: here it reads them from the objects, as a
 *     sniffer would from the wire) pre-empts the next term offset of a worker's gradient stream and of a shard's
 *     answer stream with forged frames, PAD frames and a replayed frame of an earlier step, before every step.</li>
 * </ul>
 * Every step's average must stay bit-exact, no step may fail (each pre-emption costs a resend), nothing may be mapped
 * for the flood, and every drop and resend must be counted. The figures (resends per forged frame, retransmitted
 * bytes per forged NAK, wall time with and without attacks) are printed for docs/hostile-network.md.
 */
@Tag("slow")
class HostileNetworkTest {
    // (HostileNetworkBench runs the same run, one attack at a time)
    static final int N = 40_000;
    static final int WORKERS = 2;
    static final int SHARDS = 2;
    static final int MTU = 8192;
    static final int TERM = 1 << 20;
    static final long BUDGET_MS = 20_000;
    static final int STEPS = 61;
    static final int FLOOD = 180_000;
    static final int NAKS = 200;
    static final int GATHER_EVERY = 4;
    static final int BLOB = ExchangeSpec.gatherChunkBytesFor(MTU); // one full frame: forged pieces of its length align

    static byte[] blob(long round, int rank) {
        byte[] b = new byte[BLOB];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 13 + round * 7 + rank);
        }
        return b;
    }

    static int samples(int rank, long step) {
        return 1 + (int) ((rank + step) % 3);
    }

    static float value(int rank, long step, int i) {
        return (rank + 1) * (int) ((i + step) % 101) - 50; // small integers: every weighted sum is exact in float
    }

    static float expected(long step, int i) {
        float sum = 0;
        long total = 0;
        for (int r = 0; r < WORKERS; r++) {
            sum += samples(r, step) * value(r, step, i);
            total += samples(r, step);
        }
        return sum / total;
    }

    /** The attacks, one at a time in {@link HostileNetworkBench}, in turn in the test. */
    enum Attack {
        /** A forged gradient frame of a full chunk's length at the next position of a rank's gradients. */
        FORGED_GRADIENT,
        /** A PAD frame over the next three frames of a rank's gradients. */
        PAD_GRADIENTS,
        /** A PAD frame over three frames and 64 bytes of a rank's gradients: the reader lands inside a frame. */
        MISALIGNED_PAD_GRADIENTS,
        /** A genuine frame of the step before, sealed with the job's key, at the next position. */
        REPLAYED_GRADIENT,
        /** A forged average at the next position of a shard's answers to the workers' endpoint. */
        FORGED_ANSWER,
        /** A PAD frame over the next three frames of a shard's answers. */
        PAD_ANSWERS,
        /** A PAD frame over three frames and 64 bytes of a shard's answers. */
        MISALIGNED_PAD_ANSWERS,
        /** A forged piece at the next position of a rank's all-gather uploads. */
        FORGED_UPLOAD,
        /** A forged piece at the next position of the endpoint's forwards to the workers. */
        FORGED_FORWARD,
        /** The stranger's scan, SETUP flood, junk and forged status messages, the whole run long. */
        STRANGER
    }

    /** The test's rotation: each step's on-path attack (or null), every kind in turn. */
    static Attack rotation(long step) {
        long occurrence = step / 6;
        return switch ((int) (step % 6)) {
            case 0 -> Attack.FORGED_GRADIENT;
            case 1 -> occurrence % 2 == 1 ? Attack.MISALIGNED_PAD_GRADIENTS : Attack.PAD_GRADIENTS;
            case 2 -> Attack.REPLAYED_GRADIENT;
            case 3 -> Attack.FORGED_ANSWER;
            case 4 -> occurrence % 2 == 1 ? Attack.MISALIGNED_PAD_ANSWERS : Attack.PAD_ANSWERS;
            default -> null;
        };
    }

    /** The test's rotation for gather rounds: uploads and forwards in turn. */
    static Attack gatherRotation(long round) {
        return round / GATHER_EVERY % 2 == 0 ? Attack.FORGED_UPLOAD : Attack.FORGED_FORWARD;
    }

    /** What one run did: its wall time, and what its server and workers counted. */
    record Run(double seconds, DropCounters drops, DropCounters gatherDrops, ResendCounters resends,
               List<Map<String, Long>> workers, long forgedStatusMessages) {
        long worker(String key) {
            return workers.stream().mapToLong(m -> m.get(key)).sum();
        }
    }

    @Test
    void strangersChangeNothingAndAnOnPathAttackerCostsResendsNotSteps() throws Exception {
        Run quiet = run(step -> null, round -> null, false);
        assertEquals(0, quiet.drops().total() + quiet.gatherDrops().total(),
            "an undisturbed run drops nothing: " + quiet.drops() + ", gather " + quiet.gatherDrops());
        assertEquals(0, quiet.resends().answersResent() + quiet.worker("chunks_resent")
            + quiet.resends().restarts() + quiet.worker("session_restarts"),
            "and resends nothing: " + quiet.resends() + ", workers " + quiet.workers());

        long mapsBefore = mappings();
        Map<String, Long> guardsBefore = WireGuards.process().toMap();
        Run attacked = run(HostileNetworkTest::rotation, HostileNetworkTest::gatherRotation, true);
        long mapsAfter = mappings();
        Map<String, Long> guards = WireGuards.process().toMap();
        guards.replaceAll((k, v) -> v - guardsBefore.get(k));

        int perKind = (STEPS - 1) / 6; // steps 1..STEPS-1, each kind of on-path attack every sixth
        System.out.printf("hostile network: %d steps of %,d floats, %d workers, %d shards; undisturbed %.2f s, "
                + "attacked %.2f s%n  server drops %s; gather drops %s; %s%n  workers %s%n  media guards %s%n"
                + "  memory mappings %d -> %d%n",
            STEPS, N, WORKERS, SHARDS, quiet.seconds(), attacked.seconds(), attacked.drops(), attacked.gatherDrops(),
            attacked.resends(),
            attacked.workers(), guards, mapsBefore, mapsAfter);

        // the stranger: nothing it sent made an image, mapped a log or moved a publisher
        // (the kernel drops what overflows a socket's buffer: most of the flood reaches the endpoints, not all)
        assertTrue(guards.get("unknown_session_setups") >= FLOOD / 2, guards.toString());
        assertTrue(mapsAfter - mapsBefore < 200, "the SETUP flood mapped memory: " + mapsBefore + " -> " + mapsAfter);
        // every forged status message (no tag, another tag, the 4-byte marker) was told from the members' and ignored
        // (UDP under a flood: the kernel may drop a few of them before they are even read)
        assertTrue(guards.get("untagged_status_messages") >= attacked.forgedStatusMessages() / 2, guards.toString());
        // the on-path attacker: every pre-emption was dropped, counted, and recovered by a resend
        // (a frame can land in a stream a misaligned PAD put out of step, and be read as junk or skipped: most land
        // where they were aimed; an answer stream may also move between reading its position and the frame's arrival)
        assertTrue(attacked.drops().unauthenticated() >= perKind / 2, "forged gradients: " + attacked.drops());
        assertTrue(attacked.drops().staleStep() >= perKind / 2, "replayed gradients: " + attacked.drops());
        assertTrue(attacked.worker("unauthenticated") >= perKind / 2, "forged answers: " + attacked.workers());
        assertTrue(attacked.worker("chunks_resent") >= 2L * perKind, "gradients resent: " + attacked.workers());
        assertTrue(attacked.resends().answersResent() >= perKind / 2, "answers resent: " + attacked.resends());
        assertTrue(attacked.resends().asksSent() > 0 && attacked.worker("resend_asks_sent") > 0);
        // a frame that ends inside a genuine one puts the reader out of step: the sender starts over on a new session
        assertTrue(attacked.worker("session_restarts") >= 1, "gradient sessions restarted: " + attacked.workers());
        assertTrue(attacked.resends().restarts() >= 1, "answer sessions restarted: " + attacked.resends());
        assertTrue(attacked.worker("answer_sessions_followed") >= 1, attacked.workers().toString());
        // gather rounds: a pre-empted piece, up or down, costs the round a resend (every blob came back exact)
        assertTrue(attacked.worker("gather_asks_sent") + attacked.worker("gather_blobs_resent") > 0,
            attacked.workers().toString());
        assertTrue(attacked.gatherDrops().unauthenticated() >= 1, "forged uploads: " + attacked.gatherDrops());
    }

    /**
     * A forged JOIN of the same length at the position where a worker's JOIN goes (the first frame of its session):
     * the genuine JOIN is lost, the shard never adds the worker's endpoint, and the worker, not hearing the shard,
     * sends the same sealed JOIN again; it joins, and the forged one is counted.
     */
    @Test
    void aForgedFrameWhereAJoinGoesCostsTheJoinAgain() throws Exception {
        ShardLayout layout = new ShardLayout(N, 1, ExchangeSpec.chunkValuesFor(MTU));
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, 1)
            .transport(ExchangeSpec.Transport.UDP).termLength(TERM).mtu(MTU).timeoutMillis(BUDGET_MS).build();
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
             GradientClient client = new GradientClient(workerAeron.aeron(), spec, 0, "127.0.0.1");
             AeronAttacker attacker = new AeronAttacker(new InetSocketAddress("127.0.0.1", 0), new Random(3))) {
            ExclusivePublication pub = client.upstreamPublication(0);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (!pub.isConnected()) { // the shard has the session's image: a frame written now takes position 0
                assertTrue(System.nanoTime() < deadline, "never connected");
                Thread.sleep(1);
            }
            UnsafeBuffer forged = TestFrames.join(JobSecret.random(), 0, spec.jobId(), 0, 0, client.receiveEndpoint(0));
            TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
            attacker.sendData(new InetSocketAddress("127.0.0.1", spec.upstreamPorts()[0]), pub.sessionId(),
                pub.streamId(), at.termId(), at.termOffset(), forged.byteArray());
            Thread.sleep(20); // the forged frame is in before the genuine JOIN goes out
            client.awaitConnected();
            UnsafeBuffer vector = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * Float.BYTES, 64));
            vector.putFloat(0, 3f);
            client.exchange(0, vector.addressOffset(), 1, 0f);
            assertEquals(3f, vector.getFloat(0), "one worker's average is its own gradient");
            assertEquals(1, server.drops().unauthenticated(), "the forged JOIN: " + server.drops());
        }
    }

    /**
     * Forged NAKs (the real session and stream of a shard's answers, as an on-path attacker reads them) at the
     * shard's control port, on an idle publication: each draws at most {@code RetransmitBudget.FRAMES_PER_NAK} frames,
     * never what is left of the term as with Aeron's stock flow control (0.9 MB per NAK measured before).
     */
    @Test
    void forgedNaksDrawAtMostAFewFramesEach() throws Exception {
        ShardLayout layout = new ShardLayout(N, SHARDS, ExchangeSpec.chunkValuesFor(MTU));
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, 1)
            .transport(ExchangeSpec.Transport.UDP).termLength(TERM).mtu(MTU).timeoutMillis(BUDGET_MS).build();
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
             GradientClient client = new GradientClient(workerAeron.aeron(), spec, 0, "127.0.0.1");
             AeronAttacker attacker = new AeronAttacker(new InetSocketAddress("127.0.0.1", 0), new Random(5))) {
            long streamStarted = System.nanoTime();
            client.awaitConnected();
            UnsafeBuffer vector = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * Float.BYTES, 64));
            for (long step = 0; step < 6; step++) {
                client.exchange(step, vector.addressOffset(), 1, 0f);
            }
            Publication pub = server.downstreamPublication(0);
            long written = pub.position();
            InetSocketAddress control = new InetSocketAddress("127.0.0.1", spec.controlPorts()[0]);
            long before = WireGuards.process().retransmittedBytes();
            long started = System.nanoTime();
            for (int i = 0; i < NAKS; i++) {
                TermPosition at = TermPosition.at((long) i * 4096 % written / 32 * 32, pub.initialTermId(),
                    pub.termBufferLength());
                attacker.sendNak(control, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(), 1 << 20);
                if (i % 20 == 19) {
                    Thread.sleep(11); // past Aeron's linger, so no NAK is ignored as a repeat
                }
            }
            Thread.sleep(200);
            long drawn = WireGuards.process().retransmittedBytes() - before;
            double seconds = (System.nanoTime() - started) / 1e9;
            System.out.printf("forged NAKs: %d NAKs of 28 bytes at a publication that had sent %,d bytes drew %,d bytes"
                + " of retransmission in %.2f s (%,d per NAK)%n", NAKS, written, drawn, seconds, drawn / NAKS);
            assertTrue(drawn > 0, "the NAKs were not even honoured: the test measures nothing");
            assertTrue(drawn <= (long) NAKS * 4 * MTU, drawn + " bytes for " + NAKS + " NAKs");
            // and all together no more than twice what the stream sent, a 1 MiB burst and 1 MiB a second since
            long age = (System.nanoTime() - streamStarted) / 1_000_000L;
            assertTrue(drawn <= 2 * written + (1 << 20) + age * (1 << 20) / 1000, drawn + " bytes in " + age + " ms");
            client.exchange(6, vector.addressOffset(), 1, 0f); // and the job goes on
        }
    }

    /**
     * One run of {@link #STEPS} exact steps (an all-gather round every {@link #GATHER_EVERY}), with the on-path attack
     * {@code plan} names before each step (null: none) and {@code gatherPlan} before each round, and with
     * {@code stranger} the stranger's attacks all along.
     */
    static Run run(java.util.function.LongFunction<Attack> plan, java.util.function.LongFunction<Attack> gatherPlan,
                   boolean stranger) throws Exception {
        ShardLayout layout = new ShardLayout(N, SHARDS, ExchangeSpec.chunkValuesFor(MTU));
        ExchangeSpec spec = ExchangeSpec.builder(ThreadLocalRandom.current().nextLong(), layout, WORKERS)
            .transport(ExchangeSpec.Transport.UDP).termLength(TERM).mtu(MTU).timeoutMillis(BUDGET_MS).build();
        ExecutorService pool = Executors.newFixedThreadPool(WORKERS + 1);
        AtomicBoolean done = new AtomicBoolean();
        try (EmbeddedAeron serverAeron = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerAeron = EmbeddedAeron.forWorkers(spec);
             ParameterServer server = ParameterServer.start(serverAeron.aeron(), spec, StepListener.NONE);
             AeronAttacker attacker = new AeronAttacker(new InetSocketAddress("127.0.0.1", 0), new Random(7))) {
            GradientClient[] clients = new GradientClient[WORKERS];
            for (int r = 0; r < WORKERS; r++) {
                clients[r] = new GradientClient(workerAeron.aeron(), spec, r, "127.0.0.1");
            }
            try {
                List<Future<?>> connecting = new ArrayList<>();
                for (GradientClient c : clients) {
                    connecting.add(pool.submit(() -> {
                        c.awaitConnected();
                        return null;
                    }));
                }
                for (Future<?> f : connecting) {
                    f.get(30, TimeUnit.SECONDS);
                }
                OnPath onPath = new OnPath(spec, server, clients, attacker, plan, gatherPlan);
                AtomicLong forgedStatusMessages = new AtomicLong();
                Future<?> strangers = stranger ? pool.submit(() -> {
                    strangerAttacks(spec, server, clients, done, forgedStatusMessages);
                    return null;
                }) : null;
                long started = System.nanoTime();
                List<Future<?>> ranks = new ArrayList<>();
                for (int r = 0; r < WORKERS; r++) {
                    GradientClient client = clients[r];
                    ranks.add(pool.submit(() -> {
                        runWorker(client, onPath);
                        return null;
                    }));
                }
                for (Future<?> f : ranks) {
                    f.get(120, TimeUnit.SECONDS);
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                done.set(true);
                if (strangers != null) {
                    strangers.get(120, TimeUnit.SECONDS);
                }
                assertNull(server.failure(), "the server kept running");
                List<Map<String, Long>> counts = new ArrayList<>();
                for (GradientClient c : clients) {
                    counts.add(c.wireCounters());
                }
                return new Run(seconds, server.drops(), server.gatherDrops(), server.resends(), counts,
                    forgedStatusMessages.get());
            } finally {
                done.set(true);
                for (GradientClient c : clients) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    static void runWorker(GradientClient client, OnPath onPath) throws Exception {
        int rank = client.rank();
        UnsafeBuffer vector = new UnsafeBuffer(BufferUtil.allocateDirectAligned(N * Float.BYTES, 64));
        for (long step = 0; step < STEPS; step++) {
            if (step > 0) {
                onPath.beforeStep(rank, step);
            }
            for (int i = 0; i < N; i++) {
                vector.putFloat(i * Float.BYTES, value(rank, step, i));
            }
            client.exchange(step, vector.addressOffset(), samples(rank, step), 0.5f);
            for (int i = 0; i < N; i++) {
                float got = vector.getFloat(i * Float.BYTES);
                if (Float.floatToIntBits(got) != Float.floatToIntBits(expected(step, i))) {
                    fail("rank " + rank + " step " + step + " value " + i + ": " + got + " != " + expected(step, i));
                }
            }
            if (step % GATHER_EVERY == 2) { // an all-gather round between steps, as validation runs one
                onPath.beforeGather(rank, step);
                byte[][] all = client.allGather(step, blob(step, rank));
                for (int r = 0; r < WORKERS; r++) {
                    assertArrayEquals(blob(step, r), all[r], "rank " + rank + " round " + step + " blob of rank " + r);
                }
            }
        }
    }

    /**
     * The on-path attacker: before each step it writes one datagram at the position where the next genuine frame of
     * one stream will land (a worker's gradients to a shard, or a shard's answers to the workers' endpoint). Runs in
     * the worker's thread right before its step, when both positions are still: the worker has sent nothing of the
     * step, and no shard can answer it before every rank has.
     */
    private static final class OnPath {
        final ExchangeSpec spec;
        final ParameterServer server;
        final GradientClient[] clients;
        final AeronAttacker attacker;
        final Random rnd = new Random(11);
        final java.util.function.LongFunction<Attack> plan;
        final java.util.function.LongFunction<Attack> gatherPlan;
        final java.util.concurrent.CyclicBarrier beforeRound = new java.util.concurrent.CyclicBarrier(WORKERS);

        OnPath(ExchangeSpec spec, ParameterServer server, GradientClient[] clients, AeronAttacker attacker,
               java.util.function.LongFunction<Attack> plan, java.util.function.LongFunction<Attack> gatherPlan) {
            this.spec = spec;
            this.server = server;
            this.clients = clients;
            this.attacker = attacker;
            this.plan = plan;
            this.gatherPlan = gatherPlan;
        }

        /** The step's attack, by the rank it targets (ranks and shards in turn) or rank 0 for answers. */
        void beforeStep(int rank, long step) {
            Attack attack = plan.apply(step);
            if (attack == null) {
                return;
            }
            int target = (int) (step / 6 % 2);
            switch (attack) {
                case FORGED_GRADIENT, PAD_GRADIENTS, MISALIGNED_PAD_GRADIENTS, REPLAYED_GRADIENT -> {
                    if (rank == target) {
                        upstream(rank, (int) (step / 12 % SHARDS), attack, step);
                    }
                }
                case FORGED_ANSWER, PAD_ANSWERS, MISALIGNED_PAD_ANSWERS -> {
                    if (rank == 0) {
                        downstream(target, attack, step);
                    }
                }
                default -> { }
            }
        }

        /**
         * Before a gather round: a forged piece at the next position of a rank's uploads (every other round), or of
         * the endpoint's forwards to the workers' endpoint (the others).
         */
        void beforeGather(int rank, long round) throws Exception {
            Attack attack = gatherPlan.apply(round);
            boolean up = attack == Attack.FORGED_UPLOAD;
            int target = (int) (round / (2 * GATHER_EVERY) % WORKERS);
            if (attack == null) {
                return;
            }
            // every rank waits here before the round, and until the forgery is out: no rank has uploaded yet, so the
            // streams are still and the forged piece lands where a piece of the same length goes. (Where a shorter
            // frame goes, an all-gather stream is read out of step and the round fails: THREAT-MODEL.md.)
            beforeRound.await(30, TimeUnit.SECONDS);
            try {
                injectGather(rank, round, attack, up, target);
            } finally {
                beforeRound.await(30, TimeUnit.SECONDS);
            }
        }

        private void injectGather(int rank, long round, Attack attack, boolean up, int target) {
            if (up && rank == target) {
                ExclusivePublication pub = clients[rank].gatherUpstreamPublication();
                TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
                UnsafeBuffer frame = TestFrames.gather(JobSecret.random(), FrameHeader.TYPE_GATHER, rank, spec.jobId(),
                    round, rank, new byte[BLOB], 0, BLOB);
                attacker.sendData(new InetSocketAddress("127.0.0.1", spec.gatherPort()), pub.sessionId(),
                    pub.streamId(), at.termId(), at.termOffset(), frame.byteArray());
            } else if (attack == Attack.FORGED_FORWARD && rank == 0) {
                Publication pub = server.gatherDownstreamPublication();
                TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
                String endpoint = clients[0].receiveEndpoint(SHARDS);
                UnsafeBuffer frame = TestFrames.gather(JobSecret.random(), FrameHeader.TYPE_GATHERED, 1 - rank,
                    spec.jobId(), round, 1 - rank, new byte[BLOB], 0, BLOB);
                attacker.sendData(new InetSocketAddress("127.0.0.1",
                        Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1))), pub.sessionId(),
                    pub.streamId(), at.termId(), at.termOffset(), frame.byteArray());
            }
        }

        private void upstream(int rank, int shard, Attack attack, long step) {
            ExclusivePublication pub = clients[rank].upstreamPublication(shard);
            TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
            InetSocketAddress to = new InetSocketAddress("127.0.0.1", spec.upstreamPorts()[shard]);
            float[] junk = new float[N];
            for (int i = 0; i < N; i++) {
                junk[i] = rnd.nextFloat();
            }
            ShardLayout layout = spec.layout();
            UnsafeBuffer frame = switch (attack) {
                case FORGED_GRADIENT -> TestFrames.gradient(JobSecret.random(), FrameHeader.TYPE_GRADIENT, rank,
                    spec.jobId(), step, rank, layout, shard, 0, 1000, 0f, junk);
                case REPLAYED_GRADIENT -> TestFrames.gradient(spec.secret(), FrameHeader.TYPE_GRADIENT, rank,
                    spec.jobId(), step - 1, rank, layout, shard, 0, samples(rank, step - 1), 0.5f, junk);
                default -> null;
            };
            if (frame == null) {
                // misaligned: a frame and a bit, the reader lands inside a genuine frame, out of step
                int pad = 3 * frameSpan(layout) + (attack == Attack.MISALIGNED_PAD_GRADIENTS ? 64 : 0);
                if (at.termOffset() + pad <= pub.termBufferLength()) {
                    attacker.sendPad(to, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(), pad);
                }
                return;
            }
            attacker.sendData(to, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(), frame.byteArray());
        }

        private void downstream(int shard, Attack attack, long step) {
            Publication pub = server.downstreamPublication(shard);
            TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
            String endpoint = clients[0].receiveEndpoint(shard);
            InetSocketAddress to = new InetSocketAddress("127.0.0.1",
                Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1)));
            if (attack == Attack.FORGED_ANSWER) {
                float[] junk = new float[N];
                UnsafeBuffer frame = TestFrames.gradient(JobSecret.random(), FrameHeader.TYPE_AVERAGE,
                    GradientFrame.SERVER_RANK, spec.jobId(), step, GradientFrame.SERVER_RANK, spec.layout(), shard, 0,
                    3, 0f, junk);
                attacker.sendData(to, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(), frame.byteArray());
            } else {
                int pad = 3 * frameSpan(spec.layout()) + (attack == Attack.MISALIGNED_PAD_ANSWERS ? 64 : 0);
                if (at.termOffset() + pad <= pub.termBufferLength()) {
                    attacker.sendPad(to, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(), pad);
                }
            }
        }
    }

    /**
     * The stranger, from its own socket, for as long as the workers run: a port scan with SETUPs for the stream ids
     * Lockstep used to fix; {@link #FLOOD} SETUPs with 1 GiB terms on fresh session ids (on the real stream ids) at
     * every receiving port; junk; forged status messages at the shards' control ports.
     */
    private static void strangerAttacks(ExchangeSpec spec, ParameterServer server, GradientClient[] clients,
                                        AtomicBoolean done, AtomicLong forgedStatusMessages) throws IOException {
        try (AeronAttacker stranger = new AeronAttacker(new InetSocketAddress("127.0.0.1", 0), new Random(13))) {
            List<InetSocketAddress> receivers = new ArrayList<>();
            List<Integer> streams = new ArrayList<>();
            for (int s = 0; s < SHARDS; s++) {
                receivers.add(new InetSocketAddress("127.0.0.1", spec.upstreamPorts()[s]));
                streams.add(spec.upstreamStream(s));
                String endpoint = clients[0].receiveEndpoint(s);
                receivers.add(new InetSocketAddress("127.0.0.1",
                    Integer.parseInt(endpoint.substring(endpoint.lastIndexOf(':') + 1))));
                streams.add(spec.downstreamStream(s));
            }
            receivers.add(new InetSocketAddress("127.0.0.1", spec.gatherPort()));
            streams.add(spec.gatherUpstreamStream());
            int low = spec.upstreamPorts()[0] - 50;
            int[] found = stranger.scanForReceivers("127.0.0.1", Math.max(1024, low), low + 100,
                new int[]{1000, 1001, 2000, 3000, 3001}, Duration.ofMillis(300));
            assertEquals(0, found.length, "a scan with the old fixed stream ids found receivers");
            Random rnd = new Random(17);
            for (int sent = 0; sent < FLOOD; sent += 1000) {
                int i = (sent / 1000) % receivers.size();
                stranger.floodSetups(receivers.get(i), streams.get(i), 1000, AeronAttacker.DEFAULT_FLOOD_TERM_LENGTH);
                stranger.sendJunk(receivers.get(i), 5, rnd);
                Publication pub = server.downstreamPublication(sent / 1000 % SHARDS);
                InetSocketAddress control = new InetSocketAddress("127.0.0.1",
                    spec.controlPorts()[sent / 1000 % SHARDS]);
                TermPosition at = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
                // "I have read everything, give me 64 MiB more": would push the publisher past the members
                stranger.sendStatusMessage(control, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(),
                    64 << 20, rnd.nextLong());
                stranger.sendStatusMessage(control, pub.sessionId(), pub.streamId(), at.termId(), at.termOffset(),
                    64 << 20, rnd.nextLong(), spec.groupTag() ^ 1);
                stranger.sendStatusMessageWithFeedback(control, pub.sessionId(), pub.streamId(), at.termId(),
                    at.termOffset(), 64 << 20, rnd.nextLong(), new byte[]{-1, -1, -1, -1});
                forgedStatusMessages.addAndGet(3);
            }
            while (!done.get()) { // keep at it until the workers are done
                stranger.sendJunk(receivers.get(rnd.nextInt(receivers.size())), 10, rnd);
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }
    }

    /** The term bytes one full chunk's frame takes (Aeron header, frame, aligned to 32). */
    private static int frameSpan(ShardLayout layout) {
        return (GradientFrame.frameLength(layout.chunkValues()) + ExchangeSpec.AERON_HEADER + 31) / 32 * 32;
    }

    /** Memory mappings of this process (the JVM aborted at vm.max_map_count under the old flood). */
    private static long mappings() throws IOException {
        try (var lines = Files.lines(Path.of("/proc/self/maps"))) {
            return lines.count();
        }
    }
}
