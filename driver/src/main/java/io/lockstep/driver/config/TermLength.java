package io.lockstep.driver.config;

import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.Terms;
import io.lockstep.ps.wire.WireFormat;

/**
 * {@code ps.term_length}: the Aeron terms of the exchange's streams, {@code auto} (the default: each kind sized to
 * what it carries, {@link ExchangeRules#autoTerms}) or a number of bytes for every stream.
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

    /** The terms of an exchange of {@code layout} at {@code mtu}: the given one for all, else auto's. */
    public Terms resolve(ShardLayout layout, int mtu, WireFormat wire, WireFormat answer, int stateSlots) {
        return bytes != null ? Terms.of(bytes) : ExchangeRules.autoTerms(layout, mtu, wire, answer, stateSlots);
    }

    @Override
    public String toString() {
        return bytes == null ? "auto" : bytes.toString();
    }
}
