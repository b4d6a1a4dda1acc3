package io.lockstep.ps.attack;

import io.aeron.Aeron;
import io.aeron.ExclusivePublication;
import io.aeron.Image;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.ThreadingMode;
import io.aeron.driver.status.SystemCounterDescriptor;
import io.aeron.logbuffer.FrameDescriptor;
import io.aeron.protocol.DataHeaderFlyweight;
import io.aeron.protocol.HeaderFlyweight;
import io.aeron.protocol.SetupFlyweight;
import io.aeron.protocol.StatusMessageFlyweight;
import io.aeron.status.ChannelEndpointStatus;
import io.lockstep.ps.media.FreePorts;
import org.agrona.BitUtil;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.status.CountersReader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Each {@link AeronAttacker} primitive against a real embedded media driver: what a black box on the
 * wire can do to Aeron streams with crafted frames alone. The assertions record what Aeron 1.51 does;
 * the log lines ("observed: ...") give the numbers.
 */
@Tag("slow")
class AeronAttackerTest {
    private static final Logger LOG = LoggerFactory.getLogger(AeronAttackerTest.class);
    private static final String HOST = "127.0.0.1";
    private static final int SOCKET_BUFFER = 2 * 1024 * 1024; // default socket buffers fail the driver's checks
    private static final Duration WAIT = Duration.ofSeconds(5);

    static MediaDriver driver;
    static Aeron aeron;

    @BeforeAll
    static void start() {
        String dir = (new File("/dev/shm").isDirectory() ? "/dev/shm" : System.getProperty("java.io.tmpdir"))
            + File.separator + "aeron-attack-test-" + UUID.randomUUID().toString().substring(0, 8);
        driver = MediaDriver.launchEmbedded(new MediaDriver.Context()
            .aeronDirectoryName(dir)
            .dirDeleteOnStart(true)
            .dirDeleteOnShutdown(true)
            .threadingMode(ThreadingMode.SHARED)
            .termBufferSparseFile(true)
            .socketRcvbufLength(SOCKET_BUFFER)
            .socketSndbufLength(SOCKET_BUFFER)
            .initialWindowLength(SOCKET_BUFFER));
        aeron = Aeron.connect(new Aeron.Context().aeronDirectoryName(driver.aeronDirectoryName()));
    }

    @AfterAll
    static void stop() {
        if (aeron != null) {
            aeron.close();
        }
        if (driver != null) {
            driver.close();
        }
    }

    @Test
    void scanFindsAnOpenSubscriptionAndASetupFloodCreatesAnImagePerSetup() {
        int port = FreePorts.udp(HOST, 1)[0];
        try (Subscription sub = subscribe("aeron:udp?endpoint=" + HOST + ":" + port, 1000);
             AeronAttacker attacker = new AeronAttacker()) {
            int[] found = attacker.scanForReceivers(HOST, port - 5, port + 5, new int[] {1000}, Duration.ofMillis(500));
            LOG.info("observed: scan of {}..{} found {}", port - 5, port + 5, Arrays.toString(found));
            assertTrue(contains(found, port), "the subscription answers a SETUP for its stream");

            int afterScan = awaitImages(sub, 1); // the probe itself became an image
            long bytes = attacker.floodSetups(new InetSocketAddress(HOST, port), 1000, 200, 64 * 1024);
            assertEquals(200L * SetupFlyweight.HEADER_LENGTH, bytes);
            int created = awaitImages(sub, afterScan + 200) - afterScan;
            LOG.info("observed: 200 forged SETUPs ({} bytes) created {} images", bytes, created);
            assertEquals(200, created, "every SETUP with a fresh session id makes an image");
        }
    }

