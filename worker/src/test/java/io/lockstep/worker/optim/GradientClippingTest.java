package io.lockstep.worker.optim;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Sgd;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.*;

class GradientClippingTest {
    static final int N = 1001;

    static float[] values(long seed, double scale) {
        Random r = new Random(seed);
        float[] v = new float[N];
        for (int i = 0; i < N; i++) {
            v[i] = (float) (r.nextGaussian() * scale);
        }
        return v;
    }

    static INDArray row(float[] v, char order) {
        INDArray a = Nd4j.create(DataType.FLOAT, new long[]{1, v.length}, order);
        for (int i = 0; i < v.length; i++) {
            a.putScalar(0, i, v[i]);
        }
        return a;
    }

    /** The reference: plain Java, double accumulation in index order. */
    static double javaNorm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    static float[] javaClipNorm(float[] v, double max) {
        double norm = javaNorm(v);
        float[] out = v.clone();
        if (norm > max) {
            double scale = max / (norm + 1e-6);
            for (int i = 0; i < out.length; i++) {
                out[i] = (float) (v[i] * scale);
            }
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(chars = {'c', 'f'})
    void clipsByGlobalNormLikePlainJava(char order) {
        float[] v = values(1, 0.5); // norm ~ 16
        INDArray a = row(v, order);
        assertEquals(order, a.ordering());
        double norm = GradientClipping.clipByGlobalNorm(a, 1.0);
        assertEquals(javaNorm(v), norm, 0.0, "the norm before clipping, exactly");
        assertTrue(norm > 10);
        float[] expected = javaClipNorm(v, 1.0);
        assertArrayEquals(expected, a.toFloatVector(), "bit-equal to the Java computation");
        double after = GradientClipping.globalNorm(a);
        assertTrue(after <= 1.0 && after > 1.0 - 1e-5, "clipped norm " + after);
    }

    @Test
    void belowTheThresholdNothingChanges() {
        float[] v = values(2, 0.01); // norm ~ 0.3
        INDArray a = row(v, 'c');
        double norm = GradientClipping.clipByGlobalNorm(a, 1.0);
        assertEquals(javaNorm(v), norm, 0.0);
        assertArrayEquals(v, a.toFloatVector());
    }

    @Test
    void worksOnAViewAtAnOffsetAndLeavesTheRestAlone() {
        float[] all = values(3, 1.0);
        for (char order : new char[]{'c', 'f'}) {
            INDArray big = row(all, order);
            INDArray view = big.get(NDArrayIndex.interval(0, 1), NDArrayIndex.interval(100, 600));
            assertTrue(view.offset() > 0 || order == 'f', "a real offset view");
            float[] part = java.util.Arrays.copyOfRange(all, 100, 600);
            double norm = GradientClipping.clipByGlobalNorm(view, 2.0);
            assertEquals(javaNorm(part), norm, 0.0);
            float[] expected = all.clone();
            System.arraycopy(javaClipNorm(part, 2.0), 0, expected, 100, 500);
            assertArrayEquals(expected, big.toFloatVector(), "order " + order);
        }
    }

    @Test
    void doublePrecisionArrays() {
        double[] v = new double[N];
        Random r = new Random(4);
        for (int i = 0; i < N; i++) {
            v[i] = r.nextGaussian();
        }
        INDArray a = Nd4j.create(v, new long[]{1, N}, DataType.DOUBLE);
        double s = 0;
        for (double x : v) {
            s += x * x;
        }
        double norm = Math.sqrt(s);
        assertEquals(norm, GradientClipping.clipByGlobalNorm(a, 3.0), 0.0);
        double scale = 3.0 / (norm + 1e-6);
        double[] got = a.toDoubleVector();
        for (int i = 0; i < N; i++) {
            assertEquals(v[i] * scale, got[i], 0.0);
        }
        INDArray b = Nd4j.create(v, new long[]{1, N}, DataType.DOUBLE);
        assertEquals(java.util.Arrays.stream(v).map(Math::abs).max().orElseThrow(), GradientClipping.clipByValue(b, 0.5), 0.0);
        for (double x : b.toDoubleVector()) {
            assertTrue(Math.abs(x) <= 0.5);
        }
    }

    @ParameterizedTest
    @ValueSource(chars = {'c', 'f'})
    void clipsByValueLikePlainJava(char order) {
        float[] v = values(5, 1.0);
        INDArray a = row(v, order);
        double maxAbs = GradientClipping.clipByValue(a, 0.75);
        double expectedMax = 0;
        float[] expected = new float[N];
        for (int i = 0; i < N; i++) {
            expectedMax = Math.max(expectedMax, Math.abs(v[i]));
            expected[i] = (float) Math.min(0.75, Math.max(-0.75, v[i]));
        }
        assertEquals(expectedMax, maxAbs, 0.0);
        assertArrayEquals(expected, a.toFloatVector());
    }

    /** On the network's own flat gradient view, in place: the per-parameter gradient views see the clipped values. */
    @Test
    void clipsTheNetworksGradientViewInPlace() {
        MultiLayerNetwork net = TinyNet.init(TinyNet.mlp(new NeuralNetConfiguration.Builder().updater(new Sgd(0.1))));
        TinyNet.meanGradient(net, TinyNet.batch(0, DataType.FLOAT));
        INDArray view = net.getGradientsViewArray();
        float[] before = view.toFloatVector();
        double max = javaNorm(before) / 4;
        double norm = GradientClipping.clipByGlobalNorm(view, max);
        assertEquals(javaNorm(before), norm, 0.0);
        float[] expected = javaClipNorm(before, max);
        assertArrayEquals(expected, view.toFloatVector());
        INDArray w0 = net.gradient().gradientForVariable().get("0_W");
        assertEquals(before[0] * (max / (norm + 1e-6)), w0.dup('f').reshape(w0.length()).getDouble(0), 1e-7);
    }

    @Test
    void nonFiniteGradientsAreReportedNotTouched() {
        float[] v = values(6, 1.0);
        v[17] = Float.NaN;
        INDArray a = row(v, 'c');
        assertTrue(Double.isNaN(GradientClipping.clipByGlobalNorm(a, 1.0)));
        assertArrayEquals(v, a.toFloatVector());
        v[17] = Float.POSITIVE_INFINITY;
        INDArray b = row(v, 'c');
        assertEquals(Double.POSITIVE_INFINITY, GradientClipping.clipByGlobalNorm(b, 1.0));
        assertArrayEquals(v, b.toFloatVector());
        v[17] = Float.NaN;
        INDArray c = row(v, 'c');
        assertTrue(Double.isNaN(GradientClipping.clipByValue(c, 0.5)));
        assertTrue(Float.isNaN(c.getFloat(17)));
    }

    @Test
    void rejectsWhatItCannotClipFaithfully() {
        INDArray matrix = Nd4j.rand(DataType.FLOAT, 3, 4);
        assertThrows(IllegalArgumentException.class, () -> GradientClipping.globalNorm(matrix));
        INDArray column = Nd4j.rand(DataType.FLOAT, 'c', 5, 4).getColumn(1, true); // strided
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipByValue(column, 1));
        assertTrue(e.getMessage().contains("contiguous"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GradientClipping.globalNorm(Nd4j.zeros(DataType.HALF, 1, 4)));
        e = assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipByGlobalNorm(Nd4j.zeros(1, 3), 0));
        assertEquals("clipping.threshold must be > 0, got 0", e.getMessage());
        assertEquals(0.0, GradientClipping.globalNorm(Nd4j.empty(DataType.FLOAT)));
    }

    @Test
    void clippingSpec() {
        assertSame(ClippingSpec.Mode.NORM, ClippingSpec.Mode.parse("Norm"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClippingSpec.Mode.parse("l2"));
        assertEquals("clipping.mode: unknown 'l2' (none, norm, value)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClippingSpec.norm(0));
        assertEquals("clipping.threshold must be > 0 for clipping.mode norm, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ClippingSpec.value(-2.5));
        assertEquals("clipping.threshold must be > 0 for clipping.mode value, got -2.5", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ClippingSpec(null, 1));
        assertTrue(e.getMessage().startsWith("clipping.mode is required"));

        float[] v = values(7, 1.0);
        INDArray a = row(v, 'f');
        assertTrue(Double.isNaN(ClippingSpec.NONE.apply(a)));
        assertArrayEquals(v, a.toFloatVector());
        assertEquals(javaNorm(v), ClippingSpec.norm(1).apply(a), 0.0);
        assertArrayEquals(javaClipNorm(v, 1), a.toFloatVector());
        INDArray b = row(v, 'c');
        ClippingSpec.value(0.1).apply(b);
        assertEquals(0.1f, b.maxNumber().floatValue());
    }
}
