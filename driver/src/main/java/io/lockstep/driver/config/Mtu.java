package io.lockstep.driver.config;

import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.media.LinkMtu;

/**
 * {@code ps.mtu}: the exchange's frame size, {@code auto} (the default: what fits one IP packet on the link of
 * the parameter server's address, {@link LinkMtu}) or a number of bytes.
 *
 * @param bytes the frame size given; null for auto
 */
public record Mtu(Integer bytes) {
    public static final Mtu AUTO = new Mtu(null);

    public static Mtu parse(String text) {
        String t = text == null ? "" : text.trim();
        if (t.equalsIgnoreCase("auto")) {
            return AUTO;
        }
        int n;
        try {
            n = Integer.parseInt(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("must be auto or a number of bytes, got '" + text + "'");
        }
        String problem = ExchangeRules.mtuProblem(n);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        return new Mtu(n);
    }

    public static Mtu of(int bytes) {
        return parse(Integer.toString(bytes));
    }

    public boolean isAuto() {
        return bytes == null;
    }

    /** The frame size for a parameter server at {@code host}: the given one, else the link's. */
    public int resolve(String host) {
        return bytes != null ? bytes : LinkMtu.forHost(host);
    }

    /** The largest frame size this setting can resolve to (for rules that must hold whatever the link). */
    public int largest() {
        return bytes != null ? bytes : ExchangeRules.MAX_MTU;
    }

    @Override
    public String toString() {
        return bytes == null ? "auto" : bytes.toString();
    }
}
