package io.lockstep.worker.optim;

import java.io.Serializable;
import java.util.Objects;

/**
 * Where a run's optimizer steps, once resolved from the job's settings: on the replicas (each applies its
 * DL4J updater) or on the parameter server (which applies {@link ServerPlan}'s rule to its shards).
 * Serializable: it travels to the replicas with the run's plan.
 */
public sealed interface StepSite extends Serializable {

    static StepSite replicas() {
        return Replicas.INSTANCE;
    }

    static StepSite server(ServerPlan plan) {
        return new Server(plan);
    }

    boolean isServer();

    /** The server's plan. @throws IllegalStateException when the replicas step */
    ServerPlan plan();

    /** "server" or "replica", as the logs and summary.json name it. */
    String name();

    /** The replicas apply their DL4J updaters; the server only averages. */
    record Replicas() implements StepSite {
        private static final Replicas INSTANCE = new Replicas();

        @Override
        public boolean isServer() {
            return false;
        }

        @Override
        public ServerPlan plan() {
            throw new IllegalStateException("the optimizer steps on the replicas: there is no server plan");
        }

        @Override
        public String name() {
            return "replica";
        }
    }

    /** The server steps with {@code plan}; the replicas take the new parameters. */
    record Server(ServerPlan plan) implements StepSite {
        public Server {
            Objects.requireNonNull(plan, "plan");
        }

        @Override
        public boolean isServer() {
            return true;
        }

        @Override
        public String name() {
            return "server";
        }
    }
}
