package io.lockstep.driver.output;

import io.lockstep.worker.checkpoint.Checkpoint;
import io.lockstep.worker.checkpoint.CheckpointStore;
import io.lockstep.worker.checkpoint.LocalCheckpointStore;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The Hadoop store on the local file system, named both as a {@code file://} URI and as a plain path. */
class HadoopCheckpointStoreTest {
    @TempDir
    Path tmp;

    Path dir;
    List<String> warnings = new ArrayList<>();

    /** A store on {@code <tmp>/ckpt} (not created yet), named the way {@code form} says. */
    CheckpointStore store(String form, int keep) throws IOException {
        dir = tmp.resolve("ckpt");
        String path = form.equals("uri") ? dir.toUri().toString() : dir.toString();
        assertEquals(form.equals("uri"), path.startsWith("file:///"), path);
        return shipped(new HadoopCheckpointStore(path, keep, Map.of("io.file.buffer.size", "65536")));
    }

    /** Through Java serialization, as Spark ships it to the task of rank 0. */
    static CheckpointStore shipped(CheckpointStore store) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(store);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (CheckpointStore) in.readObject();
        } catch (ClassNotFoundException e) {
            throw new AssertionError(e);
        }
    }

    static Checkpoint sample(long step, int floats) {
        SplittableRandom random = new SplittableRandom(step);
        float[] params = new float[floats];
        for (int i = 0; i < floats; i++) params[i] = Float.intBitsToFloat(random.nextInt());
        Map<String, String> keys = Map.of("model.hidden", "[256, 128]", "batch_size", "64");
        return new Checkpoint(step, 1, 7, 42, params, new float[] {0.5f, -0f}, Checkpoint.digest(keys), keys,
            new byte[] {1, 2}, new byte[] {3}, 1_700_000_000_000L);
    }

    static void assertBitIdentical(Checkpoint expected, Checkpoint actual) {
        assertEquals(expected, actual);
        float[] e = expected.params();
        float[] a = actual.params();
        for (int i = 0; i < e.length; i++) {
            assertEquals(Float.floatToRawIntBits(e[i]), Float.floatToRawIntBits(a[i]), "float " + i);
        }
    }

    TreeSet<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    static TreeSet<String> set(String... names) {
        return new TreeSet<>(List.of(names));
    }

    @ParameterizedTest
    @ValueSource(strings = {"uri", "plain"})
    void roundTripsBitExactListsAndKeepsTheNewestTwo(String form) throws IOException {
        CheckpointStore store = store(form, 2);
        assertEquals(Optional.empty(), store.latestValid(warnings::add));
        List<String> written = new ArrayList<>();
        for (long step : new long[] {100, 200, 300}) written.add(store.write(sample(step, step == 300 ? 3_000_000 : 10)));
        assertEquals("file:" + dir.resolve("ckpt-000000000300.lsck"), written.get(2));
        assertEquals(written.subList(1, 3), store.list());
        assertEquals(set("ckpt-000000000200.lsck", "ckpt-000000000300.lsck"), files(), "no .crc side files either");
        assertBitIdentical(sample(300, 3_000_000), store.latestValid(warnings::add).orElseThrow());
        assertEquals(List.of(), warnings);
    }

    @ParameterizedTest
    @ValueSource(strings = {"uri", "plain"})
    void corruptNewestFallsBackToThePreviousAndWarnsNamingIt(String form) throws IOException {
        CheckpointStore store = store(form, 3);
        store.write(sample(100, 1000));
        String flipped = store.write(sample(200, 1000));
        String truncated = store.write(sample(300, 1000));
        Path f = dir.resolve("ckpt-000000000200.lsck");
        byte[] b = Files.readAllBytes(f);
        b[3000] ^= 1;
        Files.write(f, b);
        try (FileChannel ch = FileChannel.open(dir.resolve("ckpt-000000000300.lsck"), StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 1);
        }
        assertBitIdentical(sample(100, 1000), store.latestValid(warnings::add).orElseThrow());
        assertEquals(2, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).startsWith("skipping checkpoint " + truncated + ": truncated"), warnings.get(0));
        assertTrue(warnings.get(1).startsWith("skipping checkpoint " + flipped + ": checksum mismatch"), warnings.get(1));
    }

    @ParameterizedTest
    @ValueSource(strings = {"uri", "plain"})
    void tempFilesOfACrashedWriteAreIgnoredAndRemovedByTheNextWrite(String form) throws IOException {
        CheckpointStore store = store(form, 3);
        store.write(sample(100, 10));
        Files.write(dir.resolve(".ckpt-000000000200.lsck.1a2b3c4d.tmp"), new byte[] {'L', 'S', 'C', 'K'});
        assertEquals(100, store.latestValid(warnings::add).orElseThrow().step());
        assertEquals(1, store.list().size());
        store.write(sample(200, 10));
        assertEquals(set("ckpt-000000000100.lsck", "ckpt-000000000200.lsck"), files());
        assertEquals(List.of(), warnings);
    }

    @ParameterizedTest
    @ValueSource(strings = {"uri", "plain"})
    void theBestSlotIsSeparateAndReplaced(String form) throws IOException {
        CheckpointStore store = store(form, 1);
        assertEquals(Optional.empty(), store.best());
        store.writeBest(sample(100, 10), "val_accuracy", 0.9);
        store.writeBest(sample(200, 10), "val_accuracy", 0.95);
        store.writeBest(sample(200, 10), "val_accuracy", 0.95); // the same step again replaces it
        store.write(sample(300, 10));
        assertBitIdentical(sample(200, 10), store.best().orElseThrow());
        assertEquals(set("best-000000000200.lsck", "best.txt", "ckpt-000000000300.lsck"), files());
        assertTrue(Files.readString(dir.resolve("best.txt")).startsWith("metric=val_accuracy\nvalue=0.95\nstep=200\n"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"uri", "plain"})
    void readsWhatTheLocalStoreWroteAndTheOtherWayRound(String form) throws IOException {
        CheckpointStore hadoop = store(form, 3);
        CheckpointStore local = new LocalCheckpointStore(dir, 3);
        local.write(sample(100, 100));
        assertBitIdentical(sample(100, 100), hadoop.latestValid(warnings::add).orElseThrow());
        hadoop.write(sample(200, 100));
        assertBitIdentical(sample(200, 100), local.latestValid(warnings::add).orElseThrow());
        assertEquals(local.list().size(), hadoop.list().size());
    }

    /** The driver's probe: a task that sees the same directory passes; one that does not fails naming who and what. */
    @org.junit.jupiter.api.Test
    void aTaskThatDoesNotSeeTheDriversDirectoryIsRefusedNamingIt() throws IOException {
        dir = tmp.resolve("ckpt");
        HadoopCheckpointStore driver = new HadoopCheckpointStore(dir.toString(), 3);
        driver.requireShared("rank 0"); // no probe placed: nothing to check
        HadoopCheckpointStore probed = driver.withProbe();
        CheckpointStore task = shipped(probed);
        task.requireShared("rank 1 (on the driver's host)");
        try (var files = Files.list(dir)) {
            String probe = files.map(f -> f.getFileName().toString()).filter(n -> n.startsWith(".lockstep-probe-"))
                .findFirst().orElseThrow();
            // another host's disk at the same path: the file is not there
            Files.move(dir.resolve(probe), tmp.resolve(probe));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> task.requireShared("rank 1 (4321@h executor 1 10.0.0.12)"));
            assertEquals("config key 'checkpoint.dir' is " + dir + ", which rank 1 (4321@h executor 1 10.0.0.12)"
                + " does not share with the driver (the driver's file " + probe + " is not there): rank 0 writes"
                + " checkpoints where it runs, and the driver would not find them to resume from. Use a directory every"
                + " host sees at that path (hdfs://, s3a://, NFS), or unset checkpoint.dir", e.getMessage());
            // a file of that name with other content (another job's driver) is not the probe either
            Files.writeString(dir.resolve(probe), "0");
            assertThrows(IllegalArgumentException.class, () -> task.requireShared("rank 1"));
            Files.move(tmp.resolve(probe), dir.resolve(probe), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        task.requireShared("rank 1");
        assertEquals(List.of(), task.list(), "the probe is no checkpoint");
        probed.removeProbe();
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "removed");
        }
    }
}
