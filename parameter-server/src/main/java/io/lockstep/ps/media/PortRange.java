package io.lockstep.ps.media;

import java.io.Serializable;

/**
 * The UDP ports the exchange's receive endpoints may take on a host ({@code ps.ports}): a range {@code first-last}
 * that a firewall or a container's port list opens, or {@link #AUTO}.
 *
 * <p>{@code auto} takes ports from the IANA dynamic range (49152-65535) outside the kernel's own ephemeral range
 * (Linux {@code net.ipv4.ip_local_port_range}, 32768-60999 by default: 61000-65535 then). A port is picked
 * free and bound by Aeron a moment later; a socket the kernel numbers itself (an Aeron publication's send socket,
 * any client socket) takes its port from the ephemeral range, so it cannot take the picked port in between. Where
 * nothing is left outside the kernel's range, the kernel picks ({@link FreePorts}). Resolved on each host when
 * ports are picked there, since executors' kernels may be set otherwise than the driver's.
 *
 * @param first the lowest port, 0 for auto
 * @param last the highest port, 0 for auto
 */
public record PortRange(int first, int last) implements Serializable {
    public static final PortRange AUTO = new PortRange(0, 0);
    /** The IANA dynamic (private) ports, meant for this use. */
    static final int DYNAMIC_FIRST = 49152;
    static final int DYNAMIC_LAST = 65535;

    public PortRange {
        if (!(first == 0 && last == 0) && (first < 1024 || last > 65535 || first > last)) {
            throw new IllegalArgumentException("must be auto or a range first-last within 1024-65535, got "
                + first + "-" + last);
        }
    }

    /** {@code auto} or {@code first-last} (one port: {@code n} or {@code n-n}). */
    public static PortRange parse(String text) {
        String t = text == null ? "" : text.trim();
        if (t.equalsIgnoreCase("auto")) {
            return AUTO;
        }
        int dash = t.indexOf('-');
        try {
            return dash < 0 ? new PortRange(Integer.parseInt(t), Integer.parseInt(t))
                : new PortRange(Integer.parseInt(t.substring(0, dash).trim()), Integer.parseInt(t.substring(dash + 1).trim()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("must be auto or a range first-last (e.g. 45000-45099), got '" + text + "'");
        }
    }

    public boolean isAuto() {
        return first == 0;
    }

    public int size() {
        return isAuto() ? 0 : last - first + 1;
    }

    @Override
    public String toString() {
        return isAuto() ? "auto" : first + "-" + last;
    }
}
