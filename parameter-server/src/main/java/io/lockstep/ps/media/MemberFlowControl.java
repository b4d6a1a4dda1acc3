package io.lockstep.ps.media;

import io.aeron.driver.AbstractMinMulticastFlowControl;
import io.aeron.protocol.ErrorFlyweight;
import io.aeron.protocol.StatusMessageFlyweight;

import io.aeron.driver.MediaDriver;
import io.aeron.driver.media.UdpChannel;
import org.agrona.concurrent.status.CountersManager;

import java.net.InetSocketAddress;

import static org.agrona.BitUtil.SIZE_OF_LONG;

/**
 * Min flow control over the job's members only, for the shards' multi-destination-cast publications
 * ({@code fc=tagged,g:<tag>} with the job's group tag, {@link io.lockstep.ps.ExchangeSpec}): a status message
 * moves the publisher, keeps a receiver in the group or ends it only when it carries the tag (8 bytes, exactly).
 *
 * <p>Why not Aeron's {@code TaggedMulticastFlowControl}: it also takes any status message whose feedback field
 * starts with the 4 "preferred" bytes {@code FFFFFFFF}, whatever the tag; a stranger's status message could then
 * hold the publisher at a position of its choosing (min flow control waits for the slowest receiver), as measured
 * before tags: a fake receiver froze the averages' publisher for the whole stall budget. The tag is derived from the
 * job's secret; it travels in the clear in the members' status messages, so it keeps out everyone who cannot read
 * the job's traffic (see THREAT-MODEL.md). Retransmissions are bounded by a {@link RetransmitBudget}.
 */
public final class MemberFlowControl extends AbstractMinMulticastFlowControl {
    private final RetransmitBudget budget = new RetransmitBudget();
    private WireGuards guards = WireGuards.process();

    @Override
    public void initialize(MediaDriver.Context context, CountersManager countersManager, UdpChannel udpChannel,
                           int streamId, int sessionId, long registrationId, int initialTermId, int termBufferLength) {
        super.initialize(context, countersManager, udpChannel, streamId, sessionId, registrationId, initialTermId,
            termBufferLength);
        guards = budget.countInto(context);
    }

    public MemberFlowControl() {
        super(true);
    }

    @Override
    public long onStatusMessage(StatusMessageFlyweight flyweight, InetSocketAddress receiverAddress, long senderLimit,
                                int initialTermId, int positionBitsToShift, long timeNs) {
        // a stranger's status message is not even looked at: with no member known yet Aeron's min flow control
        // would let it push the sender limit forward, past what the members can take
        return isMember(flyweight) ? processStatusMessage(flyweight, senderLimit, initialTermId, positionBitsToShift,
            timeNs, true) : senderLimit;
    }

    @Override
    public void onTriggerSendSetup(StatusMessageFlyweight flyweight, InetSocketAddress receiverAddress, long timeNs) {
        if (isMember(flyweight)) {
            processSendSetupTrigger(flyweight, receiverAddress, timeNs, true);
        }
    }

    @Override
    public void onError(ErrorFlyweight errorFlyweight, InetSocketAddress receiverAddress, long timeNs) {
        processError(errorFlyweight, receiverAddress, timeNs,
            errorFlyweight.hasGroupTag() && errorFlyweight.groupTag() == groupTag());
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

    private boolean isMember(StatusMessageFlyweight flyweight) {
        boolean member = flyweight.asfLength() == SIZE_OF_LONG && flyweight.groupTag() == groupTag();
        if (!member) {
            guards.untaggedStatus();
        }
        return member;
    }
}
