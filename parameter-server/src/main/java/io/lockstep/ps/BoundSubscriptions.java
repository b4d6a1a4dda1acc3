package io.lockstep.ps;

import io.aeron.Aeron;
import io.aeron.Subscription;
import io.aeron.logbuffer.FragmentHandler;
import org.agrona.CloseHelper;

import java.util.function.IntFunction;

/**
 * The subscriptions of one receiving endpoint: one per sender the job expects there, each bound to that sender's
 * session id ({@link ExchangeSpec#sessionId}). Aeron creates an image only for a session some subscription names,
 * so a stranger's SETUP or data frame maps nothing and gets no answer; and a frame read here comes from the
 * sender whose subscription it was read from ({@link #sender()}), whatever its own header claims.
 *
 * <p>Polled by one agent thread; nothing is allocated per poll.
 */
final class BoundSubscriptions implements AutoCloseable {
    private final Subscription[] bySender;
    private final int[] senders;
    private int polling = -1;

    /**
     * Subscribes to {@code channelOf.apply(sender)} on {@code stream} for each of {@code senders} (sender
     * indices as {@link ExchangeSpec#sessionId} takes them).
     */
    BoundSubscriptions(Aeron aeron, int stream, int[] senders, IntFunction<String> channelOf) {
        this.senders = senders.clone();
        this.bySender = new Subscription[senders.length];
        try {
            for (int i = 0; i < senders.length; i++) {
                bySender[i] = aeron.addSubscription(channelOf.apply(senders[i]), stream);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Senders 0..count-1. */
    static int[] range(int count) {
        return java.util.stream.IntStream.range(0, count).toArray();
    }

    /** Polls every sender's subscription once; {@link #sender()} names the one being polled inside the handler. */
    int poll(FragmentHandler handler, int fragmentLimitPerSender) {
        int work = 0;
        for (int i = 0; i < bySender.length; i++) {
            polling = senders[i];
            work += bySender[i].poll(handler, fragmentLimitPerSender);
        }
        polling = -1;
        return work;
    }

    /** The sender whose subscription is being polled (inside a handler called by {@link #poll}); -1 outside. */
    int sender() {
        return polling;
    }

    /** Images across the senders' subscriptions: at most one each. */
    int imageCount() {
        int n = 0;
        for (Subscription sub : bySender) {
            n += sub.imageCount();
        }
        return n;
    }

    @Override
    public void close() {
        CloseHelper.closeAll(bySender);
    }
}