    @Test
    void aSessionPinnedSubscriptionIgnoresTheFloodAndTheScan() {
        int port = FreePorts.udp(HOST, 1)[0];
        try (Subscription sub = subscribe("aeron:udp?endpoint=" + HOST + ":" + port + "|session-id=12345", 1000);
             AeronAttacker attacker = new AeronAttacker()) {
            attacker.floodSetups(new InetSocketAddress(HOST, port), 1000, 200, 64 * 1024);
            int[] found = attacker.scanForReceivers(HOST, port - 5, port + 5, new int[] {1000}, Duration.ofMillis(500));
            LOG.info("observed: pinned subscription: scan found {}, images {}", Arrays.toString(found), sub.imageCount());
            assertFalse(contains(found, port), "no SM for a session it does not subscribe to");
            assertEquals(0, sub.imageCount());
        }
    }

    @Test
    void forgedDataAtTheNextPositionPreemptsTheGenuineMessage() {
        int port = FreePorts.udp(HOST, 1)[0];
        String channel = "aeron:udp?endpoint=" + HOST + ":" + port + "|term-length=64k";
        try (Subscription sub = subscribe(channel, 1001);
             ExclusivePublication pub = aeron.addExclusivePublication(channel, 1001);
             AeronAttacker attacker = new AeronAttacker()) {
            await(pub::isConnected, "publication connected");
            List<String> got = new ArrayList<>();
            offer(pub, message("genuine-0"));
            receive(sub, got, 1);

            TermPosition next = TermPosition.at(pub.position(), pub.initialTermId(), pub.termBufferLength());
            attacker.sendData(new InetSocketAddress(HOST, port), pub.sessionId(), 1001,
                next.termId(), next.termOffset(), message("FORGED-1")); // same length as the genuine one
            receive(sub, got, 2);
            offer(pub, message("genuine-1")); // written at the same position as the forgery
            offer(pub, message("genuine-2"));
            receive(sub, got, 3);
            LOG.info("observed: at {} the subscriber read {}", next, got);
            assertEquals(List.of("genuine-0", "FORGED-1", "genuine-2"), got,
                "first frame at a position wins: genuine-1 is dropped as a duplicate");
        }
    }

    @Test
    void aForgedPadSilentlySkipsTheGenuineMessagesItCovers() {
        int port = FreePorts.udp(HOST, 1)[0];
        String channel = "aeron:udp?endpoint=" + HOST + ":" + port + "|term-length=64k";
        try (Subscription sub = subscribe(channel, 1002);
             ExclusivePublication pub = aeron.addExclusivePublication(channel, 1002);
             AeronAttacker attacker = new AeronAttacker()) {
            await(pub::isConnected, "publication connected");
            List<String> got = new ArrayList<>();
            offer(pub, message("genuine-0"));
            receive(sub, got, 1);

            long at = pub.position();
            int frame = BitUtil.align(DataHeaderFlyweight.HEADER_LENGTH + message("x").length, FrameDescriptor.FRAME_ALIGNMENT);
            TermPosition next = TermPosition.at(at, pub.initialTermId(), pub.termBufferLength());
            attacker.sendPad(new InetSocketAddress(HOST, port), pub.sessionId(), 1002,
                next.termId(), next.termOffset(), 2 * frame);
            Image image = sub.imageBySessionId(pub.sessionId());
            await(() -> {
                sub.poll((b, o, l, h) -> got.add(text(b, o, l)), 10);
                return image.position() == at + 2 * frame;
            }, "the subscriber steps over the pad");
            for (int i = 1; i <= 3; i++) {
                offer(pub, message("genuine-" + i));
            }
            receive(sub, got, 2);
            LOG.info("observed: a {}-byte PAD at {} left the subscriber with {}", 2 * frame, next, got);
            assertEquals(List.of("genuine-0", "genuine-3"), got, "the two messages under the pad never arrive");
        }
    }

