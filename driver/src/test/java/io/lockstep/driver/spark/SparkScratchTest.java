package io.lockstep.driver.spark;

import io.lockstep.driver.config.JobConfig;
import org.apache.spark.SparkConf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Spark's scratch space of a killed process is removed by the next job; a live process's is left alone. */
@Tag("slow")
class SparkScratchTest {
    @TempDir
    Path tmp;

    @Test
    void scratchFoldersOfDeadProcessesAreRemovedAndLiveOnesKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        Path orphan = Files.createDirectories(tmp.resolve("lockstep-spark-" + gone.pid()).resolve("blockmgr-1"));
        Files.writeString(orphan.resolve("shuffle_0_0.data"), "left by a killed job");
        Path live = Files.createDirectories(tmp.resolve("lockstep-spark-1")); // pid 1 is always alive
        Path unrelated = Files.createDirectories(tmp.resolve("spark-something-else"));

        Path mine = SparkScratch.forThisProcess(tmp);

        assertFalse(Files.exists(orphan.getParent()), "the dead process's scratch space is gone");
        assertTrue(Files.isDirectory(live) && Files.isDirectory(unrelated), "others are left alone");
        assertEquals(tmp.resolve("lockstep-spark-" + ProcessHandle.current().pid()), mine);
        assertTrue(Files.isDirectory(mine));
    }

    @Test
    void aLocalJobPutsSparksScratchSpaceInAFolderOfItsOwn() {
        JobConfig cfg = JobConfig.defaults()
            .with("workers", 1);
        SparkConf conf = SparkConfs.of(cfg);
        assertTrue(conf.get("spark.local.dir").endsWith("lockstep-spark-" + ProcessHandle.current().pid()),
            conf.get("spark.local.dir"));
        cfg = cfg.with("spark.conf.spark.local.dir", tmp.toString());
        assertEquals(tmp.toString(), SparkConfs.of(cfg).get("spark.local.dir"), "a user's choice wins");
    }
}
