package io.lockstep.worker.checkpoint;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Naming, atomic writes, pruning and fallback for every {@link CheckpointStore}; a subclass only
 * says how to list, read, write, rename and delete the files of one directory.
 */
public abstract class AbstractCheckpointStore implements CheckpointStore {
    private static final long serialVersionUID = 1L;
    private static final Logger log = LoggerFactory.getLogger(AbstractCheckpointStore.class);

    static final String CKPT = "ckpt";
    static final String BEST = "best";
    private static final Pattern FILE = Pattern.compile("(ckpt|best)-(\\d{12,})\\.lsck");
    private static final Pattern TEMP = Pattern.compile("\\.(ckpt|best).*\\.tmp");

    private final int keep;

    /** @param keep how many checkpoints {@link #write} leaves, at least 1 */
    /** How many checkpoints {@link #write} leaves. */
    protected int keep() {
        return keep;
    }

    protected AbstractCheckpointStore(int keep) {
        if (keep < 1) throw new IllegalArgumentException("keep must be at least 1, got " + keep);
        this.keep = keep;
    }

    /** Writes the contents of one file. */
    @FunctionalInterface
    protected interface Body {
        void write(OutputStream out) throws IOException;
    }

    /** Names of the files in the directory (none if it does not exist yet). */
    protected abstract List<String> names() throws IOException;

    protected abstract InputStream open(String name) throws IOException;

    /** Creates (or truncates) {@code name}, creating the directory if needed; durable once this returns. */
    protected abstract void writeFile(String name, Body body) throws IOException;

    /** Renames {@code from} to {@code to}, replacing {@code to} if it exists. */
    protected abstract void rename(String from, String to) throws IOException;

    /** Deletes {@code name}; no error if it is already gone. */
    protected abstract void delete(String name) throws IOException;

    /** The full path of {@code name}, for messages and return values. */
    protected abstract String location(String name);

    public static String fileName(String kind, long step) {
        return String.format("%s-%012d.lsck", kind, step);
    }

    @Override
    public String write(Checkpoint c) throws IOException {
        String name = fileName(CKPT, c.step());
        writeAtomically(name, out -> CheckpointCodec.write(c, out));
        prune(CKPT, c.step(), keep);
        return location(name);
    }

    @Override
    public Optional<Checkpoint> latestValid(Consumer<String> warn) throws IOException {
        return newestValid(CKPT, warn);
    }

    @Override
    public void writeBest(Checkpoint c, String metric, double value) throws IOException {
        String name = fileName(BEST, c.step());
        writeAtomically(name, out -> CheckpointCodec.write(c, out));
        String text = "metric=" + metric + "\nvalue=" + value + "\nstep=" + c.step() + "\nfile=" + name + "\n";
        writeAtomically("best.txt", out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
        prune(BEST, c.step(), 1);
    }

    @Override
    public Optional<Checkpoint> best() throws IOException {
        return newestValid(BEST, log::warn);
    }

    @Override
    public List<String> list() throws IOException {
        List<String> out = new ArrayList<>();
        for (String name : files(CKPT, names()).values()) out.add(location(name));
        return out;
    }

    /** Files of one kind by step, ascending. */
    private static TreeMap<Long, String> files(String kind, List<String> names) {
        TreeMap<Long, String> out = new TreeMap<>();
        for (String name : names) {
            Matcher m = FILE.matcher(name);
            if (m.matches() && m.group(1).equals(kind)) out.put(Long.parseLong(m.group(2)), name);
        }
        return out;
    }

    /** Writes {@code name} under a temporary name and renames it into place. */
    private void writeAtomically(String name, Body body) throws IOException {
        String tmp = "." + name + "." + UUID.randomUUID().toString().substring(0, 8) + ".tmp";
        try {
            writeFile(tmp, body);
            rename(tmp, name);
        } catch (IOException e) {
            IOException named = new IOException("cannot write " + location(name) + ": " + e, e);
            try {
                delete(tmp); // otherwise the next write removes it
            } catch (IOException x) {
                named.addSuppressed(x);
            }
            throw named;
        }
    }

    /**
     * Keeps the newest {@code keep} files of {@code kind} at or below {@code written}, deletes the
     * others (those above it are from a timeline that was abandoned by resuming from before them),
     * and temporary files of crashed writes.
     */
    private void prune(String kind, long written, int keep) throws IOException {
        List<String> names = names();
        TreeMap<Long, String> files = files(kind, names);
        List<String> doomed = new ArrayList<>(files.tailMap(written, false).values());
        List<String> older = new ArrayList<>(files.headMap(written, true).values());
        doomed.addAll(older.subList(0, Math.max(0, older.size() - keep)));
        for (String name : names) {
            if (TEMP.matcher(name).matches()) doomed.add(name);
        }
        for (String name : doomed) delete(name);
    }

    private Optional<Checkpoint> newestValid(String kind, Consumer<String> warn) throws IOException {
        for (Map.Entry<Long, String> e : files(kind, names()).descendingMap().entrySet()) {
            String where = location(e.getValue());
            try (InputStream in = open(e.getValue())) {
                Checkpoint c = CheckpointCodec.read(in, where);
                if (c.step() != e.getKey()) {
                    throw new CorruptCheckpointException(where, "holds step " + c.step() + ", its name says " + e.getKey());
                }
                return Optional.of(c);
            } catch (CorruptCheckpointException x) {
                warn.accept("skipping checkpoint " + where + ": " + x.reason());
            } catch (IOException x) {
                warn.accept("skipping checkpoint " + where + ": cannot read it: " + x);
            }
        }
        return Optional.empty();
    }
}
