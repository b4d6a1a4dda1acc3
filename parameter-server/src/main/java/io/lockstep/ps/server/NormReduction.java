package io.lockstep.ps.server;

import org.agrona.BufferUtil;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * The cross-shard reduction of one step, with the optimizer on the server: each shard posts the sum of
 * squares of its averaged slice, and once all have, every shard reads the same total (summed in shard
 * order, so bit-identical everywhere). The total decides for all shards alike whether the step is finite
 * (NaN or infinity survive a sum) and, with {@code clipping.mode: norm}, the clip factor.
 *
 * <p>Shards run on their own threads in one process: a slot per shard in an Agrona {@link AtomicBuffer},
 * the value written first and the step after it with release semantics, read with acquire semantics.
 * With the shards spread over executors each server holds a slot for every shard of the job: its own
 * shards post theirs, and its {@link NormLink} sends those to the other servers and posts what they send.
 *
 * <p>A slot is never overwritten too early: a shard can post step k + 1 only once every worker sent step
 * k + 1, which they do only after every shard sent step k's parameters, after reading step k's total.
 */
final class NormReduction {
    private static final int SLOT = 64; // a cache line per shard: no false sharing between shard threads
    private final AtomicBuffer slots;
    private final int shards;

    private final String[] where; // by shard: how the deadline message names where it runs ("" in one process)

    NormReduction(int shards) {
        this(shards, null);
    }

    /** {@code where[s]}: appended to shard s in deadline messages, e.g. " (next to rank 1)"; null: nothing. */
    NormReduction(int shards, String[] where) {
        this.shards = shards;
        this.where = where;
        this.slots = new UnsafeBuffer(BufferUtil.allocateDirectAligned(shards * SLOT, SLOT));
        for (int s = 0; s < shards; s++) {
            slots.putLongVolatile(s * SLOT, -1);
        }
    }

    void post(int shard, long step, double sumOfSquares) {
        slots.putDouble(shard * SLOT + Long.BYTES, sumOfSquares);
        slots.putLongOrdered(shard * SLOT, step);
    }

    /** The step shard s last posted (-1: none yet). */
    long postedStep(int shard) {
        return slots.getLongVolatile(shard * SLOT);
    }

    /** The sum of squares shard s posted with {@link #postedStep}; read after it. */
    double posted(int shard) {
        return slots.getDouble(shard * SLOT + Long.BYTES);
    }

    /** True once every shard has posted {@code step}. */
    boolean complete(long step) {
        for (int s = 0; s < shards; s++) {
            if (slots.getLongVolatile(s * SLOT) != step) {
                return false;
            }
        }
        return true;
    }

    /** The total of a {@link #complete} step. */
    double total() {
        double sum = 0;
        for (int s = 0; s < shards; s++) {
            sum += slots.getDouble(s * SLOT + Long.BYTES);
        }
        return sum;
    }

    /** Shards that have not posted {@code step}, for the deadline message (built only then). */
    String missing(long step) {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < shards; s++) {
            if (slots.getLongVolatile(s * SLOT) != step) {
                sb.append(sb.length() == 0 ? "" : ",").append(s).append(where == null ? "" : where[s]);
            }
        }
        return sb.toString();
    }
}
