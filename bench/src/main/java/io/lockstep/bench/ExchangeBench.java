package io.lockstep.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.lockstep.ps.ExchangeSpec;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code lockstep bench-exchange}: the exchange alone. For each vector size, transport and client count,
 * the median time of one exchange (N clients in this JVM, each sending its vector and getting the
 * average back) and its algorithm bandwidth (vector bytes / time), beside the raw one-way Aeron
 * throughput of the same channel settings, an off-heap memcpy of the same bytes, and Spark's
 * treeAggregate + broadcast of the same vectors in local[N] mode.
 */
@Command(name = "bench-exchange", mixinStandardHelpOptions = true,
    description = "Benchmark the parameter-server exchange against raw Aeron, memcpy and Spark treeAggregate.")
public final class ExchangeBench implements Callable<Integer> {
    @Option(names = "--sizes", description = "vector sizes in floats (default: ${DEFAULT-VALUE})")
    String sizes = "1M,10M,25M";

    @Option(names = "--clients", description = "client counts (default: ${DEFAULT-VALUE})")
    String clients = "2,4,8";

    @Option(names = "--transports", description = "ipc, udp or both (default: ${DEFAULT-VALUE})")
    String transports = "ipc,udp";

    @Option(names = "--shards", description = "parameter-server shards (default: ${DEFAULT-VALUE}, as ps.shards)")
    int shards = 2;

    @Option(names = "--term-length-mib", description = "Aeron term length in MiB, a power of 2 (default: ${DEFAULT-VALUE}, as ps.term_length)")
    int termLengthMib = ExchangeSpec.DEFAULT_TERM_LENGTH >> 20;

    @Option(names = "--mtu", description = "Aeron MTU (default: ${DEFAULT-VALUE}, as ps.mtu)")
    int mtu = ExchangeSpec.DEFAULT_MTU;

    @Option(names = "--warmup", description = "unmeasured rounds first (default: ${DEFAULT-VALUE})")
    int warmup = 10;

    @Option(names = "--repeats", description = "measured rounds; figures are their medians (default: ${DEFAULT-VALUE})")
    int repeats = 5;

    @Option(names = "--no-spark", description = "skip the Spark treeAggregate + broadcast baseline")
    boolean noSpark;

    @Option(names = "--clear", description = "also time every exchange with its frames in the clear (no AES-GCM:"
        + " what sealing costs; a benchmark-only secret that no job can use)")
    boolean clear;

    @Option(names = "--out", description = "where exchange.json goes (default: ${DEFAULT-VALUE})")
    Path out = Path.of("runs", "bench");

    /** One measured configuration; baselines are per size (memcpy), per size and transport (raw), per size and N (Spark). */
    record Row(long floats, ExchangeSpec.Transport transport, int clients, double exchangeSeconds,
               double clearSeconds, double rawSeconds, double memcpySeconds, double sparkSeconds) {
        double bytes() { return floats * (double) Float.BYTES; }
        double algorithmBandwidth() { return bytes() / exchangeSeconds; }
        double rawBandwidth() { return bytes() / rawSeconds; }
        double memcpyBandwidth() { return bytes() / memcpySeconds; }
    }

    @Override
    public Integer call() throws Exception {
        List<Integer> sizeList = BenchArgs.counts(sizes, "--sizes");
        List<Integer> clientList = BenchArgs.counts(clients, "--clients");
        List<ExchangeSpec.Transport> transportList = BenchArgs.transports(transports, "--transports");
        if (warmup < 0 || repeats < 1) {
            throw new IllegalArgumentException("--warmup must be >= 0 and --repeats >= 1");
        }
        if (Integer.bitCount(termLengthMib) != 1) {
            throw new IllegalArgumentException("--term-length-mib must be a power of 2, got " + termLengthMib);
        }
        int termLength = termLengthMib << 20;
        System.out.printf(Locale.ROOT, "bench-exchange: %d shards, term length %d MiB, mtu %d, %d warm-up + %d measured "
            + "rounds (medians), %d cores%n", shards, termLengthMib, mtu, warmup, repeats,
            Runtime.getRuntime().availableProcessors());

        warmUp(transportList.get(0), termLength);
        Map<Long, Double> memcpy = new HashMap<>();
        Map<String, Double> raw = new HashMap<>();
        Map<String, Double> exchange = new HashMap<>();
        for (int floats : sizeList) {
            long bytes = (long) floats * Float.BYTES;
            memcpy.put((long) floats, BenchArgs.median(Memcpy.copySeconds(bytes, warmup, repeats)));
            for (ExchangeSpec.Transport transport : transportList) {
                double rawSeconds = BenchArgs.median(RawAeron.transferSeconds(transport, bytes, termLength, mtu, warmup,
                    repeats));
                raw.put(floats + "/" + transport, rawSeconds);
                for (int n : clientList) {
                    double seconds;
                    try (ExchangeRun run = new ExchangeRun(transport, n, floats, shards, termLength, mtu,
                        warmup + repeats, warmup + repeats)) {
                        seconds = BenchArgs.median(run.stepSeconds(warmup, repeats));
                    }
                    exchange.put(floats + "/" + transport + "/" + n, seconds);
                    double clearSeconds = Double.NaN;
                    if (clear) {
                        try (ExchangeRun run = new ExchangeRun(transport, n, floats, shards, termLength, mtu,
                            warmup + repeats, warmup + repeats, true)) {
                            clearSeconds = BenchArgs.median(run.stepSeconds(warmup, repeats));
                        }
                        exchange.put(floats + "/" + transport + "/" + n + "/clear", clearSeconds);
                    }
                    System.out.printf(Locale.ROOT, "  %s floats %s N=%d: exchange %.2f ms%s (raw one-way %.2f ms)%n",
                        BenchArgs.floats(floats), transport, n, seconds * 1e3, clear
                            ? String.format(Locale.ROOT, ", in the clear %.2f ms", clearSeconds * 1e3) : "",
                        rawSeconds * 1e3);
                }
            }
        }
        Map<String, Double> spark = new HashMap<>();
        if (!noSpark) {
            for (int n : clientList) {
                try (SparkAggregate agg = new SparkAggregate(n)) {
                    for (int floats : sizeList) {
                        double seconds = BenchArgs.median(agg.roundSeconds(floats, warmup, repeats));
                        spark.put(floats + "/" + n, seconds);
                        System.out.printf(Locale.ROOT, "  %s floats N=%d: Spark treeAggregate + broadcast %.1f ms%n",
                            BenchArgs.floats(floats), n, seconds * 1e3);
                    }
                }
            }
        }

        List<Row> rows = new ArrayList<>();
        for (int floats : sizeList) {
            for (ExchangeSpec.Transport transport : transportList) {
                for (int n : clientList) {
                    rows.add(new Row(floats, transport, n, exchange.get(floats + "/" + transport + "/" + n),
                        exchange.getOrDefault(floats + "/" + transport + "/" + n + "/clear", Double.NaN), raw.get(floats + "/" + transport), memcpy.get((long) floats),
                        spark.getOrDefault(floats + "/" + n, Double.NaN)));
                }
            }
        }
        System.out.print(table(rows));
        write(rows, termLength);
        return 0;
    }

