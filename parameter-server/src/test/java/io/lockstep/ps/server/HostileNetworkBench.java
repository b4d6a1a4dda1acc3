package io.lockstep.ps.server;

import io.lockstep.ps.server.HostileNetworkTest.Attack;
import io.lockstep.ps.server.HostileNetworkTest.Run;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * What each attack of {@link HostileNetworkTest} costs, one at a time: the same exact run ({@value
 * HostileNetworkTest#STEPS} steps of {@value HostileNetworkTest#N} floats, 2 workers, 2 shards, an all-gather round
 * every {@value HostileNetworkTest#GATHER_EVERY} steps) undisturbed and under each attack, in interleaved rounds in
 * one process; prints per attack the median wall time, the extra time per attack made, and what was resent per
 * attack. Run with
 * {@code ./mvnw -q -B -o -pl parameter-server test -Dtest=HostileNetworkBench -Dlockstep.bench=true}.
 */
public class HostileNetworkBench {
    static final int ROUNDS = 3;

    @Test
    @EnabledIfSystemProperty(named = "lockstep.bench", matches = "true")
    void run() throws Exception {
        main(new String[0]);
    }

    public static void main(String[] args) throws Exception {
        List<Attack> attacks = new ArrayList<>(List.of(Attack.values()));
        Map<Attack, List<Run>> runs = new EnumMap<>(Attack.class);
        List<Run> quiet = new ArrayList<>();
        HostileNetworkTest.run(step -> null, round -> null, false); // warm-up
        for (int round = 0; round < ROUNDS; round++) {
            quiet.add(HostileNetworkTest.run(step -> null, round2 -> null, false));
            for (Attack attack : attacks) {
                boolean gather = attack == Attack.FORGED_UPLOAD || attack == Attack.FORGED_FORWARD;
                boolean stranger = attack == Attack.STRANGER;
                Run r = HostileNetworkTest.run(step -> gather || stranger ? null : attack,
                    r2 -> gather ? attack : null, stranger);
                runs.computeIfAbsent(attack, a -> new ArrayList<>()).add(r);
            }
        }
        double base = median(quiet);
        System.out.printf("%-26s %9s %9s %9s %12s %12s %10s%n", "attack", "attacks", "wall s", "ms/attack",
            "resent/att.", "asks/att.", "restarts");
        System.out.printf("%-26s %9d %9.2f %9s %12s %12s %10s%n", "none", 0, base, "-", "-", "-", "-");
        for (Attack attack : attacks) {
            List<Run> rs = runs.get(attack);
            double wall = median(rs);
            Run last = rs.get(rs.size() - 1);
            long made = attacksMade(attack);
            long resent = last.worker("chunks_resent") + last.resends().answersResent() + last.worker("gather_blobs_resent");
            long asks = last.worker("resend_asks_sent") + last.resends().asksSent() + last.worker("gather_asks_sent");
            long restarts = last.worker("session_restarts") + last.resends().restarts();
            System.out.printf("%-26s %9d %9.2f %9.1f %12.2f %12.1f %10d%n", attack.name().toLowerCase(), made, wall,
                made == 0 ? 0 : (wall - base) * 1000 / made, made == 0 ? 0 : (double) resent / made,
                made == 0 ? 0 : (double) asks / made, restarts);
        }
    }

    /** Attacks one run of the bench makes: one before every step, or every gather round, or (stranger) none counted. */
    private static long attacksMade(Attack attack) {
        return switch (attack) {
            case FORGED_UPLOAD, FORGED_FORWARD -> (HostileNetworkTest.STEPS + 1) / HostileNetworkTest.GATHER_EVERY;
            case STRANGER -> 0;
            default -> HostileNetworkTest.STEPS - 1;
        };
    }

    private static double median(List<Run> runs) {
        double[] s = runs.stream().mapToDouble(Run::seconds).sorted().toArray();
        return s[s.length / 2];
    }
}
