package io.lockstep.bench;

import io.aeron.ExclusivePublication;
import io.aeron.Publication;
import io.aeron.Subscription;
import io.aeron.logbuffer.BufferClaim;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.EmbeddedAeron;
import io.lockstep.ps.media.IdleStrategies;
import org.agrona.concurrent.IdleStrategy;
import org.agrona.concurrent.UnsafeBuffer;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The ceiling of one transport: a plain publication pushing the bytes of one vector, in frames as large
 * as the MTU allows, to a subscription that copies them into a vector of its own, with the channel,
 * term length, MTU and drivers of the exchange's gradient stream (the server's upstream channel,
 * publisher on the workers' driver, subscriber on the server's). No framing, no encryption, no
 * averaging: what Aeron alone does with the same bytes, one way.
 */
final class RawAeron {
    private static final int STREAM = 4242;
    private static final int FRAGMENT_LIMIT = 64;

    private RawAeron() {
    }

    /** Seconds per one-way transfer of {@code bytes}, one figure per measured repeat. */
    static double[] transferSeconds(ExchangeSpec.Transport transport, long bytes, int termLength, int mtu, int warmup,
                                    int repeats) throws TimeoutException, InterruptedException {
        ExchangeSpec spec = ExchangeSpec.builder(1, new ShardLayout(1, 1, 1), 1).transport(transport)
            .termLength(termLength).mtu(mtu).timeoutMillis(ExchangeRun.TIMEOUT_MS).build();
        try (OffHeap srcMemory = new OffHeap(Math.toIntExact(bytes));
             OffHeap dstMemory = new OffHeap(Math.toIntExact(bytes));
             EmbeddedAeron serverSide = EmbeddedAeron.forServer(spec);
             EmbeddedAeron workerSide = EmbeddedAeron.forWorkers(spec);
             Subscription sub = serverSide.aeron().addSubscription(spec.upstreamChannel(0, 0), STREAM);
             ExclusivePublication pub = workerSide.aeron().addExclusivePublication(spec.upstreamChannel(0, 0), STREAM)) {
            UnsafeBuffer src = srcMemory.buffer;
            UnsafeBuffer dst = dstMemory.buffer;
            for (int i = 0; i + 4 <= bytes; i += 4) {
                src.putInt(i, i);
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ExchangeRun.TIMEOUT_MS);
            while (!pub.isConnected()) {
                if (System.nanoTime() > deadline) {
                    throw new TimeoutException("raw Aeron publication on " + pub.channel() + " never connected");
                }
                Thread.sleep(1);
            }
            Receiver receiver = new Receiver(sub, dst, bytes);
            double[] seconds = new double[repeats];
            for (int r = 0; r < warmup + repeats; r++) {
                receiver.reset();
                Thread t = new Thread(receiver, "bench-raw-receiver");
                t.setDaemon(true);
                long start = System.nanoTime();
                t.start();
                send(pub, src, bytes);
                t.join(ExchangeRun.TIMEOUT_MS);
                if (t.isAlive() || receiver.received != bytes) {
                    t.interrupt();
                    throw new TimeoutException("raw Aeron " + transport + ": " + receiver.received + " of " + bytes
                        + " bytes arrived");
                }
                if (r >= warmup) {
                    seconds[r - warmup] = (receiver.doneAt - start) / 1e9;
                }
            }
            if (dst.getInt((int) (bytes / 8 * 4)) != (int) (bytes / 8 * 4)) {
                throw new IllegalStateException("raw Aeron " + transport + ": the bytes arrived altered");
            }
            return seconds;
        }
    }

    /** Pushes {@code bytes} of {@code src} in claims as large as a frame allows (also {@link LinkBench}'s sender). */
    static void send(ExclusivePublication pub, UnsafeBuffer src, long bytes) {
        BufferClaim claim = new BufferClaim();
        IdleStrategy idle = IdleStrategies.client();
        int chunk = pub.maxPayloadLength();
        for (long at = 0; at < bytes; ) {
            int length = (int) Math.min(chunk, bytes - at);
            long result = pub.tryClaim(length, claim);
            if (result < 0) {
                if (result == Publication.CLOSED || result == Publication.MAX_POSITION_EXCEEDED) {
                    throw new IllegalStateException("raw Aeron publication unusable (" + result + ")");
                }
                idle.idle();
                continue;
            }
            idle.reset();
            claim.buffer().putBytes(claim.offset(), src, (int) at, length);
            claim.commit();
            at += length;
        }
    }

    /**
     * Copies what arrives into the destination vector, in order, until all bytes are in (or its thread is
     * interrupted); notes when the first fragment came and when the last byte did (also {@link LinkBench}'s).
     */
    static final class Receiver implements Runnable {
        private final Subscription sub;
        private final UnsafeBuffer dst;
        private final long bytes;
        private final FragmentHandler onFragment;
        volatile long received;
        volatile long firstAt;
        volatile long doneAt;
        private long at;

        Receiver(Subscription sub, UnsafeBuffer dst, long bytes) {
            this.sub = sub;
            this.dst = dst;
            this.bytes = bytes;
            this.onFragment = (buffer, offset, length, header) -> {
                if (at == 0) {
                    firstAt = System.nanoTime();
                }
                dst.putBytes((int) at, buffer, offset, length);
                at += length;
            };
        }

        void reset() {
            at = 0;
            received = 0;
        }

        @Override
        public void run() {
            IdleStrategy idle = IdleStrategies.client();
            while (at < bytes && !Thread.currentThread().isInterrupted()) {
                idle.idle(sub.poll(onFragment, FRAGMENT_LIMIT));
            }
            doneAt = System.nanoTime();
            received = at;
        }
    }
}
