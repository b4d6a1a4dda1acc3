package io.lockstep.ps.media;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Picks free UDP ports on a host for the exchange's receive endpoints, within a {@link PortRange}: each candidate
 * is bound to see that it is free and released for Aeron to bind. A port handed out is not handed out again by
 * this JVM for its next {@link #REMEMBERED} picks, so two parts of one JVM picking at once (workers and the shards
 * of an executor) never get the same port before either has bound it.
 */
public final class FreePorts {
    /** How many recently handed-out ports are avoided (fewer where the range is small). */
    static final int REMEMBERED = 4096;
    private static final Path EPHEMERAL = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    private static final ArrayDeque<Integer> RECENT_ORDER = new ArrayDeque<>();
    private static final Set<Integer> RECENT = new HashSet<>();

    private FreePorts() {
    }

    /** {@code count} distinct free ports on {@code host} ({@link PortRange#AUTO}). */
    public static int[] udp(String host, int count) {
        return udp(host, count, PortRange.AUTO);
    }

    /** {@code count} distinct free ports on {@code host} within {@code range}. */
    public static int[] udp(String host, int count, PortRange range) {
        InetAddress address;
        try {
            address = InetAddress.getByName(host);
            new DatagramSocket(new InetSocketAddress(address, 0)).close(); // an address of this machine at all?
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bind a UDP socket on " + host, e);
        }
        List<int[]> spans = range.isAuto() ? autoSpans(ephemeralRange()) : List.of(new int[]{range.first(), range.last()});
        if (spans.isEmpty()) {
            return kernelPicked(address, host, count);
        }
        synchronized (RECENT) {
            int[] ports = new int[count];
            int found = 0;
            int total = spans.stream().mapToInt(s -> s[1] - s[0] + 1).sum();
            int start = ThreadLocalRandom.current().nextInt(total);
            int remembered = Math.min(REMEMBERED, total / 2);
            for (int pass = 0; pass < 2 && found < count; pass++) {
                // first pass avoids recently handed-out ports; the second takes any free one
                for (int i = 0; i < total && found < count; i++) {
                    int port = nth(spans, (start + i) % total);
                    if ((pass == 0 && RECENT.contains(port)) || contains(ports, found, port) || !free(address, port)) {
                        continue;
                    }
                    ports[found++] = port;
                    remember(port, remembered);
                }
            }
            if (found < count) {
                throw new IllegalStateException("only " + found + " of the " + count + " UDP ports needed are free on "
                    + host + " in ps.ports " + (range.isAuto() ? "auto " + describe(spans) : range)
                    + ": widen ps.ports or free ports there");
            }
            return ports;
        }
    }

    /** The IANA dynamic range less the kernel's ephemeral range {@code [lo, hi]} (null: unknown, none left). */
    static List<int[]> autoSpans(int[] ephemeral) {
        List<int[]> spans = new ArrayList<>();
        if (ephemeral == null) {
            return spans;
        }
        if (ephemeral[0] > PortRange.DYNAMIC_FIRST) {
            spans.add(new int[]{PortRange.DYNAMIC_FIRST, Math.min(ephemeral[0] - 1, PortRange.DYNAMIC_LAST)});
        }
        if (ephemeral[1] < PortRange.DYNAMIC_LAST) {
            spans.add(new int[]{Math.max(ephemeral[1] + 1, PortRange.DYNAMIC_FIRST), PortRange.DYNAMIC_LAST});
        }
        return spans;
    }

    /** This kernel's ephemeral range, or null where it cannot be read (not Linux). */
    static int[] ephemeralRange() {
        try {
            // readAllLines: Files.readString trusts the size /proc reports and returns a truncated line
            String[] parts = Files.readAllLines(EPHEMERAL).get(0).trim().split("\\s+");
            return new int[]{Integer.parseInt(parts[0]), Integer.parseInt(parts[1])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static String describe(List<int[]> spans) {
        StringBuilder sb = new StringBuilder("(");
        for (int[] s : spans) {
            sb.append(sb.length() > 1 ? ", " : "").append(s[0]).append('-').append(s[1]);
        }
        return sb.append(')').toString();
    }

    private static int nth(List<int[]> spans, int index) {
        for (int[] s : spans) {
            int size = s[1] - s[0] + 1;
            if (index < size) {
                return s[0] + index;
            }
            index -= size;
        }
        throw new IndexOutOfBoundsException(index);
    }

    private static boolean contains(int[] ports, int n, int port) {
        for (int i = 0; i < n; i++) {
            if (ports[i] == port) {
                return true;
            }
        }
        return false;
    }

    private static void remember(int port, int capacity) {
        if (RECENT.add(port)) {
            RECENT_ORDER.addLast(port);
        }
        while (RECENT_ORDER.size() > capacity) {
            RECENT.remove(RECENT_ORDER.removeFirst());
        }
    }

    private static boolean free(InetAddress address, int port) {
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(address, port))) {
            return true;
        } catch (SocketException e) {
            return false;
        }
    }

    /** Ports the kernel picks (bind to port 0, read it, release it); all held until every one is picked. */
    private static int[] kernelPicked(InetAddress address, String host, int count) {
        int[] ports = new int[count];
        DatagramSocket[] held = new DatagramSocket[count];
        try {
            for (int i = 0; i < count; i++) {
                held[i] = new DatagramSocket(new InetSocketAddress(address, 0));
                ports[i] = held[i].getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find free UDP ports on " + host, e);
        } finally {
            for (DatagramSocket s : held) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }
}
