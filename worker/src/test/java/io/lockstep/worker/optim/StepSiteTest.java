package io.lockstep.worker.optim;

import org.junit.jupiter.api.Test;

import static io.lockstep.worker.optim.ServerPlanTest.ADAM_L2;
import static org.junit.jupiter.api.Assertions.*;

/** The two sites a run's optimizer steps at, and the names the logs and summary.json give them. */
class StepSiteTest {

    @Test
    void replicasHaveNoServerPlan() {
        StepSite site = StepSite.replicas();
        assertFalse(site.isServer());
        assertEquals("replica", site.name());
        assertThrows(IllegalStateException.class, site::plan);
    }

    @Test
    void serverCarriesItsPlan() {
        ServerPlan plan = ServerPlanTest.plan(ServerPlanTest.mlpWith(ADAM_L2, b -> { }), ADAM_L2);
        StepSite site = StepSite.server(plan);
        assertTrue(site.isServer());
        assertEquals("server", site.name());
        assertSame(plan, site.plan());
        assertThrows(NullPointerException.class, () -> StepSite.server(null));
    }
}
