package io.lockstep.ps.session;

import io.aeron.Aeron;
import io.aeron.Image;
import io.aeron.Subscription;
import io.aeron.logbuffer.FragmentHandler;
import io.lockstep.ps.ExchangeSpec;
import org.agrona.CloseHelper;

import java.util.function.Predicate;

/**
 * The subscriptions of one receiving endpoint: for each sender the job expects there, one bound to that sender's
 * session id ({@link ExchangeSpec#sessionId(int, int, int)}) and one to its next generation's. Aeron creates an image
 * only for a session some subscription names, so a stranger's SETUP or data frame maps nothing and gets no answer;
 * and a frame read here comes from the sender whose subscription it was read from ({@link #sender()}), whatever its
 * own header claims.
 *
 * <p><b>Generations.</b> A forged frame whose length does not end where a genuine frame starts (a PAD frame
 * spanning a frame and a half, say) puts the receiver's reader out of step with the sender's frames for good: Aeron
 * cannot tell. The sender then starts over on its next generation's session ({@code ShardResends},
 * {@code ClientResends} say when); the first authenticated frame read there ({@link #genuine()}) promotes it, the old
 * session's subscription is closed and the one after is opened, so a sender always has a fresh session waiting.
 *
 * <p>Polled by one thread; nothing is allocated per poll (a promotion adds and closes a subscription).
 */
public final class BoundSubscriptions implements AutoCloseable {
    /** The channel of {@code sender}'s session in generation {@code generation}. */
    public interface Channels {
        String of(int sender, int generation);
    }

    private final Aeron aeron;
    private final int stream;
    private final Channels channels;
    private final int[] senders;
    private final Subscription[] current;
    private final Subscription[] next;
    private final int[] generation;
    private int polling = -1;
    private boolean pollingNext;
    private boolean genuineOnNext;
    private long promotions;

    /**
     * Subscribes to {@code channels.of(sender, 0)} and {@code (sender, 1)} on {@code stream} for each of
     * {@code senders} (sender indices as {@link ExchangeSpec#sessionId} takes them).
     */
    public BoundSubscriptions(Aeron aeron, int stream, int[] senders, Channels channels) {
        this.aeron = aeron;
        this.stream = stream;
        this.channels = channels;
        this.senders = senders.clone();
        this.current = new Subscription[senders.length];
        this.next = new Subscription[senders.length];
        this.generation = new int[senders.length];
        try {
            for (int i = 0; i < senders.length; i++) {
                current[i] = aeron.addSubscription(channels.of(senders[i], 0), stream);
                next[i] = aeron.addSubscription(channels.of(senders[i], 1), stream);
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Senders 0..count-1. */
    public static int[] range(int count) {
        return java.util.stream.IntStream.range(0, count).toArray();
    }

    /** Polls every sender's subscriptions once; {@link #sender()} names the one being polled inside the handler. */
    public int poll(FragmentHandler handler, int fragmentLimitPerSender) {
        int work = 0;
        for (int i = 0; i < senders.length; i++) {
            polling = senders[i];
            work += current[i].poll(handler, fragmentLimitPerSender);
            pollingNext = true;
            genuineOnNext = false;
            work += next[i].poll(handler, fragmentLimitPerSender);
            pollingNext = false;
            if (genuineOnNext) {
                promote(i);
            }
        }
        polling = -1;
        return work;
    }

    /**
     * Called by the handler for a frame whose tag held: read from the sender's next generation, it promotes that
     * generation once the poll is done. Anything else read there (junk, a forgery) promotes nothing.
     */
    public void genuine() {
        genuineOnNext |= pollingNext;
    }

    /** The sender has started over on its next generation: read that one from now on, and wait on the one after. */
    private void promote(int i) {
        Subscription old = current[i];
        current[i] = next[i];
        generation[i]++;
        next[i] = aeron.addSubscription(channels.of(senders[i], generation[i] + 1), stream);
        old.close();
        promotions++;
    }

    /** The sender whose subscription is being polled (inside a handler called by {@link #poll}); -1 outside. */
    public int sender() {
        return polling;
    }

    /**
     * How far this subscription has read {@code sender}'s current session (the position after its last fragment,
     * padding included), or 0 before its image exists. A receiver that asks for a resend sends this along: whatever
     * the sender wrote below it has passed, so a chunk missing there was lost (pre-empted or padded over), not late.
     */
    public long position(int sender) {
        Subscription sub = current[indexOf(sender)];
        return sub.imageCount() == 0 ? 0 : sub.imageAtIndex(0).position();
    }

    /** True once {@code sender}'s current session has an image whose source passes {@code source}. */
    public boolean hears(int sender, Predicate<Image> source) {
        Subscription sub = current[indexOf(sender)];
        for (int i = 0, n = sub.imageCount(); i < n; i++) {
            if (source.test(sub.imageAtIndex(i))) {
                return true;
            }
        }
        return false;
    }

    /** The generation of {@code sender}'s session this reads now. */
    public int generation(int sender) {
        return generation[indexOf(sender)];
    }

    /** The channel of {@code sender}'s current session (for messages). */
    public String channel(int sender) {
        return current[indexOf(sender)].channel();
    }

    private int indexOf(int sender) {
        for (int i = 0; i < senders.length; i++) {
            if (senders[i] == sender) {
                return i;
            }
        }
        throw new IllegalArgumentException("no sender " + sender);
    }

    /** Times a sender started over on a new generation's session. */
    public long promotions() {
        return promotions;
    }

    @Override
    public void close() {
        CloseHelper.closeAll(current);
        CloseHelper.closeAll(next);
    }
}
