package io.lockstep.driver.config;

/**
 * {@code resume}: {@code latest} (the newest valid checkpoint in {@code checkpoint.dir}) or the path of one
 * checkpoint file (any Hadoop file system).
 *
 * @param path the checkpoint file; null for latest
 */
public record ResumeFrom(String path) {
    public static final ResumeFrom LATEST = new ResumeFrom(null);

    public static ResumeFrom parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("must be latest or the path of a checkpoint file, got '" + text + "'");
        }
        return "latest".equalsIgnoreCase(text.trim()) ? LATEST : new ResumeFrom(text.trim());
    }

    public boolean isLatest() {
        return path == null;
    }

    @Override
    public String toString() {
        return isLatest() ? "latest" : path;
    }
}
