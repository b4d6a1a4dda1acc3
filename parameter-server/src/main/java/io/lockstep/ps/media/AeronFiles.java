package io.lockstep.ps.media;

import io.aeron.CncFileDescriptor;
import io.aeron.driver.Configuration;
import io.aeron.driver.MediaDriver;
import io.aeron.logbuffer.LogBufferDescriptor;
import org.agrona.concurrent.status.CountersReader;

import java.io.File;

/**
 * What an embedded media driver maps in its directory, stated once: {@link EmbeddedAeron} starts every driver
 * with these sizes, and the doctor adds them up for the drivers of a job.
 *
 * <p>A driver's files are its {@code cnc.dat} (command and response rings, the counters, the error log), a
 * {@code loss-report.dat} and one log buffer of 3 terms per publication and per image. Aeron's defaults give a
 * 46 MiB cnc.dat, written through, so two drivers in an executor JVM took 92 MiB before a single stream: its
 * counters (8 MiB of values and 32 MiB of labels, 65,536 counters) are sized here to what a job's streams can
 * use, a few counters each, down to Aeron's minimum (1 MiB, 8,192 counters): an 11 MiB cnc.dat. The error log
 * stays at Aeron's 4 MiB, which is also its minimum.
 */
public final class AeronFiles {
    /** Aeron's page: log buffers and cnc.dat are whole pages. */
    static final int PAGE = LogBufferDescriptor.PAGE_MIN_SIZE;
    /** Counters a media driver keeps for itself, and per stream (positions and limits, channel status). */
    static final int SYSTEM_COUNTERS = 256;
    static final int COUNTERS_PER_STREAM = 8;
    /** The base directory when none is given: shared memory. */
    public static final String SHM = "/dev/shm";

    private AeronFiles() {
    }

    /**
     * Bytes of counter values for a driver of a job with {@code shards} shards and {@code workers} workers: room
     * for every stream any of its drivers can hold (each worker's publication to each shard and each shard's
     * image of it, the answers, the all-gather, the norm links, twice for a next generation), a power of two
     * in Aeron's range (1 MiB, 8,192 counters, to its default 8 MiB).
     */
    public static int counterValuesLength(int shards, int workers) {
        long streams = 2L * (shards + 2) * (workers + 2);
        long bytes = (SYSTEM_COUNTERS + COUNTERS_PER_STREAM * streams) * CountersReader.COUNTER_LENGTH;
        long pow2 = Long.highestOneBit(Math.max(Configuration.COUNTERS_VALUES_BUFFER_LENGTH_MIN, bytes) - 1) << 1;
        return (int) Math.min(pow2, Configuration.COUNTERS_VALUES_BUFFER_LENGTH_DEFAULT);
    }

    /** The cnc.dat of such a driver. */
    public static long cncBytes(int shards, int workers) {
        int counters = counterValuesLength(shards, workers);
        int buffers = Configuration.CONDUCTOR_BUFFER_LENGTH_DEFAULT + Configuration.TO_CLIENTS_BUFFER_LENGTH_DEFAULT
            + counters + Configuration.countersMetadataBufferLength(counters) + Configuration.ERROR_BUFFER_LENGTH_DEFAULT;
        return CncFileDescriptor.computeCncFileLength(buffers, PAGE);
    }

    /** A driver's loss report (sparse: a page per distinct loss observed). */
    public static long lossReportBytes() {
        return Configuration.LOSS_REPORT_BUFFER_LENGTH_DEFAULT;
    }

    /** One publication's or image's log buffer: three terms and a page of metadata. */
    public static long logBytes(int termLength) {
        return LogBufferDescriptor.computeLogLength(termLength, PAGE);
    }

    /** A driver with {@code logs} publications and images of terms of {@code termLength}. */
    public static long driverBytes(int shards, int workers, int logs, int termLength) {
        return cncBytes(shards, workers) + lossReportBytes() + logs * logBytes(termLength);
    }

    /** The base directory of the drivers: {@code aeronDir} ({@code ps.aeron_dir}), else /dev/shm where there is one. */
    public static String baseDir(String aeronDir) {
        if (aeronDir != null) {
            return aeronDir;
        }
        return new File(SHM).isDirectory() ? SHM : System.getProperty("java.io.tmpdir");
    }

    /** Sizes the driver's cnc.dat for such a job. */
    static MediaDriver.Context size(MediaDriver.Context ctx, int shards, int workers) {
        return ctx.counterValuesBufferLength(counterValuesLength(shards, workers))
            .errorBufferLength(Configuration.ERROR_BUFFER_LENGTH_DEFAULT);
    }
}
