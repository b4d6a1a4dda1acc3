package io.lockstep.driver.data;

import io.lockstep.driver.config.Download;
import io.lockstep.driver.config.DataFormat;
import io.lockstep.driver.config.JobConfig;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The data files of a job as they stand before Spark starts, for {@code lockstep doctor} and the
 * checks at job start: whether each configured path exists and can be read (through Hadoop's file
 * systems, like the job), and a cheap look at the first training row for the number of features.
 */
public final class DataPaths {
    private DataPaths() {
    }

    /** The Hadoop configuration a job's Spark context would have: defaults plus spark.hadoop.* of spark.conf. */
    public static Configuration hadoop(JobConfig cfg) {
        Configuration hadoop = new Configuration();
        cfg.spark().conf().forEach((k, v) -> {
            if (k.startsWith("spark.hadoop.")) {
                hadoop.set(k.substring("spark.hadoop.".length()), v);
            }
        });
        return hadoop;
    }

    /** Every data path of the job by its config key (IDX label files included, derived where not set). */
    public static Map<String, String> of(JobConfig.Data d) {
        Map<String, String> paths = new LinkedHashMap<>();
        boolean idx = d.format() == DataFormat.IDX;
        put(paths, "data.train", d.train());
        if (idx) {
            put(paths, "data.train_labels", labels(d.trainLabels(), d.train()));
        }
        put(paths, "data.validation", d.validation());
        if (idx && d.validation() != null) {
            put(paths, "data.validation_labels", labels(d.validationLabels(), d.validation()));
        }
        put(paths, "data.test", d.test());
        if (idx) {
            put(paths, "data.test_labels", labels(d.testLabels(), d.test()));
        }
        return paths;
    }

    private static void put(Map<String, String> paths, String key, String path) {
        if (path != null) {
            paths.put(key, path);
        }
    }

    private static String labels(String explicit, String images) {
        if (explicit != null || images == null) {
            return explicit;
        }
        try {
            return IdxReader.labelsPathFor(images);
        } catch (IllegalArgumentException e) {
            return null; // the loader names it
        }
    }

    /** Whether a path is on the local file system of whichever machine reads it (file: or no scheme). */
    public static boolean isLocal(String path) {
        String scheme = new Path(path).toUri().getScheme();
        return scheme == null || scheme.equalsIgnoreCase("file");
    }

    /**
     * Why {@code path} cannot be read ("file not found", "cannot read: ..."), or null when its first
     * file opens and gives a byte (or is empty).
     */
    public static String problem(Configuration hadoop, String path) {
        Path p = new Path(path);
        try {
            FileSystem fs = p.getFileSystem(hadoop);
            FileStatus[] found = fs.globStatus(p);
            if (found == null || found.length == 0) {
                return "file not found";
            }
            FileStatus first = firstFile(fs, found[0]);
            if (first == null) {
                return "no files in the directory";
            }
            try (InputStream in = fs.open(first.getPath())) {
                in.read();
            }
            return null;
        } catch (IOException | RuntimeException e) {
            String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().lines().findFirst().orElse("");
            return "cannot read: " + m;
        }
    }

    private static FileStatus firstFile(FileSystem fs, FileStatus status) throws IOException {
        if (!status.isDirectory()) {
            return status;
        }
        for (FileStatus child : fs.listStatus(status.getPath())) {
            String name = child.getPath().getName();
            if (name.startsWith("_") || name.startsWith(".")) {
                continue; // _SUCCESS, .crc and the like
            }
            FileStatus f = firstFile(fs, child);
            if (f != null) {
                return f;
            }
        }
        return null;
    }

    /**
     * Features per row read cheaply from the first training file (CSV: the first row's columns less
     * the label; IDX: the image size in the header; LibSVM: data.features; Parquet: data.feature_columns),
     * or -1 when that needs a pass over the data.
     */
    public static int features(Configuration hadoop, JobConfig.Data d) {
        try {
            switch (d.format()) {
                case CSV: {
                    String line = firstLine(hadoop, d.train());
                    return line == null ? -1 : line.split(",", -1).length - 1;
                }
                case IDX: {
                    FileStatus f = first(hadoop, d.train());
                    if (f == null) {
                        return d.download() == Download.MNIST ? 784 : -1;
                    }
                    FileSystem fs = f.getPath().getFileSystem(hadoop);
                    try (DataInputStream in = IdxFile.open(fs.open(f.getPath()), f.getPath().toString())) {
                        return IdxFile.readHeader(in, d.train(), 3).itemSize();
                    }
                }
                case LIBSVM:
                    return d.features() != null ? d.features() : -1;
                default: // parquet
                    return d.featureColumns() != null ? d.featureColumns().size() : -1;
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static FileStatus first(Configuration hadoop, String path) throws IOException {
        if (path == null) {
            return null;
        }
        Path p = new Path(path);
        FileSystem fs = p.getFileSystem(hadoop);
        FileStatus[] found = fs.globStatus(p);
        return found == null || found.length == 0 ? null : firstFile(fs, found[0]);
    }

    private static String firstLine(Configuration hadoop, String path) throws IOException {
        FileStatus f = first(hadoop, path);
        if (f == null) {
            return null;
        }
        FileSystem fs = f.getPath().getFileSystem(hadoop);
        InputStream raw = fs.open(f.getPath());
        CompressionCodec codec = new CompressionCodecFactory(hadoop).getCodec(f.getPath());
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
            codec == null ? raw : codec.createInputStream(raw), StandardCharsets.UTF_8))) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                if (!line.isBlank()) {
                    return line;
                }
            }
            return null;
        }
    }
}
