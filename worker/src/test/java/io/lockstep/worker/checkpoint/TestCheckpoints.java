package io.lockstep.worker.checkpoint;

import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Checkpoints for tests, with every field set. */
final class TestCheckpoints {
    private TestCheckpoints() {}

    static final Map<String, String> KEYS = Map.of("model.hidden", "[256, 128]", "batch_size", "64",
        "data.train", "data/tränings-set.csv");

    /** {@code floats} parameters of arbitrary bit patterns (NaN payloads, -0, subnormals, infinities included). */
    static Checkpoint sample(long step, int floats) {
        SplittableRandom random = new SplittableRandom(step);
        float[] params = new float[floats];
        for (int i = 0; i < floats; i++) params[i] = Float.intBitsToFloat(random.nextInt());
        float[] updater = new float[floats / 2];
        for (int i = 0; i < updater.length; i++) updater[i] = (float) random.nextGaussian();
        return new Checkpoint(step, (int) (step / 100), (int) (step % 100), 42, params, updater,
            Checkpoint.digest(KEYS), KEYS, new byte[] {1, 2, 3}, ("best=0.5 at " + step).getBytes(), 1_700_000_000_000L + step);
    }

    static void assertBitIdentical(Checkpoint expected, Checkpoint actual) {
        assertEquals(expected, actual);
        assertBitIdentical(expected.params(), actual.params());
        assertBitIdentical(expected.updaterState(), actual.updaterState());
    }

    static void assertBitIdentical(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, "length");
        for (int i = 0; i < expected.length; i++) {
            if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(actual[i])) {
                throw new AssertionError("float " + i + ": expected bits " + Integer.toHexString(
                    Float.floatToRawIntBits(expected[i])) + ", got " + Integer.toHexString(Float.floatToRawIntBits(actual[i])));
            }
        }
    }
}
