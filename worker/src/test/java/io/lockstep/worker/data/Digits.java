package io.lockstep.worker.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/** The sklearn digits data set (1797 8x8 images, 10 classes) shipped in examples/data, for tests. */
public final class Digits {
    public static final Path FILE = Path.of("..", "examples", "data", "digits.csv.gz");

    public static List<Sample> load() throws IOException {
        List<Sample> out = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(
            new GZIPInputStream(Files.newInputStream(FILE)), StandardCharsets.US_ASCII))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] cells = line.split(",");
                float[] x = new float[64];
                for (int i = 0; i < 64; i++) {
                    x[i] = Float.parseFloat(cells[i]) / 16f;
                }
                float[] y = new float[10];
                y[(int) Float.parseFloat(cells[64])] = 1f;
                out.add(new Sample(out.size(), x, y));
            }
        }
        return out;
    }

    /** Rows {@code rank, rank + n, rank + 2n, ...}: the strided sharding the driver uses. */
    public static DataPartition stride(List<Sample> all, int rank, int n) {
        List<Sample> mine = new ArrayList<>();
        for (int i = rank; i < all.size(); i += n) {
            mine.add(all.get(i));
        }
        return DataPartition.of(mine.iterator(), 64, 10);
    }
}
