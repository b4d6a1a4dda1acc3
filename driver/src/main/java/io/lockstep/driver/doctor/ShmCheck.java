package io.lockstep.driver.doctor;

import io.lockstep.driver.config.Transport;
import io.lockstep.driver.config.JobConfig;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.lockstep.driver.doctor.Bytes.MIB;
import static io.lockstep.driver.doctor.Bytes.format;

/**
 * Free space in /dev/shm against what the job's Aeron media drivers will map ({@link AeronFootprint}), and what
 * to change when it does not fit.
 */
final class ShmCheck implements Check {
    /** Docker's default /dev/shm. */
    static final long DOCKER_DEFAULT_SHM = 64 * MIB;

    /** Where the embedded media drivers put their files, and its free space (-1: unknown). */
    record Shm(String dir, long free) {
        static Shm ofThisMachine() {
            File shm = new File("/dev/shm");
            String dir = shm.isDirectory() ? shm.getPath() : System.getProperty("java.io.tmpdir");
            try {
                return new Shm(dir, Files.getFileStore(Path.of(dir)).getUsableSpace());
            } catch (IOException e) {
                return new Shm(dir, -1);
            }
        }
    }

    @Override
    public List<Finding> run(Setting job) {
        return find(job, Shm.ofThisMachine());
    }

    static List<Finding> find(Setting job, Shm shm) {
        List<Finding> findings = new ArrayList<>();
        JobConfig cfg = job.cfg();
        Placement where = job.where();
        long term = cfg.ps().termLength();
        long need = AeronFootprint.driverHostNeeds(job, term);
        boolean onExecutors = job.topology().shardsOnExecutors();
        int shards = job.topology().shardCount();
        String what = (where.workersInDriver() ? "this JVM runs the parameter server and " + cfg.workers() + " worker"
            + (cfg.workers() == 1 ? "" : "s") : where.sameHost() ? "the driver and " + where.executors()
            + " executor JVM" + (where.executors() == 1 ? "" : "s") + " on this host"
            : onExecutors ? "the driver's all-gather endpoint" : "the parameter server")
            + ", " + shards + " shard" + (shards == 1 ? "" : "s")
            + (onExecutors ? " on the executors" : "") + ", log buffers of 3 x ps.term_length " + format(term);
        if (need == 0) {
            findings.add(Finding.ok("shm", "no Aeron shared memory needed: every worker runs in this JVM and exchanges"
                + " in memory (ps.local_reduction)"));
        } else if (shm.free() < 0) {
            findings.add(Finding.warn("shm", shm.dir() + ": free space unknown; Aeron needs about " + format(need)
                + " (" + what + ")"));
        } else if (need > shm.free()) {
            findings.add(Finding.fail("shm", shm.dir() + ": " + format(shm.free()) + " free but Aeron needs about "
                + format(need) + " (" + what + "): " + remedy(job, need, shm.free())));
        } else {
            findings.add(Finding.ok("shm", shm.dir() + ": " + format(shm.free()) + " free, Aeron needs about "
                + format(need) + " (" + what + ")"));
        }
        if (!where.sameHost() && !job.topology().exchangeKind().equals("ipc")) {
            long executor = AeronFootprint.executorNeeds(job, term);
            findings.add(Finding.warn("shm", "spark.master is " + job.master() + ": each executor JVM ("
                + where.workersPerExecutor() + " worker" + (where.workersPerExecutor() == 1 ? "" : "s")
                + ") needs about " + format(executor) + " free in /dev/shm on its host" + (executor > DOCKER_DEFAULT_SHM
                ? "; containers start with 64 MiB (docker --shm-size, or a Kubernetes emptyDir medium: Memory on"
                + " /dev/shm)" : "")));
        }
        return findings;
    }

    /** What to change so the shared memory suffices: a bigger /dev/shm, or smaller terms (or IPC, locally). */
    private static String remedy(Setting job, long need, long free) {
        JobConfig cfg = job.cfg();
        StringBuilder sb = new StringBuilder("give /dev/shm at least ")
            .append(format(roundUp(need))).append(" (docker run --shm-size=").append(roundUp(need) / MIB).append("m)");
        int mtu = cfg.ps().mtu().resolve(job.topology().host());
        long minTerm = Integer.highestOneBit(Math.max(64 * 1024, 8 * mtu - 1)) * 2L;
        long fitting = -1;
        for (long t = cfg.ps().termLength() / 2; t >= minTerm; t /= 2) {
            if (AeronFootprint.driverHostNeeds(job, t) <= free) {
                fitting = t;
                break;
            }
        }
        if (fitting > 0) {
            sb.append(", or set ps.term_length: ").append(fitting).append(" (about ")
                .append(format(AeronFootprint.driverHostNeeds(job, fitting)))
                .append("; smaller terms may slow large models)");
        } else if (job.where().workersInDriver() && !job.topology().exchangeKind().equals("ipc")) {
            Setting ipc = job.with(copyForIpc(cfg));
            for (long t = cfg.ps().termLength(); t >= minTerm; t /= 2) {
                if (AeronFootprint.driverHostNeeds(ipc, t) <= free) {
                    sb.append(", or set ps.transport: ipc and ps.term_length: ").append(t).append(" (about ")
                        .append(format(AeronFootprint.driverHostNeeds(ipc, t))).append(": one media driver)");
                    break;
                }
            }
        }
        return sb.toString();
    }

    private static JobConfig copyForIpc(JobConfig cfg) {
        JobConfig c = JobConfig.defaults()
            .with("workers", cfg.workers())
            .with("ps.shards", cfg.ps().shards())
            .with("ps.mtu", cfg.ps().mtu())
            .with("ps.term_length", cfg.ps().termLength())
            .with("ps.transport", Transport.IPC)
            .with("ps.local_reduction", false);
        return c;
    }

    private static long roundUp(long bytes) {
        long step = 64 * MIB;
        return (bytes + step - 1) / step * step;
    }
}
