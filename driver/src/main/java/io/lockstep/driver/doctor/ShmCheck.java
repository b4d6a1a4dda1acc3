package io.lockstep.driver.doctor;

import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.data.DataPaths;
import io.lockstep.ps.ExchangeRules;
import io.lockstep.ps.Terms;
import io.lockstep.ps.media.AeronFiles;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.lockstep.driver.doctor.Bytes.MIB;
import static io.lockstep.driver.doctor.Bytes.format;

/**
 * Free space in the media drivers' directory (/dev/shm, or {@code ps.aeron_dir}) against what the job's Aeron media
 * drivers will map there ({@link AeronFootprint}, with the term the exchange resolves), and what to change when it
 * does not fit.
 */
final class ShmCheck implements Check {
    /** Docker's and Kubernetes' default /dev/shm. */
    static final long DOCKER_DEFAULT_SHM = 64 * MIB;

    /** Where the embedded media drivers put their files, and its free space (-1: unknown). */
    record Shm(String dir, long free) {
        static Shm of(String aeronDir) {
            String dir = AeronFiles.baseDir(aeronDir);
            try {
                return new Shm(dir, Files.getFileStore(Path.of(dir)).getUsableSpace());
            } catch (IOException | RuntimeException e) {
                return new Shm(dir, -1);
            }
        }
    }

    @Override
    public List<Finding> run(Setting job) {
        long params = job.withJob()
            ? ModelSize.parameters(job.cfg(), DataPaths.features(DataPaths.hadoop(job.cfg()), job.cfg().data())) : -1;
        return find(job, params, Shm.of(job.cfg().ps().aeronDir()));
    }

    static List<Finding> find(Setting job, long params, Shm shm) {
        List<Finding> findings = new ArrayList<>();
        JobConfig cfg = job.cfg();
        Placement where = job.where();
        Terms terms = AeronFootprint.terms(job, params);
        long need = AeronFootprint.driverHostNeeds(job, terms);
        boolean onExecutors = job.topology().shardsOnExecutors();
        int shards = job.topology().shardCount();
        String what = (where.workersInDriver() ? "this JVM runs the parameter server and " + cfg.workers() + " worker"
            + (cfg.workers() == 1 ? "" : "s") : where.sameHost() ? "the driver and " + where.executors()
            + " executor JVM" + (where.executors() == 1 ? "" : "s") + " on this host"
            : onExecutors ? "the driver's all-gather endpoint" : "the parameter server")
            + ", " + shards + " shard" + (shards == 1 ? "" : "s")
            + (onExecutors ? " on the executors" : "") + ", terms of " + describe(terms) + termSource(cfg, params);
        if (need == 0) {
            findings.add(Finding.ok("shm", "no Aeron shared memory needed: every worker runs in this JVM and exchanges"
                + " in memory (ps.local_reduction)"));
        } else if (shm.free() < 0) {
            findings.add(Finding.warn("shm", shm.dir() + ": free space unknown; Aeron maps about " + format(need)
                + " (" + what + ")"));
        } else if (need > shm.free()) {
            findings.add(Finding.fail("shm", shm.dir() + ": " + format(shm.free()) + " free but Aeron maps about "
                + format(need) + " (" + what + "): " + remedy(job, terms, need, shm.free())));
        } else {
            findings.add(Finding.ok("shm", shm.dir() + ": " + format(shm.free()) + " free, Aeron maps about "
                + format(need) + " (" + what + ")"));
        }
        if (!where.sameHost() && !job.topology().exchangeKind().equals("ipc")) {
            long executor = AeronFootprint.executorNeeds(job, terms);
            String dir = cfg.ps().aeronDir() != null ? cfg.ps().aeronDir() + " (ps.aeron_dir)" : "/dev/shm";
            findings.add(executor > DOCKER_DEFAULT_SHM ? Finding.warn("shm", "spark.master is " + job.master()
                + ": each executor JVM (" + workers(where) + ") maps about " + format(executor) + " in " + dir
                + " on its host; containers start with 64 MiB (docker --shm-size, a Kubernetes emptyDir medium: Memory"
                + " on /dev/shm with sizeLimit " + roundUp(executor) / MIB + "Mi, or ps.aeron_dir on disk)")
                : Finding.ok("shm", "spark.master is " + job.master() + ": each executor JVM (" + workers(where)
                + ") maps about " + format(executor) + " in " + dir + " on its host (a container's default 64 MiB"
                + " holds it)"));
        }
        return findings;
    }

    private static String workers(Placement where) {
        return where.workersPerExecutor() + " worker" + (where.workersPerExecutor() == 1 ? "" : "s");
    }

    private static String describe(Terms t) {
        return t.upstream() == t.answers() && t.answers() == t.side() ? term(t.upstream())
            : term(t.upstream()) + " for gradients, " + term(t.answers()) + " for answers, " + term(t.side())
            + " for side streams";
    }

    /** A term: a power of two of at least 64 KiB. */
    private static String term(int bytes) {
        return bytes >= MIB ? bytes / MIB + " MiB" : bytes / 1024 + " KiB";
    }

    private static String termSource(JobConfig cfg, long params) {
        if (!cfg.ps().termLength().isAuto()) {
            return " (ps.term_length)";
        }
        return params > 0 ? " (ps.term_length auto, " + String.format(java.util.Locale.ROOT, "%,d", params)
            + " parameters)" : " (ps.term_length auto at its largest: the model's size is not known yet)";
    }

    /** What to change so the files fit: a bigger /dev/shm, a directory on disk, or smaller terms. */
    private static String remedy(Setting job, Terms terms, long need, long free) {
        StringBuilder sb = new StringBuilder("give it at least ")
            .append(format(roundUp(need))).append(" (docker run --shm-size=").append(roundUp(need) / MIB)
            .append("m), set ps.aeron_dir to a directory on disk");
        int mtu = job.cfg().ps().mtu().resolve(job.topology().host());
        long minTerm = Math.max(ExchangeRules.MIN_TERM, Integer.highestOneBit(8 * mtu - 1) * 2L);
        for (long t = terms.upstream() / 2; t >= minTerm; t /= 2) {
            long fits = AeronFootprint.driverHostNeeds(job, Terms.of((int) t));
            if (fits <= free) {
                sb.append(", or set ps.term_length: ").append(t).append(" (about ").append(format(fits))
                    .append("; a step no longer in flight at once may slow large models)");
                break;
            }
        }
        return sb.toString();
    }

    private static long roundUp(long bytes) {
        long step = 64 * MIB;
        return (bytes + step - 1) / step * step;
    }
}
