package io.lockstep.ps;

import io.lockstep.ps.ExchangeSpec.Transport;

/**
 * The rules an exchange's settings keep, each stated once with its message: {@link ExchangeSpec} checks them when it
 * is built, and the driver's config asks them for its keys, so a user reads the same rule either way. Each returns
 * null when the value keeps the rule, else what is wrong with it ({@code "must be ..., got ..."}), for the caller
 * to put after the name it knows the value by.
 */
public final class ExchangeRules {
    /** Smallest MTU: a frame must hold its headers (~120 bytes) and a chunk of a few hundred values. */
    public static final int MIN_MTU = 1024;
    /** Largest MTU: Aeron's largest UDP payload, a multiple of its 32-byte frame alignment. */
    public static final int MAX_MTU = 65504;

    private ExchangeRules() {
    }

    /** Aeron aligns frames to 32 bytes; 1024 leaves a chunk room for more than a header; 65504 is UDP's largest. */
    public static String mtuProblem(int mtu) {
        return mtu % 32 == 0 && mtu >= MIN_MTU && mtu <= MAX_MTU ? null
            : "must be a multiple of 32 in [" + MIN_MTU + ", " + MAX_MTU + "], got " + mtu;
    }

    /** Shards on the executors run in other JVMs than most of their workers: only UDP reaches them. */
    public static String executorShardsProblem(Transport transport) {
        return transport == Transport.UDP ? null : "shards on the executors need udp (they run in other JVMs than"
            + " most workers and cannot share memory with them), got " + transport.configName();
    }
}