    /**
     * A few seconds of the exchange and the raw path, thrown away: the first configuration measured would
     * otherwise also time the JIT compiling the exchange path (measured: 136 ms instead of 20 ms).
     */
    private void warmUp(ExchangeSpec.Transport transport, int termLength) throws Exception {
        int floats = 1_000_000;
        try (ExchangeRun run = new ExchangeRun(transport, 2, floats, shards, termLength, mtu, 40, 40)) {
            run.stepSeconds(0, 40);
        }
        RawAeron.transferSeconds(transport, floats * (long) Float.BYTES, termLength, mtu, 10, 1);
        Memcpy.copySeconds(floats * (long) Float.BYTES, 10, 1);
    }

    /** The result table: times in ms, bandwidths in GB/s (1e9 bytes), ratios. */
    static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%n| floats | MB | transport | N | exchange ms | alg. GB/s | raw Aeron GB/s "
            + "| exchange/raw | in the clear ms | clear/raw | memcpy GB/s | Spark ms | Spark/exchange |%n"));
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (Row r : rows) {
            boolean clear = !Double.isNaN(r.clearSeconds());
            sb.append(String.format(Locale.ROOT, "| %s | %.0f | %s | %d | %.2f | %.3f | %.3f | %.2f | %s | %s | %.2f | %s | %s |%n",
                BenchArgs.floats(r.floats()), r.bytes() / 1e6, r.transport().name().toLowerCase(Locale.ROOT),
                r.clients(), r.exchangeSeconds() * 1e3, r.algorithmBandwidth() / 1e9, r.rawBandwidth() / 1e9,
                r.algorithmBandwidth() / r.rawBandwidth(),
                clear ? String.format(Locale.ROOT, "%.2f", r.clearSeconds() * 1e3) : "-",
                clear ? String.format(Locale.ROOT, "%.2f", r.rawSeconds() / r.clearSeconds()) : "-",
                r.memcpyBandwidth() / 1e9,
                Double.isNaN(r.sparkSeconds()) ? "-" : String.format(Locale.ROOT, "%.1f", r.sparkSeconds() * 1e3),
                Double.isNaN(r.sparkSeconds()) ? "-" : String.format(Locale.ROOT, "%.1f",
                    r.sparkSeconds() / r.exchangeSeconds())));
        }
        return sb.toString();
    }

    private void write(List<Row> rows, int termLength) throws java.io.IOException {
        List<Map<String, Object>> json = new ArrayList<>();
        for (Row r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("floats", r.floats());
            m.put("transport", r.transport().name().toLowerCase(Locale.ROOT));
            m.put("clients", r.clients());
            m.put("exchange_ms", r.exchangeSeconds() * 1e3);
            m.put("clear_exchange_ms", Double.isNaN(r.clearSeconds()) ? null : r.clearSeconds() * 1e3);
            m.put("algorithm_bandwidth_gb_per_s", r.algorithmBandwidth() / 1e9);
            m.put("raw_aeron_gb_per_s", r.rawBandwidth() / 1e9);
            m.put("memcpy_gb_per_s", r.memcpyBandwidth() / 1e9);
            m.put("spark_ms", Double.isNaN(r.sparkSeconds()) ? null : r.sparkSeconds() * 1e3);
            json.add(m);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("shards", shards);
        result.put("term_length", termLength);
        result.put("mtu", mtu);
        result.put("warmup", warmup);
        result.put("repeats", repeats);
        result.put("rows", json);
        Files.createDirectories(out);
        new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(out.resolve("exchange.json").toFile(),
            result);
    }
}
