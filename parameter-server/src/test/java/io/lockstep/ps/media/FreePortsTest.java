package io.lockstep.ps.media;

import org.junit.jupiter.api.Test;

import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.*;

class FreePortsTest {
    static final String HOST = "127.0.0.1";

    /** A range of {@code size} ports below the kernel's ephemeral range, different in every run. */
    static PortRange someRange(int size) {
        int first = 20_000 + size * ThreadLocalRandom.current().nextInt(4_000 / size);
        return new PortRange(first, first + size - 1);
    }

    @Test
    void autoTakesTheDynamicPortsOutsideTheKernelsEphemeralRange() {
        List<int[]> linuxDefault = FreePorts.autoSpans(new int[]{32768, 60999});
        assertEquals(1, linuxDefault.size());
        assertArrayEquals(new int[]{61000, 65535}, linuxDefault.get(0));
        assertTrue(FreePorts.autoSpans(new int[]{49152, 65535}).isEmpty(), "nothing left: the kernel picks");
        List<int[]> middle = FreePorts.autoSpans(new int[]{50000, 60000});
        assertArrayEquals(new int[]{49152, 49999}, middle.get(0));
        assertArrayEquals(new int[]{60001, 65535}, middle.get(1));
        assertTrue(FreePorts.autoSpans(null).isEmpty(), "not Linux: the kernel picks");

        int[] ephemeral = FreePorts.ephemeralRange();
        if (System.getProperty("os.name").startsWith("Linux")) {
            assertNotNull(ephemeral, "read from /proc/sys/net/ipv4/ip_local_port_range");
            assertTrue(ephemeral[0] >= 1024 && ephemeral[0] <= ephemeral[1], ephemeral[0] + "-" + ephemeral[1]);
        }
        for (int port : FreePorts.udp(HOST, 8)) {
            if (ephemeral != null && !FreePorts.autoSpans(ephemeral).isEmpty()) {
                assertTrue(port >= 49152 && (port < ephemeral[0] || port > ephemeral[1]),
                    port + " is in the kernel's ephemeral range " + ephemeral[0] + "-" + ephemeral[1]);
            }
        }
    }

    @Test
    void portsAreDistinctFreeAndWithinTheRangeSkippingOnesInUse() throws Exception {
        PortRange range = someRange(12);
        InetAddress local = InetAddress.getByName(HOST);
        Set<Integer> taken = new HashSet<>();
        DatagramSocket[] held = new DatagramSocket[4];
        try {
            for (int i = 0; i < held.length; i++) {
                int port = range.first() + 2 * i;
                try {
                    held[i] = new DatagramSocket(new InetSocketAddress(local, port));
                    taken.add(port);
                } catch (java.net.SocketException inUseAlready) {
                    taken.add(port); // someone else's: just as taken
                }
            }
            int[] ports = FreePorts.udp(HOST, 8, range);
            Set<Integer> seen = new HashSet<>();
            for (int port : ports) {
                assertTrue(port >= range.first() && port <= range.last(), port + " outside " + range);
                assertFalse(taken.contains(port), port + " is in use");
                assertTrue(seen.add(port), port + " handed out twice");
                try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(local, port))) {
                    assertEquals(port, s.getLocalPort());
                }
            }
        } finally {
            for (DatagramSocket s : held) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }

    @Test
    void aPortHandedOutIsNotHandedOutAgainWhileOthersAreFree() {
        PortRange range = someRange(16);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 8; i++) { // half the range is remembered
            int port = FreePorts.udp(HOST, 1, range)[0];
            assertTrue(seen.add(port), "port " + port + " handed out again while unused ones were left: " + seen);
        }
    }

    @Test
    void aRangeTooSmallForWhatIsFreeNamesHostRangeAndCounts() throws Exception {
        PortRange range = someRange(4);
        try (DatagramSocket s = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(HOST), range.first()))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> FreePorts.udp(HOST, 4, range));
            assertTrue(e.getMessage().contains("only 3 of the 4 UDP ports needed are free on 127.0.0.1 in ps.ports "
                + range), e.getMessage());
            assertTrue(e.getMessage().contains("widen ps.ports"), e.getMessage());
        }
    }

    @Test
    void rangesParseAndRefuseWhatIsNoRange() {
        assertEquals(PortRange.AUTO, PortRange.parse("auto"));
        assertEquals(new PortRange(45000, 45099), PortRange.parse("45000-45099"));
        assertEquals(new PortRange(45000, 45000), PortRange.parse(" 45000 "));
        assertEquals(100, PortRange.parse("45000-45099").size());
        assertEquals("45000-45099", PortRange.parse("45000-45099").toString());
        for (String bad : new String[]{"45099-45000", "80-90", "60000-70000", "45000-", "ports", ""}) {
            assertThrows(IllegalArgumentException.class, () -> PortRange.parse(bad), bad);
        }
    }
}
