package io.lockstep.driver.doctor;

import io.lockstep.driver.output.RunOutputs;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** output.dir can be written (or created), and its disk's free space. */
final class OutputCheck implements Check {
    @Override
    public List<Finding> run(Setting job) {
        Path dir = Path.of(job.cfg().output().dir());
        String problem = RunOutputs.problem(dir);
        if (problem != null) {
            return List.of(problem.contains("the disk is full") ? Finding.fail("output", problem)
                : Finding.configFail("output", problem));
        }
        String free;
        try {
            Path p = dir.toAbsolutePath();
            while (!Files.exists(p)) {
                p = p.getParent();
            }
            free = Bytes.format(Files.getFileStore(p).getUsableSpace()) + " free";
        } catch (IOException | RuntimeException e) {
            free = "free space unknown";
        }
        Finding output = Finding.ok("output", "output.dir " + dir + ": "
            + (Files.isDirectory(dir) ? "writable" : "can be created") + ", " + free);
        String ckpt = job.cfg().checkpoint().dir();
        if (ckpt != null && !job.where().sameHost() && io.lockstep.driver.data.DataPaths.isLocal(ckpt)) {
            return List.of(output, Finding.warn("output", "checkpoint.dir " + ckpt + " is a local path and spark.master is "
                + job.master() + ": rank 0 writes checkpoints on its executor's host and the driver resumes from its"
                + " own, so it must be one directory every host mounts at that path (NFS), else use hdfs:, s3a:, ..."
                + (new org.apache.hadoop.fs.Path(ckpt).isAbsolute() ? ""
                : " A relative path is resolved in each JVM's working directory: give an absolute one.")
                + " The job checks at its start that every executor sees the driver's directory, and stops if not"));
        }
        return List.of(output);
    }
}
