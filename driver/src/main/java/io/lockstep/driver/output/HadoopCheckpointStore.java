package io.lockstep.driver.output;

import io.lockstep.worker.checkpoint.AbstractCheckpointStore;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.StreamCapabilities;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Checkpoints in a directory of any Hadoop file system: {@code file:}, {@code hdfs://},
 * {@code s3a://} (with {@code hadoop-aws} on the class path), or a path without a scheme (the
 * default file system). Serializable for Spark tasks: it keeps the path string and the extra
 * Hadoop settings, and opens the {@link FileSystem} lazily from {@code new Configuration()} plus
 * those settings wherever it is used.
 *
 * <p>Each file is written as {@code <dir>/.ckpt-...tmp} (synced where the stream can) and then
 * renamed into place. On HDFS and local disks that rename is atomic. On s3a a rename is a copy and
 * a delete, so a crash can leave a temporary file behind: its name never matches a checkpoint, so
 * it is ignored, and the next write removes it. Replacing an existing file of the same name
 * (a checkpoint of a step written again, {@code best.txt}) deletes it first where the file system's
 * rename will not overwrite. Local directories use the raw file system, without Hadoop's
 * {@code .crc} side files: the checkpoint carries its own checksum.
 */
public final class HadoopCheckpointStore extends AbstractCheckpointStore {
    private static final long serialVersionUID = 1L;
    static final String PROBE_PREFIX = ".lockstep-probe-";

    private final String dir;
    private final HashMap<String, String> hadoopConf;
    private String probe;                   // the driver's probe file ({@link #withProbe}); null: not checked
    private transient FileSystem fs;
    private transient Path qualifiedDir;

    public HadoopCheckpointStore(String dir, int keep) {
        this(dir, keep, Map.of());
    }

    /** @param hadoopConf settings on top of {@code new Configuration()}, e.g. {@code fs.s3a.endpoint} */
    public HadoopCheckpointStore(String dir, int keep, Map<String, String> hadoopConf) {
        super(keep);
        this.dir = dir;
        this.hadoopConf = new HashMap<>(hadoopConf);
    }

    /** One checkpoint file, by its full path ({@code resume: PATH}); fails naming the file if it is unreadable. */
    public static io.lockstep.worker.checkpoint.Checkpoint read(String file) throws IOException {
        Path p = new Path(file);
        FileSystem f = p.getFileSystem(new Configuration());
        try (InputStream in = f.open(p)) {
            return io.lockstep.worker.checkpoint.CheckpointCodec.read(in, file);
        } catch (FileNotFoundException e) {
            throw new FileNotFoundException(file + ": checkpoint file not found");
        }
    }

    private FileSystem fs() throws IOException {
        if (fs == null) {
            Configuration conf = new Configuration();
            hadoopConf.forEach(conf::set);
            Path p = new Path(dir);
            FileSystem f = p.getFileSystem(conf);
            qualifiedDir = f.makeQualified(p);
            fs = f instanceof LocalFileSystem local ? local.getRawFileSystem() : f;
        }
        return fs;
    }

    private Path path(String name) throws IOException {
        fs();
        return new Path(qualifiedDir, name);
    }

    @Override
    protected List<String> names() throws IOException {
        List<String> out = new ArrayList<>();
        try {
            for (FileStatus s : fs().listStatus(new Path(dir))) {
                if (s.isFile()) out.add(s.getPath().getName());
            }
        } catch (FileNotFoundException e) {
            // nothing written yet
        }
        return out;
    }

    @Override
    protected InputStream open(String name) throws IOException {
        return fs().open(path(name));
    }

    @Override
    protected void writeFile(String name, Body body) throws IOException {
        try (FSDataOutputStream out = fs().create(path(name), true)) {
            body.write(out);
            if (out.hasCapability(StreamCapabilities.HSYNC)) out.hsync();
        }
    }

    @Override
    protected void rename(String from, String to) throws IOException {
        Path src = path(from);
        Path dst = path(to);
        if (fs().rename(src, dst)) return;
        if (fs.exists(dst) && fs.delete(dst, false) && fs.rename(src, dst)) return;
        throw new IOException("could not rename " + src + " to " + dst);
    }

    @Override
    protected void delete(String name) throws IOException {
        fs().delete(path(name), false);
    }

    @Override
    protected String location(String name) {
        try {
            return path(name).toString();
        } catch (IOException e) {
            return new Path(dir, name).toString();
        }
    }

    /**
     * The driver writes a small file of its own into the directory; the tasks, wherever they run, must read it
     * back ({@link #requireShared}). Returns the store that checks it; {@link #removeProbe} when the job ends.
     */
    public HadoopCheckpointStore withProbe() throws IOException {
        HadoopCheckpointStore checked = new HadoopCheckpointStore(dir, keep(), hadoopConf);
        String token = Long.toHexString(new java.security.SecureRandom().nextLong());
        checked.probe = PROBE_PREFIX + token;
        fs().mkdirs(new Path(dir));
        writeFile(checked.probe, out -> out.write(token.getBytes(java.nio.charset.StandardCharsets.US_ASCII)));
        return checked;
    }

    /** Deletes the probe file {@link #withProbe} wrote. */
    public void removeProbe() throws IOException {
        if (probe != null) {
            delete(probe);
        }
    }

    @Override
    public void requireShared(String who) throws IOException {
        if (probe == null) {
            return;
        }
        String token = probe.substring(PROBE_PREFIX.length());
        byte[] read = null;
        try (InputStream in = open(probe)) {
            read = in.readNBytes(64);
        } catch (FileNotFoundException e) {
            // not there: below
        }
        if (read == null || !token.equals(new String(read, java.nio.charset.StandardCharsets.US_ASCII))) {
            throw new IllegalArgumentException("config key 'checkpoint.dir' is " + dir + ", which " + who
                + " does not share with the driver (the driver's file " + probe + " is not there): rank 0 writes"
                + " checkpoints where it runs, and the driver would not find them to resume from. Use a directory every"
                + " host sees at that path (hdfs://, s3a://, NFS), or unset checkpoint.dir");
        }
    }

    @Override
    public String toString() {
        return "HadoopCheckpointStore[" + dir + "]";
    }
}
