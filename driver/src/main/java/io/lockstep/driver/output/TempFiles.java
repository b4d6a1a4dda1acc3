package io.lockstep.driver.output;

import java.io.File;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The job's own temporary files (an output being written, metrics.jsonl until the run succeeds):
 * named {@code .<target>.<pid>.<random>.tmp} beside their target, removed by their owner, by a
 * shutdown hook on any exit that runs code (an exception, System.exit, SIGTERM), and, after a
 * {@code kill -9}, by the next run in the same directory ({@link #sweep}).
 */
public final class TempFiles {
    private static final long PID = ProcessHandle.current().pid();
    private static final Pattern NAME = Pattern.compile("^\\..+\\.(\\d+)\\.\\d+\\.tmp$");
    private static final Set<Path> LIVE = ConcurrentHashMap.newKeySet();
    private static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();
    private static volatile boolean hooked;

    private TempFiles() {
    }

    /** A new empty temporary file beside {@code target}, deleted at JVM exit unless {@link #release}d first. */
    public static Path create(Path target) throws IOException {
        hook();
        Path dir = target.toAbsolutePath().getParent();
        // not Files.createTempFile: its files are private (0600); outputs get the umask's permissions
        for (int attempt = 0; ; attempt++) {
            Path tmp = dir.resolve("." + target.getFileName() + "." + PID + "."
                + Long.toUnsignedString(RANDOM.nextLong()) + ".tmp");
            try {
                Files.createFile(tmp);
                LIVE.add(tmp);
                return tmp;
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt > 100) {
                    throw e;
                }
            }
        }
    }

    /** Deletes {@code tmp} if it is still there and forgets it. */
    public static void delete(Path tmp) {
        try {
            Files.deleteIfExists(tmp);
        } catch (IOException ignored) {
            // a temporary file we cannot delete is left; the next run's sweep retries
        }
        LIVE.remove(tmp);
    }

    /** Forgets {@code tmp} (it was renamed into place). */
    public static void release(Path tmp) {
        LIVE.remove(tmp);
    }

    /**
     * Deletes the temporary files in {@code dir} left by processes that are gone, and those of this
     * process that no writer owns any more. Returns how many it removed.
     */
    public static int sweep(Path dir) {
        int removed = 0;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path f : files) {
                Matcher m = NAME.matcher(f.getFileName().toString());
                if (!m.matches()) {
                    continue;
                }
                long pid;
                try {
                    pid = Long.parseLong(m.group(1));
                } catch (NumberFormatException e) {
                    continue;
                }
                boolean orphan = pid == PID ? !LIVE.contains(f.toAbsolutePath()) && !LIVE.contains(f)
                    : ProcessHandle.of(pid).isEmpty();
                if (orphan && Files.isRegularFile(f)) {
                    Files.deleteIfExists(f);
                    removed++;
                }
            }
        } catch (IOException ignored) {
            // nothing to sweep, or not allowed to: the run's own checks report an unusable directory
        }
        return removed;
    }

    /** Whether {@code e} or a cause of it says the disk (or the quota) is full. */
    public static boolean diskFull(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String text = t instanceof FileSystemException fs && fs.getReason() != null ? fs.getReason() : t.getMessage();
            if (text != null && (text.contains("No space left on device") || text.contains("Disk quota exceeded")
                || text.contains("ENOSPC") || text.contains("EDQUOT"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The failure to write {@code target} as one line that names it: "the disk is full" when it is,
     * else the cause's own words.
     */
    public static IOException explain(Path target, Throwable e) {
        if (diskFull(e)) {
            return new IOException(target + ": cannot write it: the disk is full (" + reason(e) + ", "
                + freeSpace(target) + "); free space there or choose another place"
                + (Files.exists(target) ? " (the earlier " + target.getFileName() + " is kept)" : ""), e);
        }
        if (e instanceof IOException io && io.getMessage() != null
            && (io.getMessage().contains(target.toString()) || io.getMessage().contains(": cannot write it: "))) {
            return io;
        }
        return new IOException(target + ": cannot write it: " + reason(e), e);
    }

    private static String reason(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof FileSystemException fs && fs.getReason() != null) {
                return fs.getReason();
            }
        }
        String m = e.getMessage();
        return m == null ? e.getClass().getSimpleName() : m.lines().findFirst().orElse(m);
    }

    private static String freeSpace(Path target) {
        try {
            Path dir = target.toAbsolutePath().getParent();
            return Files.getFileStore(dir).getUsableSpace() / 1024 + " KiB free on " + Files.getFileStore(dir);
        } catch (IOException | RuntimeException e) {
            return "free space unknown";
        }
    }

    private static synchronized void hook() {
        if (hooked) {
            return;
        }
        hooked = true;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            for (Path p : LIVE) {
                new File(p.toString()).delete();
            }
        }, "lockstep-temp-cleanup"));
    }
}
