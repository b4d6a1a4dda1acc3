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
        return List.of(Finding.ok("output", "output.dir " + dir + ": "
            + (Files.isDirectory(dir) ? "writable" : "can be created") + ", " + free));
    }
}