    @Test
    void aForgedNakMakesAManualControlPublicationRetransmitButAUnicastOneNeverHearsIt() throws InterruptedException {
        int[] ports = FreePorts.udp(HOST, 3);
        int naks = 10;
        try (AeronAttacker attacker = new AeronAttacker()) {
            // as Lockstep's fan-out channels: multi-destination-cast, control-mode=manual, fc=min
            String control = "aeron:udp?control=" + HOST + ":" + ports[0] + "|control-mode=manual|fc=min|term-length=256k";
            try (Subscription sub = subscribe("aeron:udp?endpoint=" + HOST + ":" + ports[1], 1003);
                 ExclusivePublication pub = aeron.addExclusivePublication(control, 1003)) {
                pub.addDestination("aeron:udp?endpoint=" + HOST + ":" + ports[1]);
                long[] sent = nakStorm(pub, sub, attacker, new InetSocketAddress(HOST, ports[0]), naks);
                LOG.info("observed: manual control: {} NAKs of {} bytes gave {} retransmits, {} bytes ({} per NAK, {} published)",
                    naks, 28, sent[0], sent[1], sent[1] / naks, pub.position());
                assertEquals(naks, sent[2], "the control socket takes NAKs from anyone");
                // (on a loaded machine a NAK may still fall inside the linger of the one before and be ignored)
                assertTrue(sent[0] >= naks / 2, "NAKs outside the 10 ms linger are answered: " + sent[0]);
                assertEquals(sent[0] * pub.position(), sent[1], "each resends everything published so far");
            }
            String unicast = "aeron:udp?endpoint=" + HOST + ":" + ports[2] + "|term-length=256k";
            try (Subscription sub = subscribe(unicast, 1004);
                 ExclusivePublication pub = aeron.addExclusivePublication(unicast, 1004)) {
                long[] sent = nakStorm(pub, sub, attacker, controlAddress(pub), naks);
                LOG.info("observed: unicast (socket connected to its endpoint): {} NAKs gave {} retransmits, {} bytes, {} NAKs received",
                    naks, sent[0], sent[1], sent[2]);
                assertEquals(0, sent[0], "no retransmit");
                assertEquals(0, sent[2], "the driver never saw them: the kernel drops datagrams from anyone but the endpoint");
            }
        }
    }

    @Test
    void aStatusMessageWithTheGroupTagConnectsATaggedPublicationAndOneWithoutDoesNot() throws InterruptedException {
        int controlPort = FreePorts.udp(HOST, 1)[0];
        String channel = "aeron:udp?control=" + HOST + ":" + controlPort + "|control-mode=manual|fc=tagged,g:7/1";
        try (ExclusivePublication pub = aeron.addExclusivePublication(channel, 1005);
             AeronAttacker attacker = new AeronAttacker()) {
            await(() -> pub.channelStatus() == ChannelEndpointStatus.ACTIVE, "publication bound");
            InetSocketAddress target = new InetSocketAddress(HOST, controlPort);
            long received = counter(SystemCounterDescriptor.STATUS_MESSAGES_RECEIVED);

            attacker.sendStatusMessage(target, pub.sessionId(), 1005, pub.initialTermId(), 0, 65536, 1L);
            attacker.sendStatusMessage(target, pub.sessionId(), 1005, pub.initialTermId(), 0, 65536, 2L, 8L);
            await(() -> counter(SystemCounterDescriptor.STATUS_MESSAGES_RECEIVED) >= received + 2, "SMs received");
            Thread.sleep(100);
            assertFalse(pub.isConnected(), "receivers without tag 7 do not count");

            attacker.sendStatusMessage(target, pub.sessionId(), 1005, pub.initialTermId(), 0, 65536, 3L, 7L);
            await(pub::isConnected, "a forged receiver of group 7 connects it");
            LOG.info("observed: tagged publication connected by one forged SM with group tag 7 ({} SM bytes sent)",
                attacker.bytesSent());
            assertEquals(StatusMessageFlyweight.HEADER_LENGTH + 2L * (StatusMessageFlyweight.HEADER_LENGTH + Long.BYTES),
                attacker.bytesSent(), "36 bytes untagged, 44 tagged");
        }
    }

