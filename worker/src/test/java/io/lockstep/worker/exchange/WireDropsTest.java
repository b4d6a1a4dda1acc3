package io.lockstep.worker.exchange;

import io.lockstep.ps.server.DropCounters;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/** Counts by side and kind: merging, order, the zero shape, the one-line form, the trip on an exception. */
class WireDropsTest {

    /** An ordered map from alternating kinds and counts. */
    static Map<String, Long> kinds(Object... kindsAndCounts) {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int i = 0; i < kindsAndCounts.length; i += 2) {
            m.put((String) kindsAndCounts[i], ((Number) kindsAndCounts[i + 1]).longValue());
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    static <T> T roundTrip(T value) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }

    @Test
    void aMergeSumsTheKindsBothHaveAndKeepsTheOthersInTheOrderTheyFirstAppeared() {
        WireDrops a = new WireDrops(kinds("malformed", 1, "unauthenticated", 3), Map.of(),
            kinds("ignored", 2, "unauthenticated", 0));
        WireDrops b = new WireDrops(kinds("duplicate", 4, "malformed", 10), kinds("stale_step", 7),
            kinds("resend_requests", 5, "ignored", 1));
        WireDrops both = a.merge(b);
        assertEquals(kinds("malformed", 11, "unauthenticated", 3, "duplicate", 4), both.shards());
        assertEquals(List.of("malformed", "unauthenticated", "duplicate"), new ArrayList<>(both.shards().keySet()));
        assertEquals(kinds("stale_step", 7), both.gather());
        assertEquals(List.of("ignored", "unauthenticated", "resend_requests"),
            new ArrayList<>(both.workers().keySet()), "a kind only a later client counts joins at the end");
        assertEquals(3L, both.workers().get("ignored"));
        assertEquals(a, a.merge(WireDrops.NONE));
        assertEquals(both, WireDrops.NONE.merge(a).merge(b));
        assertThrows(UnsupportedOperationException.class, () -> both.shards().put("x", 1L), "the maps are frozen");
    }

    @Test
    void theZeroShapeHasEveryKindAServerCountsOnBothServerSidesAndShapesAnyCount() {
        WireDrops zero = WireDrops.zero();
        Map<String, Long> serverKinds = new DropCounters().toMap();
        assertEquals(new ArrayList<>(serverKinds.keySet()), new ArrayList<>(zero.shards().keySet()));
        assertEquals(new ArrayList<>(serverKinds.keySet()), new ArrayList<>(zero.gather().keySet()));
        assertTrue(zero.shards().values().stream().allMatch(n -> n == 0) && zero.workers().isEmpty(), zero.toString());
        assertEquals("", zero.nonZero());
        assertEquals(0, zero.serverTotal());

        WireDrops counted = new WireDrops(kinds("unauthenticated", 3), Map.of(), kinds("ignored", 2));
        WireDrops shape = zero.merge(new WireDrops(Map.of(), Map.of(), kinds("ignored", 9, "unauthenticated", 1)));
        WireDrops shaped = counted.shapedLike(shape);
        assertEquals(new ArrayList<>(serverKinds.keySet()), new ArrayList<>(shaped.shards().keySet()),
            "the server's order, not the order the counts came in");
        assertEquals(3L, shaped.shards().get("unauthenticated"));
        assertEquals(0L, shaped.shards().get("malformed"));
        assertEquals(serverKinds.keySet(), shaped.gather().keySet());
        assertEquals(kinds("ignored", 2, "unauthenticated", 0), shaped.workers(), "the shape's counts are not added");
        assertEquals(List.of("shards", "gather", "workers", "media", "link"), new ArrayList<>(shaped.toMap().keySet()));
        assertEquals(0L, shaped.media().get("unknown_session_setups"), "the media side's kinds come with the zero shape");
        assertEquals(shaped, WireDrops.NONE.shapedLike(shape).merge(counted), "shaping only adds zeros");
    }

