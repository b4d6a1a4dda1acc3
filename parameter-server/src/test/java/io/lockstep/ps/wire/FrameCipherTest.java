package io.lockstep.ps.wire;

import org.agrona.DirectBuffer;
import org.agrona.concurrent.UnsafeBuffer;
import org.junit.jupiter.api.Test;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.util.Arrays;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.*;

/** The frame cipher against known answers: AES-128-GCM as specified, the nonce, AAD and tag where the wire puts them. */
class FrameCipherTest {
    static final HexFormat HEX = HexFormat.of();

    // McGrew and Viega, "The Galois/Counter Mode of Operation (GCM)", test case 4 (AES-128, 96-bit IV, 20 bytes of AAD)
    static final byte[] K = HEX.parseHex("feffe9928665731c6d6a8f9467308308");
    static final byte[] P = HEX.parseHex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        + "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    static final byte[] A = HEX.parseHex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    static final byte[] C = HEX.parseHex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        + "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091");
    static final byte[] T = HEX.parseHex("5bc94fbc3221a5db94fae95ae7121a47");
    /** The IV cafebabefacedbaddecaf888 as the cipher's nonce: 8 bytes of step, 4 of offset, little-endian. */
    static final long IV_HIGH = 0xaddbcefabebafecaL;
    static final int IV_LOW = 0x88f8cade;

    @Test
    void sealingTheSpecsVectorGivesItsCiphertextAndTagRightAfterTheHeader() {
        FrameCipher cipher = new FrameCipher(new SecretKeySpec(K, "AES"), false, FrameHeader.TYPE_GATHER,
            new FrameCipher.Scratch());
        UnsafeBuffer frame = new UnsafeBuffer(new byte[A.length + P.length + FrameCipher.TAG_LENGTH]);
        frame.putBytes(0, A); // the header is the additional authenticated data
        cipher.seal(frame, 0, A.length, new UnsafeBuffer(P), 0, P.length, IV_HIGH, IV_LOW);
        byte[] wire = frame.byteArray();
        assertArrayEquals(A, Arrays.copyOfRange(wire, 0, A.length), "the header stays as it was");
        assertEquals(HEX.formatHex(C), HEX.formatHex(Arrays.copyOfRange(wire, A.length, A.length + P.length)));
        assertEquals(HEX.formatHex(T), HEX.formatHex(Arrays.copyOfRange(wire, A.length + P.length, wire.length)));

        DirectBuffer opened = cipher.open(frame, 0, A.length, P.length, IV_HIGH, IV_LOW);
        assertNotNull(opened, "the genuine frame opens");
        byte[] plain = new byte[P.length];
        opened.getBytes(0, plain);
        assertArrayEquals(P, plain);
    }

    @Test
    void aFlippedBitInHeaderCiphertextOrTagOrAnotherNonceFailsToOpen() {
        FrameCipher cipher = new FrameCipher(new SecretKeySpec(K, "AES"), false, FrameHeader.TYPE_GATHER,
            new FrameCipher.Scratch());
        byte[] genuine = new byte[A.length + P.length + FrameCipher.TAG_LENGTH];
        System.arraycopy(A, 0, genuine, 0, A.length);
        System.arraycopy(C, 0, genuine, A.length, C.length);
        System.arraycopy(T, 0, genuine, A.length + C.length, T.length);
        assertNotNull(cipher.open(new UnsafeBuffer(genuine), 0, A.length, P.length, IV_HIGH, IV_LOW),
            "the spec's ciphertext and tag open to its plaintext");
        for (int at : new int[]{3, A.length + 7, genuine.length - 1}) {
            byte[] altered = genuine.clone();
            altered[at] ^= 1;
            assertNull(cipher.open(new UnsafeBuffer(altered), 0, A.length, P.length, IV_HIGH, IV_LOW), "bit at byte " + at);
        }
        assertNull(cipher.open(new UnsafeBuffer(genuine), 0, A.length, P.length, IV_HIGH + 1, IV_LOW), "another step");
        assertNull(cipher.open(new UnsafeBuffer(genuine), 0, A.length, P.length, IV_HIGH, IV_LOW + 4), "another offset");
    }

    @Test
    void aGradientFramesSampleCountLossAndNormAreSealedWithThePayloadAndZeroInTheAad() throws Exception {
        FrameCipher cipher = new FrameCipher(new SecretKeySpec(K, "AES"), false, FrameHeader.TYPE_GRADIENT,
            new FrameCipher.Scratch());
        int h = GradientFrame.HEADER_LENGTH;
        byte[] header = new byte[h];
        for (int i = 0; i < h; i++) {
            header[i] = (byte) (i * 7 + 1);
        }
        UnsafeBuffer frame = new UnsafeBuffer(new byte[h + P.length + FrameCipher.TAG_LENGTH]);
        frame.putBytes(0, header);
        cipher.seal(frame, 0, h, new UnsafeBuffer(P), 0, P.length, IV_HIGH, IV_LOW);

        // the same by the book: AAD = the header with those fields zeroed, plaintext = those fields, then the payload
        int s = GradientFrame.SAMPLES_OFFSET;
        int n = GradientFrame.NORM_OFFSET;
        byte[] aad = header.clone();
        Arrays.fill(aad, s, s + 8, (byte) 0);
        Arrays.fill(aad, n, n + 4, (byte) 0);
        byte[] plain = new byte[12 + P.length];
        System.arraycopy(header, s, plain, 0, 8);
        System.arraycopy(header, n, plain, 8, 4);
        System.arraycopy(P, 0, plain, 12, P.length);
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
        gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(K, "AES"), new GCMParameterSpec(128,
            HEX.parseHex("cafebabefacedbaddecaf888")));
        gcm.updateAAD(aad);
        byte[] sealed = gcm.doFinal(plain);

        byte[] wire = frame.byteArray();
        assertArrayEquals(Arrays.copyOfRange(sealed, 0, 8), Arrays.copyOfRange(wire, s, s + 8), "samples and loss");
        assertArrayEquals(Arrays.copyOfRange(sealed, 8, 12), Arrays.copyOfRange(wire, n, n + 4), "norm");
        assertArrayEquals(Arrays.copyOfRange(sealed, 12, sealed.length), Arrays.copyOfRange(wire, h, wire.length),
            "payload and tag");
        assertNotNull(cipher.open(frame, 0, h, P.length, IV_HIGH, IV_LOW));
        byte[] openedHeader = new byte[h];
        cipher.openedHeader().getBytes(0, openedHeader);
        assertArrayEquals(header, openedHeader, "opening restores the sealed fields");
    }
}
