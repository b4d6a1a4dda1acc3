package io.lockstep.ps.server;

import org.agrona.BufferUtil;
import org.agrona.concurrent.AtomicBuffer;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * What each server agent is waiting for, published by the agent's own thread for readers on any other
 * ({@link ParameterServer#waitingFor()}, read while a worker's step times out): per slot (a shard, or the
 * gather endpoint) the step or round, the ranks still missing as a bitset of ranks 0-63, and how many are
 * missing in all (ranks from 64 up are only counted). The aggregators' own arrays stay single-threaded.
 *
 * <p>One cache line per slot in an Agrona {@link AtomicBuffer}; a slot is written under a sequence number
 * (odd while being written, all accesses volatile), so a reader gets one consistent snapshot or retries.
 * Agents publish only when what they wait for changes: a few times per step.
 */
final class WaitingBoard {
    private static final int SLOT = 64;
    private static final int SEQUENCE = 0;
    private static final int POSITION = 8;
    private static final int MISSING_MASK = 16;
    private static final int MISSING_COUNT = 24;
    private static final int READ_ATTEMPTS = 1000;

    private final AtomicBuffer slots;

    WaitingBoard(int slotCount) {
        this.slots = new UnsafeBuffer(BufferUtil.allocateDirectAligned(slotCount * SLOT, SLOT));
    }

    /** Bits of ranks 0..min(workers, 64)-1: every rank missing. */
    static long allRanks(int workers) {
        return workers >= 64 ? -1L : (1L << workers) - 1;
    }

    /** Bit of {@code rank} in a missing mask, or 0 for a rank past 63 (counted, not named). */
    static long bit(int rank) {
        return rank < 64 ? 1L << rank : 0L;
    }

    /** From the slot's agent thread only. */
    void publish(int slot, long position, long missingMask, int missingCount) {
        int at = slot * SLOT;
        long sequence = slots.getLong(at + SEQUENCE); // the single writer's own value
        slots.putLongVolatile(at + SEQUENCE, sequence + 1);
        slots.putLongVolatile(at + POSITION, position);
        slots.putLongVolatile(at + MISSING_MASK, missingMask);
        slots.putLongVolatile(at + MISSING_COUNT, missingCount);
        slots.putLongVolatile(at + SEQUENCE, sequence + 2);
    }

    /**
     * "{@code label} N waits for rank(s) a,b[ and K more]", or empty when the slot waits for nobody (or
     * was being rewritten on every attempt to read it: a diagnostic, never worth blocking for).
     */
    String describe(int slot, String label) {
        int at = slot * SLOT;
        for (int attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
            long before = slots.getLongVolatile(at + SEQUENCE);
            if ((before & 1) != 0) {
                Thread.onSpinWait();
                continue;
            }
            long position = slots.getLongVolatile(at + POSITION);
            long mask = slots.getLongVolatile(at + MISSING_MASK);
            long count = slots.getLongVolatile(at + MISSING_COUNT);
            if (slots.getLongVolatile(at + SEQUENCE) != before) {
                continue;
            }
            if (count == 0) {
                return "";
            }
            StringBuilder sb = new StringBuilder(label).append(' ').append(position).append(" waits for ");
            if (mask == 0) {
                return sb.append(count).append(" rank(s) from 64 up").toString();
            }
            sb.append("rank(s) ");
            int named = 0;
            for (long m = mask; m != 0; m &= m - 1) {
                sb.append(named++ == 0 ? "" : ",").append(Long.numberOfTrailingZeros(m));
            }
            if (count > named) {
                sb.append(" and ").append(count - named).append(" more");
            }
            return sb.toString();
        }
        return "";
    }
}
