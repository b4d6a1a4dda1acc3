package io.lockstep.driver.spark;

import io.lockstep.ps.ExchangeSpec;
import io.lockstep.ps.ShardLayout;
import io.lockstep.ps.media.PortRange;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

import static org.junit.jupiter.api.Assertions.*;

class ExecutorShardsTest {
    /** What a hosting rank offers: its address, a norm port and two ports per shard, all in ps.ports, all distinct. */
    @Test
    void anExecutorsShardPortsComeFromTheRangeAndEveryRankBuildsTheSameSpec() {
        int first = 22_000 + 16 * ThreadLocalRandom.current().nextInt(500);
        PortRange range = new PortRange(first, first + 9);
        String offer = ExecutorShards.offer("127.0.0.1", new int[]{0, 2}, range);
        String[] parts = offer.split(" ");
        assertEquals("127.0.0.1", parts[0]);
        Set<Integer> ports = new HashSet<>();
        ports.add(Integer.parseInt(parts[1]));
        for (int i = 2; i < parts.length; i++) {
            String[] p = parts[i].split(":");
            ports.add(Integer.parseInt(p[1]));
            ports.add(Integer.parseInt(p[2]));
        }
        assertEquals(5, ports.size(), offer);
        for (int port : ports) {
            assertTrue(port >= range.first() && port <= range.last(), port + " outside " + range + ": " + offer);
        }
        ExchangeSpec spec = ExchangeSpec.builder(1, new ShardLayout(3000, 3, 100), 3).portRange(range).build();
        String other = "10.0.0.2 " + (first + 20) + " 1:" + (first + 21) + ":" + (first + 22);
        ExchangeSpec full = ExecutorShards.complete(spec, new String[]{offer, other, ""});
        assertEquals(range, full.ports(), "the executors' workers pick their receive ports from the range too");
        assertEquals(Integer.parseInt(offer.split(" ")[2].split(":")[1]), full.upstreamPorts()[0]);
        assertEquals(first + 21, full.upstreamPorts()[1]);
        assertEquals("10.0.0.2", full.shardHost(1));
    }
}
