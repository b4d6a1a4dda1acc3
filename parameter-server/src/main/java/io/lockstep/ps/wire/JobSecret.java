package io.lockstep.ps.wire;

import io.lockstep.ps.ExchangeSpec;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.io.InvalidObjectException;
import java.io.NotSerializableException;
import java.io.ObjectInputStream;
import java.io.ObjectStreamException;
import java.io.Serial;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;

/**
 * The per-job secret that proves a frame comes from a member of the job: 32 random bytes made by
 * the driver ({@link #random()}, when an {@link ExchangeSpec} is built without one) and shipped to the tasks inside
 * the {@link ExchangeSpec}. It never appears in {@link #toString()} (nor, therefore, in the spec's),
 * in logs or in configs.
 *
 * <p>Frames are not keyed with the secret itself: each (job id, frame type, sender rank) gets its own
 * AES-128 key, HMAC-SHA256(secret, "lockstep/wire/v1" | job id | type | rank) cut to 16 bytes (a
 * PRF-based key derivation, SP 800-108 style, with the JDK's HMAC). Separate keys let the GCM nonce be
 * just (step or round, offset), which each sender uses once per key, and the job id in the derivation
 * keeps two attempts that shared a secret from ever sharing a key.
 */
public final class JobSecret implements Serializable {
    @Serial
    private static final long serialVersionUID = 1L;
    public static final int LENGTH = 32;
    private static final byte[] LABEL = "lockstep/wire/v1".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] IDS_LABEL = "lockstep/aeron-ids/v1/".getBytes(StandardCharsets.US_ASCII);
    private static final int KEY_LENGTH = 16;

    private final byte[] bytes;
    /** Frames copied, not sealed: only for measuring what authentication costs (never serialized). */
    private final transient boolean plaintext;

    private JobSecret(byte[] bytes, boolean plaintext) {
        this.bytes = bytes;
        this.plaintext = plaintext;
    }

    /** 32 bytes from {@link SecureRandom}: one per job (and per attempt). */
    public static JobSecret random() {
        byte[] b = new byte[LENGTH];
        new SecureRandom().nextBytes(b);
        return new JobSecret(b, false);
    }

    /** A secret the caller made (32 bytes, copied). */
    public static JobSecret of(byte[] secret) {
        if (secret.length != LENGTH) {
            throw new IllegalArgumentException("a job secret has " + LENGTH + " bytes, got " + secret.length);
        }
        return new JobSecret(secret.clone(), false);
    }

    /**
     * Frames travel with their payload copied in the clear and an all-zero tag that nobody checks:
     * the exchange without authentication, for benchmarks that separate the cost of sealing from the rest
     * ({@code bench-exchange --clear}). Such a secret cannot be serialized into a task, so no job can use it.
     */
    public static JobSecret plaintextForBenchmarks() {
        return new JobSecret(new byte[LENGTH], true);
    }

    boolean isPlaintext() {
        return plaintext;
    }

    /** The AES key for frames of {@code type} sent by {@code rank} (-1: a server shard) in job {@code jobId}. */
    SecretKeySpec key(long jobId, int type, int rank) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(bytes, "HmacSHA256"));
            mac.update(LABEL);
            mac.update(ByteBuffer.allocate(14).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(jobId).putShort((short) type).putInt(rank).flip());
            byte[] derived = mac.doFinal();
            SecretKeySpec key = new SecretKeySpec(derived, 0, KEY_LENGTH, "AES");
            java.util.Arrays.fill(derived, (byte) 0);
            return key;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable: " + e.getMessage(), e);
        }
    }

    /**
     * A 32-bit value for (job, label, index) that only holders of the secret can compute: the job's Aeron
     * stream and session ids ({@link ExchangeSpec#streamId}, {@link ExchangeSpec#sessionId}). HMAC-SHA256 under
     * its own label, so it tells nothing about the frame keys.
     */
    public int derive(long jobId, String label, int index) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(bytes, "HmacSHA256"));
            mac.update(IDS_LABEL);
            mac.update(label.getBytes(StandardCharsets.US_ASCII));
            mac.update(ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN).putLong(jobId).putInt(index).flip());
            return ByteBuffer.wrap(mac.doFinal()).getInt();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable: " + e.getMessage(), e);
        }
    }

    @Serial
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        if (bytes == null || bytes.length != LENGTH) {
            throw new InvalidObjectException("a job secret has " + LENGTH + " bytes");
        }
    }

    @Serial
    private Object writeReplace() throws ObjectStreamException {
        if (plaintext) {
            throw new NotSerializableException("a benchmark's plaintext secret never leaves its process");
        }
        return this;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof JobSecret other && plaintext == other.plaintext && MessageDigest.isEqual(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
        return 0; // nothing about the bytes
    }

    @Override
    public String toString() {
        return "JobSecret[redacted]";
    }
}
