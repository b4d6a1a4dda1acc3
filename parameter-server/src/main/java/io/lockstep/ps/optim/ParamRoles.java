package io.lockstep.ps.optim;

import java.io.Serial;
import java.io.Serializable;
import java.util.Arrays;

/**
 * What the optimizer does to each range of the flat parameter vector, as DL4J's per-layer updater blocks
 * decide it: WEIGHT (the rule, with L1/L2 and weight decay), BIAS (the rule, no penalty), ASSIGN (no
 * rule: {@code w -= g}, for parameters whose "gradient" is the change itself, like BatchNorm's running
 * statistics) and FROZEN (untouched). Ranges are contiguous, in index order, and cover the vector.
 */
public final class ParamRoles implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;

    public static final byte WEIGHT = 0;
    public static final byte BIAS = 1;
    public static final byte ASSIGN = 2;
    public static final byte FROZEN = 3;

    private final int[] starts; // starts[i] .. starts[i + 1] has roles[i]; starts[n] = length
    private final byte[] roles;

    private ParamRoles(int[] starts, byte[] roles) {
        this.starts = starts;
        this.roles = roles;
    }

    /** Every parameter a weight: a network whose penalties cover its biases too, or a test. */
    public static ParamRoles allWeights(int length) {
        return new Builder().add(WEIGHT, length).build();
    }

    public int length() { return starts[starts.length - 1]; }
    public int ranges() { return roles.length; }
    public int start(int range) { return starts[range]; }
    public int end(int range) { return starts[range + 1]; }
    public byte role(int range) { return roles[range]; }

    /** The range holding {@code index}. */
    public int rangeOf(int index) {
        if (index < 0 || index >= length()) {
            throw new IndexOutOfBoundsException("parameter " + index + " of " + length());
        }
        int i = Arrays.binarySearch(starts, index);
        return i >= 0 ? i : -i - 2;
    }

    public static String name(byte role) {
        return switch (role) {
            case WEIGHT -> "weight";
            case BIAS -> "bias";
            case ASSIGN -> "assign";
            case FROZEN -> "frozen";
            default -> "role " + role;
        };
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParamRoles p && Arrays.equals(starts, p.starts) && Arrays.equals(roles, p.roles);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(starts) + Arrays.hashCode(roles);
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("ParamRoles[");
        for (int i = 0; i < roles.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(name(roles[i])).append(' ').append(starts[i]).append('-').append(starts[i + 1]);
        }
        return sb.append(']').toString();
    }

    /** Appends ranges in index order; neighbours of the same role merge. */
    public static final class Builder {
        private int[] starts = new int[8];
        private byte[] roles = new byte[8];
        private int count;
        private int length;

        public Builder add(byte role, long n) {
            if (role < WEIGHT || role > FROZEN) {
                throw new IllegalArgumentException("unknown role " + role);
            }
            if (n < 0 || length + n > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("bad range length " + n + " after " + length + " parameters");
            }
            if (n == 0) {
                return this;
            }
            if (count == 0 || roles[count - 1] != role) {
                if (count == roles.length) {
                    starts = Arrays.copyOf(starts, count * 2);
                    roles = Arrays.copyOf(roles, count * 2);
                }
                starts[count] = length;
                roles[count++] = role;
            }
            length += (int) n;
            return this;
        }

        public ParamRoles build() {
            if (count == 0) {
                throw new IllegalStateException("no parameters");
            }
            int[] s = Arrays.copyOf(starts, count + 1);
            s[count] = length;
            return new ParamRoles(s, Arrays.copyOf(roles, count));
        }
    }
}
