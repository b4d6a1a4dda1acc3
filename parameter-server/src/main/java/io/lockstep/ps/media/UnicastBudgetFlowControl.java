package io.lockstep.ps.media;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.UnicastFlowControl;
import io.aeron.driver.media.UdpChannel;
import org.agrona.concurrent.status.CountersManager;

/**
 * Aeron's unicast flow control (a receiver's status messages can only move the sender limit forward, so a
 * stranger's cannot hold a publisher back) with retransmissions bounded by a {@link RetransmitBudget}.
 */
public final class UnicastBudgetFlowControl extends UnicastFlowControl {
    private final RetransmitBudget budget = new RetransmitBudget();

    @Override
    public void initialize(MediaDriver.Context context, CountersManager countersManager, UdpChannel udpChannel,
                           int streamId, int sessionId, long registrationId, int initialTermId, int termBufferLength) {
        super.initialize(context, countersManager, udpChannel, streamId, sessionId, registrationId, initialTermId,
            termBufferLength);
        budget.countInto(context);
    }

    @Override
    public long onIdle(long timeNs, long senderLimit, long senderPosition, boolean isEos) {
        budget.onIdle(timeNs, senderPosition);
        return super.onIdle(timeNs, senderLimit, senderPosition, isEos);
    }

    @Override
    public int maxRetransmissionLength(int termOffset, int resendLength, int termBufferLength, int mtuLength) {
        return budget.grant(resendLength, super.maxRetransmissionLength(termOffset, resendLength, termBufferLength,
            mtuLength), mtuLength);
    }
}
