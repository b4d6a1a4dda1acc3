package io.lockstep.ps.media;

import io.aeron.driver.DataPacketDispatcher;
import io.aeron.driver.MediaDriver;
import io.aeron.driver.media.ReceiveChannelEndpoint;
import io.aeron.driver.media.UdpChannel;
import io.aeron.protocol.DataHeaderFlyweight;
import io.aeron.protocol.SetupFlyweight;
import org.agrona.collections.Hashing;
import org.agrona.collections.Int2IntCounterMap;
import org.agrona.collections.Long2LongCounterMap;
import org.agrona.concurrent.UnsafeBuffer;
import org.agrona.concurrent.status.AtomicCounter;

import java.net.InetSocketAddress;

/**
 * A receive endpoint that passes the dispatcher only frames of the streams and sessions its subscriptions
 * name, and only SETUPs whose term length and MTU are the ones in its channel ({@code term-length}, {@code mtu}).
 *
 * <p>Why: Aeron's receiver creates an image, and maps a log whose size the SETUP names, for any SETUP of a
 * subscribed stream; with session-specific subscriptions it maps nothing for other sessions but still records
 * each unknown session id in a map that only grows (a sweep of session ids grows the heap), and it never checks
 * the term length: a SETUP for a wanted session naming 1 GiB terms maps a 3 GiB log, and one that fails
 * validation leaves that session stuck "in progress" until its subscription is re-added. Here such frames stop
 * at the endpoint, counted in {@link WireGuards}, and change nothing.
 *
 * <p>Runs on the media driver's receiver thread, which also adds and removes the subscriptions' interests
 * (the {@code incRef}/{@code decRef} calls), so the maps need no locks.
 */
public final class GuardedReceiveEndpoint extends ReceiveChannelEndpoint {
    private final Long2LongCounterMap sessions = new Long2LongCounterMap(0);
    private final Int2IntCounterMap allSessions = new Int2IntCounterMap(0);
    private final int termLength;
    private final int mtu;
    private final WireGuards guards;

    public GuardedReceiveEndpoint(UdpChannel udpChannel, DataPacketDispatcher dispatcher, AtomicCounter statusIndicator,
                                  MediaDriver.Context context) {
        super(udpChannel, dispatcher, statusIndicator, context);
        this.termLength = intParam(udpChannel, "term-length");
        this.mtu = intParam(udpChannel, "mtu");
        this.guards = WireGuards.of(context.aeronDirectoryName());
    }

    private static int intParam(UdpChannel channel, String name) {
        String value = channel.channelUri().get(name);
        return value == null ? 0 : Integer.parseInt(value);
    }

    @Override
    public int incRefToStream(int streamId) {
        allSessions.incrementAndGet(streamId);
        return super.incRefToStream(streamId);
    }

    @Override
    public int decRefToStream(int streamId) {
        allSessions.decrementAndGet(streamId);
        return super.decRefToStream(streamId);
    }

    @Override
    public long incRefToStreamAndSession(int streamId, int sessionId) {
        sessions.incrementAndGet(Hashing.compoundKey(streamId, sessionId));
        return super.incRefToStreamAndSession(streamId, sessionId);
    }

    @Override
    public long decRefToStreamAndSession(int streamId, int sessionId) {
        sessions.decrementAndGet(Hashing.compoundKey(streamId, sessionId));
        return super.decRefToStreamAndSession(streamId, sessionId);
    }

    private boolean wanted(int streamId, int sessionId) {
        return allSessions.get(streamId) > 0 || sessions.get(Hashing.compoundKey(streamId, sessionId)) > 0;
    }

    @Override
    public int onDataPacket(DataHeaderFlyweight header, UnsafeBuffer buffer, int length, InetSocketAddress srcAddress,
                            int transportIndex) {
        if (!wanted(header.streamId(), header.sessionId())) {
            guards.unknownSessionDatum();
            return 0;
        }
        return super.onDataPacket(header, buffer, length, srcAddress, transportIndex);
    }

    @Override
    public void onSetupMessage(SetupFlyweight header, UnsafeBuffer buffer, int length, InetSocketAddress srcAddress,
                               int transportIndex) {
        if (!wanted(header.streamId(), header.sessionId())) {
            guards.unknownSessionSetup();
            return;
        }
        if ((termLength != 0 && header.termLength() != termLength) || (mtu != 0 && header.mtuLength() != mtu)) {
            guards.badSetup();
            return;
        }
        super.onSetupMessage(header, buffer, length, srcAddress, transportIndex);
    }
}
