package io.lockstep.worker.checkpoint;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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
import java.util.Optional;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static io.lockstep.worker.checkpoint.TestCheckpoints.assertBitIdentical;
import static io.lockstep.worker.checkpoint.TestCheckpoints.sample;
import static org.junit.jupiter.api.Assertions.*;

class LocalCheckpointStoreTest {
    @TempDir
    Path dir;

    List<String> warnings = new ArrayList<>();

    Optional<Checkpoint> latest(CheckpointStore store) throws IOException {
        return store.latestValid(warnings::add);
    }

    TreeSet<String> files() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
        }
    }

    static void flipByte(Path file, long at) throws IOException {
        byte[] b = Files.readAllBytes(file);
        b[(int) at] ^= 1;
        Files.write(file, b);
    }

    static void truncate(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }

    @Test
    void writesAndReadsBackTheNewest() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir.resolve("not/yet/there"), 3);
        assertEquals(Optional.empty(), latest(store));
        assertEquals(List.of(), store.list());
        String first = store.write(sample(100, 1000));
        String second = store.write(sample(1200, 1000));
        assertEquals(dir.resolve("not/yet/there/ckpt-000000000100.lsck").toString(), first);
        assertEquals(List.of(first, second), store.list());
        assertBitIdentical(sample(1200, 1000), latest(store).orElseThrow());
        assertEquals(List.of(), warnings);
    }

    @Test
    void keepTwoPrunesOlderOnes() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 2);
        for (long step : new long[] {50, 100, 150, 200}) store.write(sample(step, 10));
        assertEquals(new TreeSet<>(List.of("ckpt-000000000150.lsck", "ckpt-000000000200.lsck")), files());
    }

    @Test
    void aFlippedByteInTheNewestFallsBackToThePreviousAndWarns() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 3);
        store.write(sample(100, 1000));
        String newest = store.write(sample(200, 1000));
        flipByte(Path.of(newest), 2000);
        assertBitIdentical(sample(100, 1000), latest(store).orElseThrow());
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).startsWith("skipping checkpoint " + newest + ": checksum mismatch"), warnings.get(0));
    }

    @Test
    void aTruncatedNewestFallsBackToThePreviousAndWarns() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 3);
        store.write(sample(100, 1000));
        String newest = store.write(sample(200, 1000));
        truncate(Path.of(newest), 1500);
        assertBitIdentical(sample(100, 1000), latest(store).orElseThrow());
        assertEquals(List.of("skipping checkpoint " + newest + ": truncated: file ends in params after 1500 bytes"),
            warnings);
    }

    @Test
    void whenNoneVerifiesThereIsNoneAndEachIsNamed() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 3);
        String a = store.write(sample(100, 10));
        String b = store.write(sample(200, 10));
        truncate(Path.of(a), 0);
        Files.writeString(Path.of(b), "not a checkpoint");
        assertEquals(Optional.empty(), latest(store));
        assertEquals(2, warnings.size());
        assertTrue(warnings.get(0).startsWith("skipping checkpoint " + b + ": bad magic"), warnings.get(0));
        assertTrue(warnings.get(1).startsWith("skipping checkpoint " + a + ": truncated"), warnings.get(1));
    }

    @Test
    void aFileWhoseNameDisagreesWithItsStepIsSkipped() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 3);
        store.write(sample(100, 10));
        String copied = dir.resolve("ckpt-000000000300.lsck").toString();
        Files.copy(Path.of(store.write(sample(200, 10))), Path.of(copied));
        assertEquals(200, latest(store).orElseThrow().step());
        assertEquals(List.of("skipping checkpoint " + copied + ": holds step 200, its name says 300"), warnings);
    }

    @Test
    void tempFilesOfACrashedWriteAreIgnoredAndRemovedByTheNextWrite() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 3);
        store.write(sample(100, 10));
        Files.write(dir.resolve(".ckpt-000000000200.lsck.1a2b3c4d.tmp"), new byte[] {'L', 'S'});
        Files.write(dir.resolve(".best-000000000200.lsck.1a2b3c4d.tmp"), new byte[] {'L', 'S'});
        assertEquals(100, latest(store).orElseThrow().step());
        assertEquals(List.of(dir.resolve("ckpt-000000000100.lsck").toString()), store.list());
        store.write(sample(200, 10));
        assertEquals(new TreeSet<>(List.of("ckpt-000000000100.lsck", "ckpt-000000000200.lsck")), files());
        assertEquals(List.of(), warnings);
    }

    @Test
    void writingAnEarlierStepRemovesCheckpointsFromTheAbandonedLaterSteps() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 2);
        store.write(sample(100, 10));
        store.write(sample(200, 10));
        truncate(dir.resolve("ckpt-000000000200.lsck"), 10);
        assertEquals(100, latest(store).orElseThrow().step()); // resumed from 100 ...
        store.write(sample(150, 10));                           // ... and went on along another path
        assertEquals(new TreeSet<>(List.of("ckpt-000000000100.lsck", "ckpt-000000000150.lsck")), files());
    }

    @Test
    void theBestSlotIsSeparateAndReplacedOnlyWhenComplete() throws IOException {
        CheckpointStore store = new LocalCheckpointStore(dir, 1);
        assertEquals(Optional.empty(), store.best());
        store.write(sample(100, 10));
        store.writeBest(sample(100, 10), "val_loss", 0.25);
        store.write(sample(200, 10));
        store.writeBest(sample(200, 10), "val_loss", 0.125);
        store.write(sample(300, 10));
        assertBitIdentical(sample(200, 10), store.best().orElseThrow());
        assertEquals(300, latest(store).orElseThrow().step());
        assertEquals(new TreeSet<>(List.of("best-000000000200.lsck", "best.txt", "ckpt-000000000300.lsck")), files());
        assertEquals("metric=val_loss\nvalue=0.125\nstep=200\nfile=best-000000000200.lsck\n",
            Files.readString(dir.resolve("best.txt")));
        assertEquals(List.of(dir.resolve("ckpt-000000000300.lsck").toString()), store.list());
    }

    @Test
    void survivesJavaSerializationAsSparkShipsIt() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(new LocalCheckpointStore(dir, 2));
        }
        CheckpointStore shipped;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            shipped = (CheckpointStore) in.readObject();
        }
        shipped.write(sample(7, 10));
        assertEquals(7, latest(new LocalCheckpointStore(dir, 2)).orElseThrow().step());
    }

    @Test
    void aFailedWriteNamesTheFile() throws IOException {
        Path blocked = Files.writeString(dir.resolve("blocked"), "a file where the directory should be");
        IOException e = assertThrows(IOException.class, () -> new LocalCheckpointStore(blocked, 2).write(sample(5, 10)));
        assertTrue(e.getMessage().startsWith("cannot write " + blocked.resolve("ckpt-000000000005.lsck") + ": "),
            e.getMessage());
    }

    @Test
    void keepMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new LocalCheckpointStore(dir, 0));
    }
}
