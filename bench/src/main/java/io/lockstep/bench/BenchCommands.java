package io.lockstep.bench;

import io.lockstep.driver.cli.MoreCommands;

import java.util.List;

/**
 * The benchmarks as {@code lockstep} commands: bench, bench-cpu, bench-exchange, bench-link, bench-alloc, scaling
 * and bench-serde.
 */
public final class BenchCommands implements MoreCommands {
    @Override
    public List<Object> commands() {
        return List.of(new Bench(), new CpuBench(), new ExchangeBench(), new LinkBench(), new AllocationBench(),
            new Scaling(), new SerdeBench());
    }
}
