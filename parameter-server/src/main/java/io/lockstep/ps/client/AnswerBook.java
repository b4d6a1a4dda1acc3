package io.lockstep.ps.client;

import io.lockstep.ps.ShardLayout;

import java.util.Arrays;

/**
 * The slots of one step's chunks, all shards' in one flat order (shard 0's chunks, then shard 1's, ...), and which
 * of the step's answers are in. Single-threaded, like its client.
 */
final class AnswerBook {
    private final ShardLayout layout;
    private final int[] chunkBase;        // by shard: its first slot
    private final boolean[] received;     // by slot
    private final int[] receivedByShard;
    private int receivedCount;

    AnswerBook(ShardLayout layout) {
        this.layout = layout;
        int shards = layout.shards();
        chunkBase = new int[shards];
        int total = 0;
        for (int s = 0; s < shards; s++) {
            chunkBase[s] = total;
            total += layout.chunkCount(s);
        }
        received = new boolean[total];
        receivedByShard = new int[shards];
    }

    /** A new step: no answer is in. */
    void clear() {
        Arrays.fill(received, false);
        Arrays.fill(receivedByShard, 0);
        receivedCount = 0;
    }

    /** The slot of chunk {@code chunk} of {@code shard}. */
    int slot(int shard, int chunk) {
        return chunkBase[shard] + chunk;
    }

    /** The first slot of {@code shard}'s chunks. */
    int base(int shard) {
        return chunkBase[shard];
    }

    int shardOf(int slot) {
        int s = layout.shards() - 1;
        while (chunkBase[s] > slot) {
            s--;
        }
        return s;
    }

    /** Slots in all: chunks of all shards. */
    int total() {
        return received.length;
    }

    boolean has(int slot) {
        return received[slot];
    }

    void take(int shard, int slot) {
        received[slot] = true;
        receivedCount++;
        receivedByShard[shard]++;
    }

    boolean complete() {
        return receivedCount == received.length;
    }

    boolean complete(int shard) {
        return receivedByShard[shard] == layout.chunkCount(shard);
    }

    /** The first of {@code shard}'s chunks whose answer is not in (the shard must not be complete). */
    int firstMissing(int shard) {
        int first = 0;
        while (received[chunkBase[shard] + first]) {
            first++;
        }
        return first;
    }

    /** The last chunk of the run of missing answers of {@code shard} that starts at {@code first}. */
    int lastMissing(int shard, int first) {
        int last = first;
        while (last + 1 < layout.chunkCount(shard) && !received[chunkBase[shard] + last + 1]) {
            last++;
        }
        return last;
    }

    /** "shard 0, shard 2": the shards whose answers are not all in. */
    String missingShards() {
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < layout.shards(); s++) {
            if (!complete(s)) {
                sb.append(sb.length() == 0 ? "shard " : ", shard ").append(s);
            }
        }
        return sb.toString();
    }
}
