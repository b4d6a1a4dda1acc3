package io.lockstep.worker.checkpoint;

import java.io.IOException;
import java.io.Serializable;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A directory of checkpoints. Serializable, so it can be shipped to the Spark task of rank 0,
 * which writes; the driver reads at resume.
 *
 * <p>Files: {@code ckpt-000000001234.lsck} (step zero-padded to 12 digits: lexical order is step
 * order), {@code best-000000001234.lsck} for the best slot, {@code best.txt} describing it, and
 * hidden {@code .ckpt-*.tmp} / {@code .best*.tmp} files while a write is under way. Every file is
 * written under a temporary name and renamed into place, so a reader never sees a partial one.
 */
public interface CheckpointStore extends Serializable {

    /**
     * Writes {@code c} as {@code ckpt-<step>.lsck}, then keeps only the newest {@code keep}
     * checkpoints at or below its step (any at a higher step are left from a run that was resumed
     * from before them, and go too) and removes temporary files of earlier crashed writes.
     *
     * @return the path written
     */
    String write(Checkpoint c) throws IOException;

    /**
     * The newest checkpoint that reads and verifies. One that does not is skipped, {@code warn}
     * being told which file and why, and the one before it is tried.
     */
    Optional<Checkpoint> latestValid(Consumer<String> warn) throws IOException;

    /**
     * Writes {@code c} into the best slot ({@code best-<step>.lsck}, replacing the previous one
     * only once it is complete) and records {@code metric} and {@code value} in {@code best.txt}.
     */
    void writeBest(Checkpoint c, String metric, double value) throws IOException;

    /** The checkpoint in the best slot, if there is one that verifies (problems are logged). */
    Optional<Checkpoint> best() throws IOException;

    /** Paths of the checkpoints ({@code ckpt-*}, not the best slot), oldest first. */
    List<String> list() throws IOException;

    /**
     * Fails, naming {@code who} and the directory, when this task does not see the directory the driver sees (a
     * path on each host's own disk): what rank 0 writes there, the driver would not find to resume from.
     * Nothing to check by default.
     */
    default void requireShared(String who) throws IOException {
    }
}