    @Test
    void twoForgedStatusMessagesStallAMinFlowControlPublicationUntilTheForgedReceiverTimesOut() {
        int[] ports = FreePorts.udp(HOST, 2);
        int termLength = 256 * 1024;
        // Lockstep's fan-out shape, with a short receiver timeout so the stall's end shows
        String channel = "aeron:udp?control=" + HOST + ":" + ports[0] + "|control-mode=manual|fc=min,t:1s|term-length=256k";
        try (Subscription sub = subscribe("aeron:udp?endpoint=" + HOST + ":" + ports[1], 1008);
             ExclusivePublication pub = aeron.addExclusivePublication(channel, 1008);
             AeronAttacker attacker = new AeronAttacker()) {
            pub.addDestination("aeron:udp?endpoint=" + HOST + ":" + ports[1]);
            await(pub::isConnected, "publication connected");
            List<String> got = new ArrayList<>();
            offer(pub, message("genuine-0"));
            receive(sub, got, 1);

            TermPosition now = TermPosition.at(pub.position(), pub.initialTermId(), termLength);
            InetSocketAddress control = new InetSocketAddress(HOST, ports[0]);
            long receiverId = 0x5eed;
            // min flow control admits a receiver whose window reaches the others'; once admitted it may shrink it to 0
            attacker.sendStatusMessage(control, pub.sessionId(), 1008, now.termId(), now.termOffset(), termLength / 2, receiverId);
            attacker.sendStatusMessage(control, pub.sessionId(), 1008, now.termId(), now.termOffset(), 0, receiverId);
            sleepQuietly(20);

            long start = pub.position();
            long stalledAt = flowFor(pub, sub, 300);
            long delivered = stalledAt - start;
            long resumedAt = flowFor(pub, sub, 1500);
            LOG.info("observed: fc=min pinned by 2 forged SMs: {} bytes delivered in 300 ms (window {}), "
                + "{} more once the forged receiver timed out", delivered, termLength / 2, resumedAt - stalledAt);
            assertTrue(delivered <= termLength / 2, "nothing flows past what was granted before the forgery");
            assertTrue(resumedAt - stalledAt > termLength, "the stream resumes when the forged receiver times out");
        }
    }

    /** Offers 1000-byte messages and drains the subscriber for {@code ms}; returns the subscriber's position then. */
    private static long flowFor(ExclusivePublication pub, Subscription sub, long ms) {
        UnsafeBuffer payload = new UnsafeBuffer(new byte[1000]);
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (System.nanoTime() - deadline < 0) {
            pub.offer(payload);
            sub.poll((b, o, l, h) -> { }, 100);
        }
        return sub.imageAtIndex(0).position();
    }

