package io.lockstep.worker.checkpoint;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Everything a resumed run needs to continue exactly where an uninterrupted one would be.
 * Immutable: the arrays are copied on the way in and on the way out (so call {@link #params()}
 * once and keep the result), null arrays become empty ones and {@code configKeys} is kept sorted.
 *
 * @param step          global optimizer steps completed
 * @param epoch         0-based epoch to continue in
 * @param stepInEpoch   optimizer steps already done in that epoch
 * @param seed          the run's seed
 * @param params        flat parameters, by parameter index
 * @param updaterState  flat optimizer state, by index (empty for plain SGD)
 * @param configDigest  hex digest of {@code configKeys} ({@link #digest(Map)})
 * @param configKeys    the config keys that shape the model and the data, with their values
 * @param normalization serialized feature scaling, opaque here (may be empty)
 * @param trainerState  the caller's own bookkeeping (early stopping, best metric), opaque here
 * @param createdMillis wall-clock time of writing, {@link System#currentTimeMillis()}
 */
public record Checkpoint(long step, int epoch, int stepInEpoch, long seed, float[] params, float[] updaterState,
                         String configDigest, Map<String, String> configKeys, byte[] normalization,
                         byte[] trainerState, long createdMillis) {

    private static final float[] NO_FLOATS = new float[0];
    private static final byte[] NO_BYTES = new byte[0];

    public Checkpoint {
        if (step < 0 || epoch < 0 || stepInEpoch < 0) {
            throw new IllegalArgumentException("step " + step + ", epoch " + epoch + ", stepInEpoch " + stepInEpoch
                + ": none may be negative");
        }
        params = params == null ? NO_FLOATS : params.clone();
        updaterState = updaterState == null ? NO_FLOATS : updaterState.clone();
        configDigest = configDigest == null ? "" : configDigest;
        configKeys = sortedCopy(configKeys);
        normalization = normalization == null ? NO_BYTES : normalization.clone();
        trainerState = trainerState == null ? NO_BYTES : trainerState.clone();
    }

    /** A copy; it can be large, so call once. */
    @Override public float[] params() { return params.clone(); }
    /** A copy. */
    @Override public float[] updaterState() { return updaterState.clone(); }
    /** A copy. */
    @Override public byte[] normalization() { return normalization.clone(); }
    /** A copy. */
    @Override public byte[] trainerState() { return trainerState.clone(); }

    // the codec reads the arrays without copying them
    float[] paramsRef() { return params; }
    float[] updaterStateRef() { return updaterState; }
    byte[] normalizationRef() { return normalization; }
    byte[] trainerStateRef() { return trainerState; }

    /**
     * SHA-256 (hex) of the keys and values, independent of map order; unambiguous however the
     * values look (every string is length-prefixed).
     */
    public static String digest(Map<String, String> configKeys) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            for (Map.Entry<String, String> e : sortedCopy(configKeys).entrySet()) {
                for (String s : new String[] {e.getKey(), e.getValue()}) {
                    byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
                    out.writeInt(utf8.length);
                    out.write(utf8);
                }
            }
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes.toByteArray()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * How {@code current} differs from the keys this checkpoint was written with, one line per key
     * ({@code model.hidden: checkpoint '[256, 128]', now '[512, 256]'}); empty when they agree.
     */
    public List<String> configDifferences(Map<String, String> current) {
        Map<String, String> now = sortedCopy(current);
        TreeSet<String> keys = new TreeSet<>(configKeys.keySet());
        keys.addAll(now.keySet());
        List<String> out = new ArrayList<>();
        for (String k : keys) {
            String was = configKeys.get(k);
            String is = now.get(k);
            if (was == null) {
                out.add(k + ": not in checkpoint, now '" + is + "'");
            } else if (is == null) {
                out.add(k + ": checkpoint '" + was + "', now not set");
            } else if (!was.equals(is)) {
                out.add(k + ": checkpoint '" + was + "', now '" + is + "'");
            }
        }
        return out;
    }

    private static Map<String, String> sortedCopy(Map<String, String> map) {
        TreeMap<String, String> copy = new TreeMap<>();
        if (map != null) {
            map.forEach((k, v) -> copy.put(Objects.requireNonNull(k, "configKeys: null key"),
                Objects.requireNonNull(v, () -> "configKeys: null value for '" + k + "'")));
        }
        return Collections.unmodifiableMap(copy);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Checkpoint c && step == c.step && epoch == c.epoch && stepInEpoch == c.stepInEpoch
            && seed == c.seed && createdMillis == c.createdMillis && configDigest.equals(c.configDigest)
            && configKeys.equals(c.configKeys) && Arrays.equals(params, c.params)
            && Arrays.equals(updaterState, c.updaterState) && Arrays.equals(normalization, c.normalization)
            && Arrays.equals(trainerState, c.trainerState);
    }

    @Override
    public int hashCode() {
        return Objects.hash(step, epoch, stepInEpoch, seed, createdMillis, configDigest, configKeys,
            Arrays.hashCode(params), Arrays.hashCode(updaterState), Arrays.hashCode(normalization),
            Arrays.hashCode(trainerState));
    }

    @Override
    public String toString() {
        return "Checkpoint[step=" + step + ", epoch=" + epoch + ", stepInEpoch=" + stepInEpoch + ", seed=" + seed
            + ", params=" + params.length + " floats, updaterState=" + updaterState.length + " floats"
            + ", configDigest=" + configDigest + ", configKeys=" + configKeys.size()
            + ", normalization=" + normalization.length + " bytes, trainerState=" + trainerState.length + " bytes"
            + ", createdMillis=" + createdMillis + "]";
    }
}
