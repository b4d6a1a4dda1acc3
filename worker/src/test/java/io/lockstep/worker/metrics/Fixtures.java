package io.lockstep.worker.metrics;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.shade.jackson.databind.ObjectMapper;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.*;

/** Splitting a data set the way workers would, merging the parts, and comparing metrics. */
final class Fixtures {
    static final double TOL = 1e-9;

    /** Uneven splits of n rows: 2 parts and 3 parts, each with a part larger than one batch. */
    static final double[][] SPLITS = {{0.37}, {0.13, 0.58}};

    /** Merge orders to try for 2 and 3 parts. */
    static final int[][][] ORDERS = {{{0, 1}, {1, 0}}, {{0, 1, 2}, {2, 0, 1}, {1, 2, 0}}};

    private Fixtures() {
    }

    /** Rows [from, to) added in batches of up to {@code batch} rows, as one worker would. */
    static EvalMetrics evaluate(Supplier<EvalMetrics> fresh, INDArray labels, INDArray predictions, INDArray loss,
                                int from, int to, int batch) {
        EvalMetrics m = fresh.get();
        for (int a = from; a < to; a += batch) {
            int b = Math.min(to, a + batch);
            m.add(rows(labels, a, b), rows(predictions, a, b), rows(loss, a, b));
        }
        return m;
    }

    static INDArray rows(INDArray a, int from, int to) {
        return a.rank() == 1 ? a.get(NDArrayIndex.interval(from, to))
            : a.get(NDArrayIndex.interval(from, to), NDArrayIndex.all());
    }

    /** Part boundaries for the given cut fractions. */
    static int[] bounds(int n, double[] cuts) {
        int[] b = new int[cuts.length + 2];
        for (int i = 0; i < cuts.length; i++) {
            b[i + 1] = (int) (cuts[i] * n);
        }
        b[cuts.length + 1] = n;
        return b;
    }

    /**
     * For every split and merge order: evaluates each part separately (in batches of 64), ships it through Java
     * serialization as Spark would, merges in that order and asserts the result equals {@code whole}.
     */
    static void assertPartsMergeToWhole(Supplier<EvalMetrics> fresh, INDArray labels, INDArray predictions,
                                        INDArray loss, EvalMetrics whole) {
        int n = (int) labels.size(0);
        for (int s = 0; s < SPLITS.length; s++) {
            int[] b = bounds(n, SPLITS[s]);
            List<EvalMetrics> parts = new ArrayList<>();
            for (int p = 0; p + 1 < b.length; p++) {
                parts.add(evaluate(fresh, labels, predictions, loss, b[p], b[p + 1], 64));
            }
            for (int[] order : ORDERS[s]) {
                EvalMetrics merged = copy(parts.get(order[0]));
                for (int i = 1; i < order.length; i++) {
                    merged.merge(copy(parts.get(order[i])));
                }
                assertSameMetrics(whole.toMap(), merged.toMap(), "parts " + java.util.Arrays.toString(b));
            }
        }
    }

    /** Maps equal: counts exactly, doubles within TOL relative, nulls where nulls. */
    static void assertSameMetrics(Object expected, Object actual, String where) {
        if (expected instanceof Map<?, ?> e) {
            Map<?, ?> a = assertInstanceOf(Map.class, actual, where);
            assertEquals(e.keySet(), a.keySet(), where);
            for (Object k : e.keySet()) {
                assertSameMetrics(e.get(k), a.get(k), where + "." + k);
            }
        } else if (expected instanceof List<?> e) {
            List<?> a = assertInstanceOf(List.class, actual, where);
            assertEquals(e.size(), a.size(), where);
            for (int i = 0; i < e.size(); i++) {
                assertSameMetrics(e.get(i), a.get(i), where + "[" + i + "]");
            }
        } else if (expected instanceof Double e) {
            assertClose(e, assertInstanceOf(Double.class, actual, where), where);
        } else {
            assertEquals(expected, actual, where);
        }
    }

    /** Within TOL relative (absolute below 1); NaN only equals NaN. */
    static void assertClose(double expected, double actual, String what) {
        if (Double.isNaN(expected)) {
            assertTrue(Double.isNaN(actual), what + ": expected NaN, got " + actual);
        } else {
            assertEquals(expected, actual, TOL * Math.max(1, Math.abs(expected)), what);
        }
    }

    /** DL4J's "undefined" edge value -1 (asked for explicitly) as NaN, the way these metrics report it. */
    static double undefinedAsNaN(double dl4j) {
        return dl4j == -1 ? Double.NaN : dl4j;
    }

    /** A serialize/deserialize copy: what the driver receives from a worker. */
    @SuppressWarnings("unchecked")
    static <T> T copy(T o) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
                out.writeObject(o);
            }
            try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
                return (T) in.readObject();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Asserts the map holds no NaN or infinite double anywhere and that Jackson writes it as JSON a strict parser
     * reads back; returns the JSON.
     */
    static String assertStrictJson(Map<String, Object> map) throws IOException {
        assertNoNonFinite(map, "map");
        ObjectMapper mapper = new ObjectMapper();
        String json = mapper.writeValueAsString(map);
        assertFalse(json.contains("NaN") || json.contains("Infinity"), json);
        assertNotNull(mapper.readTree(json), json); // strict by default: NaN tokens would not parse
        return json;
    }

    private static void assertNoNonFinite(Object o, String where) {
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> assertNoNonFinite(v, where + "." + k));
        } else if (o instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) {
                assertNoNonFinite(l.get(i), where + "[" + i + "]");
            }
        } else if (o instanceof Double d) {
            assertTrue(Double.isFinite(d), where + " = " + d);
        } else if (o instanceof Float f) {
            assertTrue(Float.isFinite(f), where + " = " + f);
        }
    }
}