    @Test
    void junkIsCountedAsInvalidAndTheStreamGoesOn() {
        int port = FreePorts.udp(HOST, 1)[0];
        String channel = "aeron:udp?endpoint=" + HOST + ":" + port;
        try (Subscription sub = subscribe(channel, 1006);
             ExclusivePublication pub = aeron.addExclusivePublication(channel, 1006);
             AeronAttacker attacker = new AeronAttacker()) {
            await(pub::isConnected, "publication connected");
            long invalid = counter(SystemCounterDescriptor.INVALID_PACKETS);
            attacker.sendJunk(new InetSocketAddress(HOST, port), 500, new Random(42));
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                offer(pub, message("genuine-" + i));
            }
            receive(sub, got, 5);
            long counted = counter(SystemCounterDescriptor.INVALID_PACKETS) - invalid;
            LOG.info("observed: 500 junk datagrams ({} bytes): {} counted invalid, stream intact", attacker.bytesSent(), counted);
            assertTrue(counted > 0, "junk with a bad version or a short header is counted");
            assertEquals(5, got.size());
        }
    }

    @Test
    void aTapSeesSessionsAndPositionsItsReplaysAreDroppedAndItsSniffedPositionIsForgeable() throws InterruptedException {
        int port = FreePorts.udp(HOST, 1)[0];
        try (UdpTap tap = new UdpTap(0, new InetSocketAddress(HOST, port), 10_000);
             Subscription sub = subscribe("aeron:udp?endpoint=" + HOST + ":" + port, 1007);
             ExclusivePublication pub = aeron.addExclusivePublication(
                 "aeron:udp?endpoint=" + HOST + ":" + tap.address().getPort() + "|term-length=64k", 1007);
             AeronAttacker attacker = new AeronAttacker()) {
            await(pub::isConnected, "publication connected through the tap");
            List<String> got = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                offer(pub, message("genuine-" + i));
            }
            receive(sub, got, 5);

            // what a sniffer learns from the wire alone (a datagram may carry several frames)
            SetupFlyweight setup = null;
            List<byte[]> dataDatagrams = new ArrayList<>();
            int frames = 0;
            DataHeaderFlyweight last = null;
            for (byte[] d : tap.captured(UdpTap.Direction.TO_TARGET)) {
                UnsafeBuffer buffer = new UnsafeBuffer(d);
                if (new HeaderFlyweight(buffer).headerType() == HeaderFlyweight.HDR_TYPE_SETUP) {
                    setup = new SetupFlyweight(buffer);
                    continue;
                }
                for (int offset = 0; offset + DataHeaderFlyweight.HEADER_LENGTH <= d.length; ) {
                    DataHeaderFlyweight frame = new DataHeaderFlyweight();
                    frame.wrap(buffer, offset, d.length - offset);
                    if (frame.headerType() != HeaderFlyweight.HDR_TYPE_DATA || frame.frameLength() <= 0) {
                        break; // a heartbeat
                    }
                    if (offset == 0) {
                        dataDatagrams.add(d);
                    }
                    frames++;
                    last = frame;
                    offset += BitUtil.align(frame.frameLength(), FrameDescriptor.FRAME_ALIGNMENT);
                }
            }
            assertNotNull(setup, "the tap saw the SETUP");
            assertEquals(pub.sessionId(), setup.sessionId());
            assertEquals(1007, setup.streamId());
            assertEquals(5, frames, "five DATA frames went by");
            long sms = tap.captured(UdpTap.Direction.FROM_TARGET).stream()
                .filter(d -> new HeaderFlyweight(new UnsafeBuffer(d)).headerType() == HeaderFlyweight.HDR_TYPE_SM).count();
            assertTrue(sms > 0, "status messages flow back through the tap");

            InetSocketAddress subscriber = new InetSocketAddress(HOST, port);
            attacker.replay(subscriber, dataDatagrams);
            Thread.sleep(200);
            assertEquals(0, sub.poll((b, o, l, h) -> got.add(text(b, o, l)), 10), "replayed frames are duplicates");

            int nextOffset = last.termOffset() + BitUtil.align(last.frameLength(), FrameDescriptor.FRAME_ALIGNMENT);
            TermPosition next = TermPosition.at(
                new TermPosition(last.termId(), nextOffset).position(setup.initialTermId(), setup.termLength()),
                setup.initialTermId(), setup.termLength());
            attacker.sendData(subscriber, setup.sessionId(), setup.streamId(), next.termId(), next.termOffset(),
                message("SNIFFED-5"));
            receive(sub, got, 6);
            LOG.info("observed: tap relayed {} datagrams ({} SMs back); replay of its {} DATA datagrams delivered nothing; "
                + "forgery at sniffed {} read as {}", tap.seen(), sms, dataDatagrams.size(), next, got.get(5));
            assertEquals("SNIFFED-5", got.get(5));
        }
    }

    /**
     * Publishes ~100 KiB, lets the subscriber take it, then sends NAKs for the whole term 20 ms apart;
     * returns {retransmits, retransmitted bytes, NAKs the driver received}.
     */
    private static long[] nakStorm(ExclusivePublication pub, Subscription sub, AeronAttacker attacker,
                                   InetSocketAddress control, int naks) throws InterruptedException {
        await(pub::isConnected, "publication connected");
        List<String> got = new ArrayList<>();
        byte[] payload = new byte[1000];
        for (int i = 0; i < 100; i++) {
            offer(pub, payload);
        }
        receive(sub, got, 100);
        long retransmits = counter(SystemCounterDescriptor.RETRANSMITS_SENT);
        long bytes = counter(SystemCounterDescriptor.RETRANSMITTED_BYTES);
        long received = counter(SystemCounterDescriptor.NAK_MESSAGES_RECEIVED);
        for (int i = 0; i < naks; i++) {
            attacker.sendNak(control, pub.sessionId(), pub.streamId(), pub.initialTermId(), 0, pub.termBufferLength());
            Thread.sleep(20); // past the 10 ms linger that absorbs overlapping NAKs
        }
        Thread.sleep(100);
        return new long[] {
            counter(SystemCounterDescriptor.RETRANSMITS_SENT) - retransmits,
            counter(SystemCounterDescriptor.RETRANSMITTED_BYTES) - bytes,
            counter(SystemCounterDescriptor.NAK_MESSAGES_RECEIVED) - received};
    }

    private static Subscription subscribe(String channel, int streamId) {
        Subscription sub = aeron.addSubscription(channel, streamId);
        await(() -> sub.channelStatus() == ChannelEndpointStatus.ACTIVE, "subscription bound");
        return sub;
    }

    /** The publication's own socket, where receivers send SMs and NAKs. */
    private static InetSocketAddress controlAddress(Publication pub) {
        await(() -> !pub.localSocketAddresses().isEmpty(), "publication bound");
        String address = pub.localSocketAddresses().get(0);
        int colon = address.lastIndexOf(':');
        return new InetSocketAddress(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)));
    }

    private static long counter(SystemCounterDescriptor descriptor) {
        CountersReader counters = aeron.countersReader();
        int[] id = {-1};
        counters.forEach((counterId, typeId, key, label) -> {
            if (typeId == SystemCounterDescriptor.SYSTEM_COUNTER_TYPE_ID && key.getInt(0) == descriptor.id()) {
                id[0] = counterId;
            }
        });
        assertNotEquals(-1, id[0], "no counter " + descriptor);
        return counters.getCounterValue(id[0]);
    }

    private static int awaitImages(Subscription sub, int atLeast) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (sub.imageCount() < atLeast && System.nanoTime() - deadline < 0) {
            LockSupport.parkNanos(100_000);
        }
        sleepQuietly(100); // and a little more: any surplus shows
        return sub.imageCount();
    }

    private static void offer(Publication pub, byte[] payload) {
        UnsafeBuffer buffer = new UnsafeBuffer(payload);
        await(() -> pub.offer(buffer) > 0, "offer accepted");
    }

    private static void receive(Subscription sub, List<String> got, int total) {
        await(() -> {
            sub.poll((b, o, l, h) -> got.add(text(b, o, l)), 10);
            return got.size() >= total;
        }, total + " messages received");
    }

    /** A 32-byte message: all test messages have one length, so a forgery fills exactly one genuine slot. */
    private static byte[] message(String text) {
        return Arrays.copyOf(text.getBytes(StandardCharsets.US_ASCII), 32);
    }

    private static String text(org.agrona.DirectBuffer buffer, int offset, int length) {
        byte[] bytes = new byte[length];
        buffer.getBytes(offset, bytes);
        int end = 0;
        while (end < length && bytes[end] != 0) {
            end++;
        }
        return new String(bytes, 0, end, StandardCharsets.US_ASCII);
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                fail("timed out waiting for: " + what);
            }
            LockSupport.parkNanos(100_000);
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static boolean contains(int[] values, int value) {
        return Arrays.stream(values).anyMatch(v -> v == value);
    }
}
