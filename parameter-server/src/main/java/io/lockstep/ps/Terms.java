package io.lockstep.ps;

import java.io.Serializable;

/**
 * The Aeron term lengths of an exchange's streams, by what they carry: every worker's gradients to the shards
 * ({@code upstream}), the shards' answers and optimizer state back ({@code answers}), and the all-gather, the step
 * reports and the norm links, which carry a few frames a step ({@code side}). Each publication and each image maps
 * a log of 3 of its terms, so sizing each kind to what it carries keeps the shared memory small
 * ({@link ExchangeRules#autoTerms}).
 */
public record Terms(int upstream, int answers, int side) implements Serializable {

    public Terms {
        for (int t : new int[]{upstream, answers, side}) {
            String problem = ExchangeRules.termLengthProblem(t);
            if (problem != null) {
                throw new IllegalArgumentException("term length " + problem);
            }
        }
    }

    /** One term for every stream ({@code ps.term_length} given). */
    public static Terms of(int termLength) {
        return new Terms(termLength, termLength, termLength);
    }

    /** The largest of the three. */
    public int largest() {
        return Math.max(upstream, Math.max(answers, side));
    }

    /** The smallest of the three (each must hold 8 frames). */
    public int smallest() {
        return Math.min(upstream, Math.min(answers, side));
    }

    @Override
    public String toString() {
        return upstream == answers && answers == side ? Integer.toString(upstream)
            : "upstream " + upstream + ", answers " + answers + ", side " + side;
    }
}
