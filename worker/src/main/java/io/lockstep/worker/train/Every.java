package io.lockstep.worker.train;

import java.io.Serializable;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * "Every N epochs" or "every N steps": when validation runs or checkpoints are written. Written in
 * a config as {@code 1}, {@code 2 epochs}, {@code 500 steps}; a bare number counts epochs.
 */
public record Every(int count, Unit unit) implements Serializable {
    public enum Unit { EPOCHS, STEPS }

    private static final Pattern FORM = Pattern.compile("\\s*(\\d+)\\s*(epochs?|steps?)?\\s*");

    public Every {
        if (count < 1) throw new IllegalArgumentException("must be >= 1, got " + count);
    }

    /** Parses {@code 3}, {@code 3 epochs}, {@code 1 epoch}, {@code 200 steps}; null for anything else. */
    public static Every parse(String text) {
        Matcher m = FORM.matcher(text.toLowerCase(Locale.ROOT));
        if (!m.matches()) {
            return null;
        }
        Unit unit = m.group(2) != null && m.group(2).startsWith("step") ? Unit.STEPS : Unit.EPOCHS;
        return new Every(Integer.parseInt(m.group(1)), unit);
    }

    /** Due after global step {@code stepsDone} (counted from 1)? Only for {@link Unit#STEPS}. */
    public boolean dueAfterStep(long stepsDone) {
        return unit == Unit.STEPS && stepsDone % count == 0;
    }

    /** Due at the end of epoch {@code epoch} (0-based)? Only for {@link Unit#EPOCHS}. */
    public boolean dueAfterEpoch(int epoch) {
        return unit == Unit.EPOCHS && (epoch + 1) % count == 0;
    }

    @Override
    public String toString() {
        return count + " " + unit.name().toLowerCase(Locale.ROOT);
    }
}
