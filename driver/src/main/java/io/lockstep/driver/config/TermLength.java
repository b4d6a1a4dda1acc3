package io.lockstep.driver.config;

import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.wire.WireFormat;

/**
 * {@code ps.term_length}: the Aeron term of every stream of the exchange, {@code auto} (the default: sized to the
 * gradient, {@link ExchangeRules#autoTermLength}) or a number of bytes.
 *
 * @param bytes the term length given; null for auto
 */
public record TermLength(Integer bytes) {
    public static final TermLength AUTO = new TermLength(null);

    public static TermLength parse(String text) {
        String t = text == null ? "" : text.trim();
        if (t.equalsIgnoreCase("auto")) {
            return AUTO;
        }
        long n;
        try {
            n = Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("must be auto or a power of two in [" + ExchangeRules.MIN_TERM + ", "
                + ExchangeRules.MAX_TERM + "], got '" + text + "'");
        }
        String problem = ExchangeRules.termLengthProblem(n);
        if (problem != null) {
            throw new IllegalArgumentException(problem);
        }
        return new TermLength((int) n);
    }

    public static TermLength of(int bytes) {
        return parse(Integer.toString(bytes));
    }

    public boolean isAuto() {
        return bytes == null;
    }

    /** The term for an exchange of {@code layout} at {@code mtu}: the given one, else the gradient's. */
    public int resolve(ShardLayout layout, int mtu, WireFormat wire, WireFormat answer) {
        return bytes != null ? bytes : ExchangeRules.autoTermLength(layout, mtu, wire, answer);
    }

    @Override
    public String toString() {
        return bytes == null ? "auto" : bytes.toString();
    }
}
