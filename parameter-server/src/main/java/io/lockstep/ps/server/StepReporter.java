package io.lockstep.ps.server;

import io.aeron.Publication;
import io.lockstep.ps.server.Destinations.FrameSink;
import io.lockstep.ps.wire.FrameCipher;
import io.lockstep.ps.wire.FrameHeader;
import io.lockstep.ps.wire.GradientFrame;
import io.lockstep.ps.wire.JobSecret;
import org.agrona.BufferUtil;
import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentTerminationException;
import org.agrona.concurrent.UnsafeBuffer;

/**
 * Step reports across JVMs, when shard 0 runs on an executor: the sending side is a {@link StepListener}
 * for shard 0 that queues each finished step (step, samples, mean loss) and sends it, sealed, to the
 * driver's all-gather endpoint ({@link FrameHeader#TYPE_STEP}, header only); {@link #receiver} is the
 * driver's side, which hands each authenticated report of a later step to the driver's listener.
 *
 * <p>The queue holds {@value #CAPACITY} steps: a driver that takes no report for that long has lost the
 * job, and the oldest reports give way (counted, never blocking the shard). Runs in shard 0's thread.
 */
final class StepReporter implements StepListener, Agent {
    static final int CAPACITY = 4096;
    private static final int FRAME = GradientFrame.frameLength(0);

    private final Publication toDriver;
    private final long jobId;
    private final FrameCipher sealer;
    private final GradientFrame frame = new GradientFrame();
    private final UnsafeBuffer buffer = new UnsafeBuffer(BufferUtil.allocateDirectAligned(FRAME, 64));
    private final UnsafeBuffer none = new UnsafeBuffer(BufferUtil.allocateDirectAligned(8, 8));
    private final long[] steps = new long[CAPACITY];
    private final long[] samples = new long[CAPACITY];
    private final float[] losses = new float[CAPACITY];
    private long head; // next to send
    private long tail; // next free
    private long lost;
    private long sealedHead = -1; // the report whose frame is in the buffer

    StepReporter(Publication toDriver, long jobId, JobSecret secret) {
        this.toDriver = toDriver;
        this.jobId = jobId;
        this.sealer = new FrameCipher(secret, jobId, FrameHeader.TYPE_STEP, GradientFrame.SERVER_RANK,
            new FrameCipher.Scratch());
    }

    @Override
    public void onStep(long step, long stepSamples, float meanLoss, long nanoTime) {
        if (tail - head == CAPACITY) {
            head++;
            lost++;
        }
        int i = (int) (tail++ % CAPACITY);
        steps[i] = step;
        samples[i] = stepSamples;
        losses[i] = meanLoss;
    }

    @Override
    public int doWork() {
        int work = 0;
        while (head < tail) {
            int i = (int) (head % CAPACITY);
            if (sealedHead != head) { // sealed once: a nonce is never used twice, and a retry offers the same bytes
                frame.wrapForWrite(buffer, 0, FRAME).header(FrameHeader.TYPE_STEP, jobId, steps[i],
                    GradientFrame.SERVER_RANK, 0, 0, 1, (int) Math.min(Integer.MAX_VALUE, samples[i]), losses[i], 0, 0);
                sealer.seal(buffer, 0, GradientFrame.HEADER_LENGTH, none, 0, 0, steps[i], 0);
                sealedHead = head;
            }
            long result = toDriver.offer(buffer, 0, FRAME);
            if (result < 0) {
                if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                    throw new AgentTerminationException("step reports to the driver: publication unusable: " + result);
                }
                return work; // not connected yet or back-pressured: on the next cycle
            }
            head++;
            work++;
        }
        return work;
    }

    @Override
    public String roleName() {
        return "lockstep-ps-step-reports";
    }

    /** Reports that gave way to newer ones (a driver that took none for {@value #CAPACITY} steps). */
    long lost() {
        return lost;
    }

    /**
     * The driver's side: authenticated reports of later steps go to {@code listener} (stamped with the
     * driver's clock), other frame types to {@code next}.
     */
    static FrameSink receiver(long jobId, JobSecret secret, StepListener listener, DropCounters drops,
                              FrameSink next) {
        FrameCipher opener = new FrameCipher(secret, jobId, FrameHeader.TYPE_STEP, GradientFrame.SERVER_RANK,
            new FrameCipher.Scratch());
        GradientFrame f = new GradientFrame();
        GradientFrame opened = new GradientFrame();
        long[] last = {-1};
        return (buffer, offset, length) -> {
            if (FrameHeader.type(buffer, offset, length) != FrameHeader.TYPE_STEP) {
                next.onFrame(buffer, offset, length);
                return;
            }
            f.wrap(buffer, offset, length);
            if (!f.isWellFormed() || f.length() != 0) {
                drops.recordMalformed();
            } else if (f.jobId() != jobId) {
                drops.record(ShardAggregator.Outcome.FOREIGN_JOB);
            } else if (f.step() <= last[0]) {
                drops.record(ShardAggregator.Outcome.STALE_STEP);
            } else if (opener.open(buffer, offset, GradientFrame.HEADER_LENGTH, 0, f.step(), 0) == null) {
                drops.record(ShardAggregator.Outcome.UNAUTHENTICATED);
            } else {
                // samples and loss are sealed (GradientFrame.hiddenFields): read them from the opened header
                GradientFrame sealed = opened.wrap(opener.openedHeader(), 0, GradientFrame.HEADER_LENGTH);
                if (sealed.samples() < 0) {
                    drops.recordMalformed();
                    return;
                }
                last[0] = f.step();
                listener.onStep(f.step(), sealed.samples(), sealed.loss(), System.nanoTime());
            }
        };
    }
}