    @Test
    void theOneLineFormNamesOnlyWhatCountedSideBySideAndTheServerTotalLeavesTheWorkersOut() {
        WireDrops d = WireDrops.zero().merge(new WireDrops(kinds("unauthenticated", 3, "malformed", 1), Map.of(),
            kinds("ignored", 0, "unauthenticated", 40)));
        assertEquals("shards malformed=1 unauthenticated=3; workers unauthenticated=40", d.nonZero());
        assertEquals(4, d.serverTotal());
        WireDrops below = new WireDrops(Map.of(), Map.of(), Map.of(), kinds("unknown_session_setups", 5), Map.of());
        assertEquals(4, d.merge(below).serverTotal(), "a media driver's counts are the whole driver's: not the job's");
        assertEquals("shards malformed=1 unauthenticated=3; workers unauthenticated=40; media unknown_session_setups=5",
            d.merge(below).nonZero());
        assertEquals("gather stale_step=2", new WireDrops(Map.of(), kinds("stale_step", 2), Map.of()).nonZero());
    }

    @Test
    void countsAttachedToAFailureTravelWithItAndKeepItsClassAndMessage() throws Exception {
        WireDrops client = new WireDrops(Map.of(), Map.of(), kinds("ignored", 2, "unauthenticated", 5));
        WireDrops shards = new WireDrops(kinds("malformed", 7), kinds("malformed", 0), Map.of());
        IllegalArgumentException fatal = shards.attachTo(new IllegalArgumentException("rows 3..9 are unusable"));
        IllegalStateException failure = client.attachTo(new IllegalStateException("rank 1 timed out", fatal));

        Throwable shipped = roundTrip(failure); // as Spark ships a failed task's exception
        assertEquals(IllegalStateException.class, shipped.getClass());
        assertEquals("rank 1 timed out", shipped.getMessage());
        assertEquals(IllegalArgumentException.class, shipped.getCause().getClass());
        WireDrops carried = WireDrops.carriedBy(shipped);
        assertEquals(client.merge(shards), carried, "the failure's own counts and its cause's");
        assertEquals(roundTrip(carried), carried);
        assertTrue(shipped.getSuppressed()[0].getMessage().endsWith("workers ignored=2 unauthenticated=5"),
            shipped.getSuppressed()[0].getMessage());

        RuntimeException plain = new RuntimeException("nothing attached");
        assertSame(plain, WireDrops.NONE.attachTo(plain));
        assertEquals(0, plain.getSuppressed().length, "no counts, nothing attached");
        assertEquals(WireDrops.NONE, WireDrops.carriedBy(plain));
    }

    /** Aeron's link counts ride along (summed per kind across JVMs) but are no refused frames. */
    @Test
    void linkCountsAreSummedShownAndNeverTakenForDrops() {
        WireDrops a = new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(),
            kinds("naks_sent", 10, "retransmits", 12, "retransmitted_bytes", 1_000_000, "loss_gap_fills", 0,
                "bytes_sent", 50_000_000));
        WireDrops b = new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(),
            kinds("naks_sent", 5, "retransmits", 3, "retransmitted_bytes", 500_000, "loss_gap_fills", 0,
                "bytes_sent", 25_000_000));
        WireDrops both = a.merge(b);
        assertEquals(15L, both.link().get("naks_sent"));
        assertEquals(75_000_000L, both.link().get("bytes_sent"));
        assertEquals("", both.nonZero(), "no frame was refused");
        assertEquals(0, both.serverTotal());
        assertEquals("NAKs 15, retransmitted 1.5 MB (2.0% of 75.0 MB sent), 0 gaps lost", both.linkLine());
        assertFalse(both.lossyLink());
        WireDrops heavy = both.merge(new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(),
            kinds("retransmitted_bytes", 9_000_000)));
        assertTrue(heavy.lossyLink(), "more than a tenth resent: " + heavy.linkLine());
        assertTrue(both.merge(new WireDrops(Map.of(), Map.of(), Map.of(), Map.of(), kinds("loss_gap_fills", 1)))
            .lossyLink(), "data lost for good");
        assertEquals("", WireDrops.NONE.linkLine(), "nothing sent over Aeron");
        assertEquals(List.of("shards", "gather", "workers", "media", "link"), new ArrayList<>(both.toMap().keySet()));
        java.util.Set<String> linkKinds = WireDrops.zero().link().keySet();
        assertEquals(List.of("naks_sent", "naks_received", "retransmits", "retransmitted_bytes", "loss_gap_fills",
            "bytes_sent", "bytes_received"), new ArrayList<>(linkKinds), "every kind, at zero, in summary.json");
    }
}
