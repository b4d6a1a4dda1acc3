package io.lockstep.worker.checkpoint;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Checkpoints in a local directory ({@code java.nio.file}). Files are forced to disk before they
 * are renamed into place, and renames are atomic, so after a crash or power loss a checkpoint is
 * either complete or absent. On a cluster the directory must be one the driver can read too.
 */
public final class LocalCheckpointStore extends AbstractCheckpointStore {
    private static final long serialVersionUID = 1L;

    private final String dir; // java.nio.file.Path is not Serializable

    public LocalCheckpointStore(Path dir, int keep) {
        super(keep);
        this.dir = dir.toString();
    }

    private Path path(String name) { return Path.of(dir, name); }

    @Override
    protected List<String> names() throws IOException {
        List<String> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(Path.of(dir))) {
            files.forEach(p -> out.add(p.getFileName().toString()));
        } catch (NoSuchFileException e) {
            // nothing written yet
        }
        return out;
    }

    @Override
    protected InputStream open(String name) throws IOException {
        return Files.newInputStream(path(name));
    }

    @Override
    protected void writeFile(String name, Body body) throws IOException {
        Files.createDirectories(Path.of(dir));
        try (FileChannel ch = FileChannel.open(path(name), StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            body.write(Channels.newOutputStream(ch));
            ch.force(true);
        }
    }

    @Override
    protected void rename(String from, String to) throws IOException {
        Files.move(path(from), path(to), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(Path.of(dir), StandardOpenOption.READ)) {
            d.force(true); // make the rename itself durable
        } catch (IOException e) {
            // not every platform can sync a directory; the file itself is already on disk
        }
    }

    @Override
    protected void delete(String name) throws IOException {
        Files.deleteIfExists(path(name));
    }

    @Override
    protected String location(String name) {
        return path(name).toString();
    }

    @Override
    public String toString() {
        return "LocalCheckpointStore[" + dir + "]";
    }
}
