package io.lockstep.ps;

import java.io.Serializable;

/**
 * How the flat parameter vector is split: {@code shards} contiguous ranges of nearly equal
 * size, each cut into chunks of at most {@code chunkValues} floats (one chunk fits one
 * Aeron frame). Workers and shards derive every offset from this one object, so they agree.
 */
public record ShardLayout(int paramCount, int shards, int chunkValues) implements Serializable {

    public ShardLayout {
        if (shards < 1) {
            throw new IllegalArgumentException("ps.shards must be >= 1, got " + shards);
        }
        if (paramCount < shards) {
            throw new IllegalArgumentException("ps.shards (" + shards + ") exceeds the parameter count " + paramCount);
        }
        if (chunkValues < 1) {
            throw new IllegalArgumentException("chunk size must be >= 1 value, got " + chunkValues);
        }
    }

    public int shardStart(int shard) {
        return (int) ((long) shard * paramCount / shards);
    }

    public int shardLength(int shard) {
        return shardStart(shard + 1) - shardStart(shard);
    }

    public int chunkCount(int shard) {
        return (shardLength(shard) + chunkValues - 1) / chunkValues;
    }

    /** Index of the chunk's first value in the flat vector. */
    public int chunkStart(int shard, int chunk) {
        return shardStart(shard) + chunk * chunkValues;
    }

    public int chunkLength(int shard, int chunk) {
        return Math.min(chunkValues, shardLength(shard) - chunk * chunkValues);
    }

    public int totalChunks() {
        int n = 0;
        for (int s = 0; s < shards; s++) {
            n += chunkCount(s);
        }
        return n;
    }
}
