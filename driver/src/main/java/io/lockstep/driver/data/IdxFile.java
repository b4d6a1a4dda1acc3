package io.lockstep.driver.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.zip.GZIPInputStream;

/**
 * The IDX format of the MNIST files: a magic number (0, 0, type 0x08 = unsigned byte, rank),
 * the dimensions as big-endian ints, then the items. Gzipped files (.gz) are read as well.
 */
public final class IdxFile {
    private IdxFile() {
    }

    /** Header of an IDX file: item count and the size of one item in bytes. */
    public record Header(int rank, int count, int itemSize) {
    }

    public static DataInputStream open(InputStream raw, String path) throws IOException {
        InputStream in = new BufferedInputStream(raw, 1 << 16);
        return new DataInputStream(path.endsWith(".gz") ? new GZIPInputStream(in, 1 << 16) : in);
    }

    public static Header readHeader(DataInputStream in, String path, int expectedRank) throws IOException {
        int magic;
        try {
            magic = in.readInt();
        } catch (EOFException e) {
            throw new IllegalArgumentException(path + ": empty or truncated IDX file");
        }
        int type = (magic >>> 8) & 0xFF;
        int rank = magic & 0xFF;
        if ((magic >>> 16) != 0 || type != 0x08) {
            throw new IllegalArgumentException(path + ": not an unsigned-byte IDX file (magic 0x"
                + Integer.toHexString(magic) + ")");
        }
        if (rank != expectedRank) {
            throw new IllegalArgumentException(path + ": expected an IDX file of rank " + expectedRank
                + " (" + (expectedRank == 1 ? "labels" : "images") + "), found rank " + rank);
        }
        int count = in.readInt();
        long itemSize = 1;
        for (int d = 1; d < rank; d++) {
            int dim = in.readInt();
            if (dim < 1) {
                throw new IllegalArgumentException(path + ": dimension " + d + " is " + dim);
            }
            itemSize *= dim;
        }
        if (count < 1 || itemSize > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(path + ": bad IDX dimensions (count " + count + ")");
        }
        return new Header(rank, count, (int) itemSize);
    }

    /** Images as float vectors scaled to [0, 1], read lazily. */
    public static Iterator<float[]> images(InputStream raw, String path) throws IOException {
        DataInputStream in = open(raw, path);
        Header h = readHeader(in, path, 3);
        byte[] buf = new byte[h.itemSize()];
        return new ItemIterator<>(in, path, h.count()) {
            @Override
            float[] read(int item) throws IOException {
                in.readFully(buf);
                float[] x = new float[buf.length];
                for (int i = 0; i < buf.length; i++) {
                    x[i] = (buf[i] & 0xFF) / 255f;
                }
                return x;
            }
        };
    }

    public static Iterator<Integer> labels(InputStream raw, String path) throws IOException {
        DataInputStream in = open(raw, path);
        Header h = readHeader(in, path, 1);
        return new ItemIterator<>(in, path, h.count()) {
            @Override
            Integer read(int item) throws IOException {
                return in.readUnsignedByte();
            }
        };
    }

    private abstract static class ItemIterator<T> implements Iterator<T> {
        private final DataInputStream in;
        private final String path;
        private final int count;
        private int next;

        ItemIterator(DataInputStream in, String path, int count) {
            this.in = in;
            this.path = path;
            this.count = count;
        }

        abstract T read(int item) throws IOException;

        @Override
        public boolean hasNext() {
            if (next < count) {
                return true;
            }
            try {
                in.close();
            } catch (IOException ignored) {
                // reading is done
            }
            return false;
        }

        @Override
        public T next() {
            if (next >= count) {
                throw new NoSuchElementException();
            }
            try {
                return read(next++);
            } catch (EOFException e) {
                throw new IllegalArgumentException(path + ": truncated: the header announces " + count
                    + " items but the file ends at item " + (next - 1));
            } catch (IOException e) {
                throw new UncheckedIOException(path + ": read failed at item " + (next - 1), e);
            }
        }
    }
}
