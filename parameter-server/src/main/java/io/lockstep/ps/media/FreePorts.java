package io.lockstep.ps.media;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** Picks free UDP ports on a host (bind to port 0, read it, release it). */
public final class FreePorts {
    private FreePorts() {
    }

    public static int[] udp(String host, int count) {
        int[] ports = new int[count];
        DatagramSocket[] held = new DatagramSocket[count];
        try {
            for (int i = 0; i < count; i++) {
                held[i] = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(host), 0));
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
