package io.lockstep.worker.checkpoint;

import java.io.IOException;

/** A checkpoint file that cannot be trusted: bad magic, unsupported version, truncated, checksum mismatch. */
public class CorruptCheckpointException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final String reason;

    public CorruptCheckpointException(String file, String reason) {
        super(file + ": " + reason);
        this.file = file;
        this.reason = reason;
    }

    /** The file, as named to the reader. */
    public String file() { return file; }

    /** What is wrong with it, without the file name. */
    public String reason() { return reason; }
}
