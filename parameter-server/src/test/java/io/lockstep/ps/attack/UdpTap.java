package io.lockstep.ps.attack;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.DatagramChannel;
import java.util.ArrayList;
import java.util.List;

/**
 * An on-path observer: a UDP relay that a sender is pointed at instead of its real target. Every
 * datagram that arrives on {@link #address()} goes on to the target from a second socket; whatever
 * the target sends back to that socket goes to the last sender. Both directions are recorded (copies,
 * up to a cap), so a test can read session ids, stream ids and term positions off real Aeron traffic
 * and replay it, as a sniffer on the wire could.
 *
 * <p>For Aeron this sits between a publication (whose {@code endpoint} is the tap) and its subscriber:
 * SETUP and DATA flow in, status messages and NAKs flow back. One blocking thread per direction.
 */
public final class UdpTap implements AutoCloseable {
    /** Which way a datagram went through the tap. */
    public enum Direction { TO_TARGET, FROM_TARGET }

    /** One datagram seen by the tap: its direction, its sender and a copy of its bytes. */
    public record Datagram(Direction direction, InetSocketAddress source, byte[] bytes) {
    }

    private static final int MAX_DATAGRAM = 65_536;

    private final InetSocketAddress target;
    private final DatagramChannel front;
    private final DatagramChannel back;
    private final int capacity;
    private final List<Datagram> captured = new ArrayList<>();
    private final Thread inbound;
    private final Thread outbound;
    private volatile InetSocketAddress lastSender;
    private long seen;

    /**
     * Listens on 127.0.0.1:{@code listenPort} (0 picks a port) and relays to {@code target},
     * recording at most {@code capacity} datagrams (later ones are relayed and counted, not kept).
     */
    public UdpTap(int listenPort, InetSocketAddress target, int capacity) {
        this.target = target;
        this.capacity = capacity;
        try {
            front = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", listenPort));
            back = DatagramChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open tap on port " + listenPort, e);
        }
        inbound = relay("udp-tap-in", front, Direction.TO_TARGET, back);
        outbound = relay("udp-tap-out", back, Direction.FROM_TARGET, front);
    }

    /** Where senders send to be tapped. */
    public InetSocketAddress address() {
        try {
            return (InetSocketAddress) front.getLocalAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The address the target sees the relayed traffic come from (and answers to). */
    public InetSocketAddress relayAddress() {
        try {
            return (InetSocketAddress) back.getLocalAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The last sender that reached the tap, or null; replies go there. */
    public InetSocketAddress lastSender() {
        return lastSender;
    }

    /** A snapshot of the recorded datagrams, oldest first. */
    public synchronized List<Datagram> captured() {
        return new ArrayList<>(captured);
    }

    /** The bytes of recorded datagrams going one way, oldest first (e.g. for {@link AeronAttacker#replay}). */
    public synchronized List<byte[]> captured(Direction direction) {
        List<byte[]> bytes = new ArrayList<>();
        for (Datagram d : captured) {
            if (d.direction() == direction) {
                bytes.add(d.bytes());
            }
        }
        return bytes;
    }

    /** Datagrams relayed either way, recorded or not. */
    public synchronized long seen() {
        return seen;
    }

    @Override
    public void close() {
        try {
            front.close(); // wakes the blocked receive in each thread with an AsynchronousCloseException
            back.close();
            inbound.join(1_000);
            outbound.join(1_000);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private Thread relay(String name, DatagramChannel from, Direction direction, DatagramChannel to) {
        Thread thread = new Thread(() -> {
            ByteBuffer buffer = ByteBuffer.allocateDirect(MAX_DATAGRAM);
            try {
                while (true) {
                    buffer.clear();
                    InetSocketAddress source = (InetSocketAddress) from.receive(buffer);
                    buffer.flip();
                    record(direction, source, buffer);
                    InetSocketAddress destination;
                    if (direction == Direction.TO_TARGET) {
                        lastSender = source;
                        destination = target;
                    } else {
                        destination = lastSender;
                    }
                    if (destination != null) {
                        to.send(buffer, destination);
                    }
                }
            } catch (ClosedChannelException closed) {
                // close(): done
            } catch (IOException e) {
                throw new UncheckedIOException(name + " failed", e);
            }
        }, name);
        thread.setDaemon(true);
        thread.start();
        return thread;
    }

    private synchronized void record(Direction direction, InetSocketAddress source, ByteBuffer datagram) {
        seen++;
        if (captured.size() < capacity) {
            byte[] copy = new byte[datagram.remaining()];
            datagram.duplicate().get(copy);
            captured.add(new Datagram(direction, source, copy));
        }
    }
}
