package io.lockstep.driver.data;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;

import java.io.IOException;
import java.io.UncheckedIOException;

/** Data paths on any Hadoop file system (local, hdfs:, s3a: ...): never java.io.File. */
final class HadoopPaths {
    private HadoopPaths() {
    }

    /** Fails naming the path when nothing matches it (a file, a directory or a glob). */
    static void requireExists(Configuration hadoop, String path) {
        Path p = new Path(path);
        try {
            FileStatus[] found = p.getFileSystem(hadoop).globStatus(p);
            if (found == null || found.length == 0) {
                throw new IllegalArgumentException(path + ": file not found");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read", e);
        }
    }
}
