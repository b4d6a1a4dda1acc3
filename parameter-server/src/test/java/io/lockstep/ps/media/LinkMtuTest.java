package io.lockstep.ps.media;

import io.lockstep.ps.ExchangeRules;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The frame size that keeps one Aeron frame in one IP packet, per link. */
class LinkMtuTest {
    @Test
    void oneFrameFitsOnePacket() {
        assertEquals(1472, LinkMtu.forLink(1500)); // 1472 of payload, already a multiple of 32
        assertEquals(8960, LinkMtu.forLink(9000)); // jumbo frames
        assertEquals(65504, LinkMtu.forLink(65536)); // loopback
        assertEquals(ExchangeRules.MIN_MTU, LinkMtu.forLink(576));
        for (int link : new int[]{1500, 9000, 65536, 1280}) {
            assertNull(ExchangeRules.mtuProblem(LinkMtu.forLink(link)), "a valid ps.mtu for a link of " + link);
        }
    }

    @Test
    void theInterfaceOfAnAddressDecides() {
        assertEquals(65504, LinkMtu.forHost("127.0.0.1")); // lo: 65536
        assertEquals(1472, LinkMtu.forHost("0.0.0.0")); // no one interface: what fits Ethernet
        assertEquals(1472, LinkMtu.forHost("192.0.2.1")); // TEST-NET-1, held by no interface here
    }
}
