package io.lockstep.ps.media;

import io.lockstep.ps.ExchangeRules;

import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;

/**
 * The exchange's frame size for the link an address is on: the interface's MTU less the IPv4 and UDP headers
 * (28 bytes), rounded down to Aeron's 32-byte frame alignment, so an Aeron frame is one IP packet. A frame larger
 * than the link's MTU is cut into IP fragments, and losing any one fragment loses the whole frame: at 1% packet
 * loss a 65504-byte frame on a 1500-byte link (45 fragments) is lost ~36% of the time, and the retransmits of
 * whole frames swamp the link.
 */
public final class LinkMtu {
    /** IPv4 (20) and UDP (8) headers. */
    static final int IP_UDP_HEADERS = 28;
    /** Where the interface cannot be found (an address of another host): what fits a standard Ethernet link. */
    public static final int ETHERNET = forLink(1500);

    private LinkMtu() {
    }

    /** The frame size for a link of MTU {@code linkMtu}, within the exchange's [MIN_MTU, MAX_MTU]. */
    public static int forLink(int linkMtu) {
        int payload = (linkMtu - IP_UDP_HEADERS) / 32 * 32;
        return Math.max(ExchangeRules.MIN_MTU, Math.min(ExchangeRules.MAX_MTU, payload));
    }

    /**
     * The frame size for the interface holding {@code host} on this machine (loopback: 65504); an address no
     * interface here holds, a wildcard or an unknown name: {@link #ETHERNET}.
     */
    public static int forHost(String host) {
        try {
            InetAddress address = InetAddress.getByName(host);
            NetworkInterface nic = address.isAnyLocalAddress() ? null : NetworkInterface.getByInetAddress(address);
            return nic == null || nic.getMTU() <= 0 ? ETHERNET : forLink(nic.getMTU());
        } catch (UnknownHostException | SocketException e) {
            return ETHERNET;
        }
    }
}
