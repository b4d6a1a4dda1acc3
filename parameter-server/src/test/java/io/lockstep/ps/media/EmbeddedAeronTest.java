package io.lockstep.ps.media;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Tag;

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
        String base = new File("/dev/shm").isDirectory() ? "/dev/shm" : System.getProperty("java.io.tmpdir");
        Path orphan = Path.of(base, "lockstep-" + dead.pid() + "-deadbeef");
        Files.createDirectories(orphan.resolve("sub"));
        Files.writeString(orphan.resolve("sub/cnc.dat"), "x");
        Path mine = Path.of(base, "lockstep-" + ProcessHandle.current().pid() + "-livetest");
        Files.createDirectories(mine);
        try {
            EmbeddedAeron.removeOrphans();
            assertFalse(Files.exists(orphan), "a dead process's directory is cleaned up");
            assertTrue(Files.exists(mine), "a live process's directory is left alone");
        } finally {
            Files.deleteIfExists(mine);
        }
    }
}
