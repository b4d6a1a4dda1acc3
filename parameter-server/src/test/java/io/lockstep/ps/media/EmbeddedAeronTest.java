package io.lockstep.ps.media;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

@Tag("slow")
class EmbeddedAeronTest {
    @Test
    void driverDirectoryExistsWhileInUseAndIsGoneAfterTheLastRelease() {
        EmbeddedAeron a = EmbeddedAeron.acquire();
        EmbeddedAeron b = EmbeddedAeron.acquire();
        assertSame(a, b, "one media driver per JVM");
        File dir = new File(a.directory());
        assertTrue(dir.isDirectory());
        assertTrue(dir.getName().startsWith("lockstep-" + ProcessHandle.current().pid() + "-"));
        b.close();
        assertTrue(dir.isDirectory(), "still in use by the first user");
        a.close();
        assertFalse(dir.exists(), "deleted on shutdown");
    }

    /** Aeron closes a client for good when its caller is interrupted inside a call; the next user gets a new one. */
    @Test
    void aClientClosedByAnInterruptIsReplacedForTheNextCall() {
        try (EmbeddedAeron e = EmbeddedAeron.acquire()) {
            io.aeron.Aeron first = e.aeron();
            Thread.currentThread().interrupt(); // a Spark task killed while it registers a publication
            assertThrows(io.aeron.exceptions.AeronException.class, () -> first.addSubscription("aeron:ipc", 1001));
            assertTrue(Thread.interrupted());
            long deadline = System.nanoTime() + 10_000_000_000L; // its conductor thread closes it a moment later
            while (!first.isClosed() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertTrue(first.isClosed(), "Aeron closes the client on an interrupt");
            io.aeron.Aeron next = e.aeron();
            assertNotSame(first, next);
            try (io.aeron.Subscription sub = next.addSubscription("aeron:ipc", 1001)) {
                assertFalse(sub.isClosed());
            }
        }
    }

    @Test
    void directoriesOfDeadProcessesAreRemoved() throws IOException, InterruptedException {
        Process dead = new ProcessBuilder("true").start();
        dead.waitFor();
        String base = AeronFiles.baseDir(null);
        Path orphan = Path.of(base, "lockstep-" + dead.pid() + "-deadbeef");
        Files.createDirectories(orphan.resolve("sub"));
        Files.writeString(orphan.resolve("sub/cnc.dat"), "x");
        Path mine = Path.of(base, "lockstep-" + ProcessHandle.current().pid() + "-livetest");
        Files.createDirectories(mine);
        try {
            EmbeddedAeron.removeOrphans(base);
            assertFalse(Files.exists(orphan), "a dead process's directory is cleaned up");
            assertTrue(Files.exists(mine), "a live process's directory is left alone");
        } finally {
            Files.deleteIfExists(mine);
        }
    }

    @Test
    void aDirectoryOnDiskHoldsTheDriverWithTheCncFileSizedForTheJob(@TempDir Path disk) {
        ExchangeSpec spec = ExchangeSpec.builder(1, new ShardLayout(1000, 3, 100), 5)
            .transport(ExchangeSpec.Transport.IPC).termLength(1 << 20).aeronDir(disk.toString()).build();
        try (EmbeddedAeron driver = EmbeddedAeron.forServer(spec)) {
            File dir = new File(driver.directory());
            assertEquals(disk.toFile(), dir.getParentFile(), "ps.aeron_dir instead of /dev/shm");
            assertEquals(AeronFiles.cncBytes(3, 5), new File(dir, "cnc.dat").length());
            assertTrue(AeronFiles.cncBytes(3, 5) < 12L << 20, "11 MiB, not Aeron's default 46 MiB: "
                + AeronFiles.cncBytes(3, 5));
            assertEquals(AeronFiles.lossReportBytes(), new File(dir, "loss-report.dat").length());
        }
    }
}
