package io.lockstep.driver.cli;

import io.lockstep.driver.spark.SparkConfs;
import io.lockstep.driver.config.ConfigLoader;
import io.lockstep.driver.config.JobConfig;
import io.lockstep.driver.config.Transport;
import io.lockstep.driver.data.DataPaths;
import io.lockstep.driver.data.Task;
import io.lockstep.driver.spark.Topology;
import io.lockstep.driver.output.RunOutputs;
import io.lockstep.worker.cpu.CpuFlags;
import io.lockstep.worker.cpu.NativeBuild;
import org.apache.hadoop.conf.Configuration;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.File;
import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code lockstep doctor [CONFIG]}: what a run needs from this machine and from its config, checked
 * before anything heavy starts, one line per check (OK, WARN or FAIL) saying what to change when
 * it is not OK. The same checks run when {@code lockstep train} starts ({@link #preflight}).
 *
 * <p>Checks: the Spark master's task slots, the native ND4J backend (and whether its AVX2 build
 * runs where the CPU has AVX2), the data paths (exist and
 * read through Hadoop's file systems; on a cluster, local paths must exist on every executor
 * host), output.dir, free space in /dev/shm against what the Aeron media drivers will map, the
 * heap and off-heap limits against the model's size, and that ps.host can be bound.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
    description = "Check this machine and a job config before a run: one line per check (OK, WARN, FAIL); "
        + "exit 0 when nothing FAILs.")
public final class Doctor implements Callable<Integer> {
    private static final Logger LOG = LoggerFactory.getLogger("lockstep");
    private static final long MIB = 1024 * 1024;

    /**
     * Aeron's shared-memory footprint, measured with Lockstep's driver settings (Aeron 1.51, 2 shards,
     * 2 workers, the default 8 MiB terms): each embedded media driver maps a 47 MiB cnc.dat; each
     * publication and each image of a gradient stream is a log buffer of 3 terms, all touched once
     * the stream has carried 3 terms of data; the all-gather's buffers stay nearly empty (about 1 MiB).
     * That gives 191 MiB for the parameter server's driver and 143 MiB for an executor JVM with one
     * worker, as measured.
     */
    static final long CNC_BYTES = 47 * MIB;
    static final long GATHER_BUFFER_BYTES = MIB;
    /** Docker's default /dev/shm. */
    static final long DOCKER_DEFAULT_SHM = 64 * MIB;

    @Parameters(index = "0", arity = "0..1", paramLabel = "CONFIG",
        description = "job YAML to check (without it: this machine, with the default settings)")
    Path config;

    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "override a config key, as for train")
    List<String> overrides = new ArrayList<>();

    public enum Status { OK, WARN, FAIL }

    /**
     * One check's outcome. {@code configError}: a FAIL that a config key's value causes (exit 2 when a
     * job starts).
     */
    public record Check(Status status, String name, String message, boolean configError) {
        static Check ok(String name, String message) {
            return new Check(Status.OK, name, message, false);
        }

        static Check warn(String name, String message) {
            return new Check(Status.WARN, name, message, false);
        }

        static Check fail(String name, String message) {
            return new Check(Status.FAIL, name, message, false);
        }

        static Check configFail(String name, String message) {
            return new Check(Status.FAIL, name, message, true);
        }

        /** "OK    shm       /dev/shm: ..." */
        public String line() {
            return String.format(Locale.ROOT, "%-5s %-9s %s", status, name, message);
        }
    }

    @Override
    public Integer call() {
        JobConfig cfg;
        if (config != null) {
            cfg = ConfigLoader.load(config, overrides); // a config error ends here: exit 2, as for train
            System.out.println(Check.ok("config", config + ": every key valid").line());
        } else {
            if (!overrides.isEmpty()) {
                throw new ConfigLoader.ConfigException("--set " + overrides.get(0) + " needs a CONFIG");
            }
            cfg = new JobConfig();
        }
        boolean failed = false;
        for (Check c : check(cfg, config != null)) {
            System.out.println(c.line());
            failed |= c.status() == Status.FAIL;
        }
        return failed ? 1 : 0;
    }

    /** Every check for a job (data paths and output.dir included). */
    public static List<Check> check(JobConfig cfg) {
        return check(cfg, true);
    }

    /**
     * The checks of {@code lockstep train} before the job runs: output.dir is created (a config
     * error when it cannot be), WARN lines are logged, and the first FAIL is thrown, as a
     * {@link ConfigLoader.ConfigException} when a config key's value causes it.
     */
    public static void preflight(JobConfig cfg) throws IOException {
        RunOutputs.prepare(Path.of(cfg.output.dir));
        for (Check c : check(cfg, true)) {
            if (c.name().equals("output")) {
                continue; // prepared above
            }
            if (c.status() == Status.WARN) {
                LOG.warn("{}: {}", c.name(), c.message());
            } else if (c.status() == Status.FAIL) {
                if (c.configError()) {
                    throw new ConfigLoader.ConfigException(c.message());
                }
                throw new IllegalStateException(c.message());
            }
        }
    }

    static List<Check> check(JobConfig cfg, boolean withJob) {
        List<Check> checks = new ArrayList<>();
        String master;
        try {
            master = SparkConfs.of(cfg).get("spark.master");
            checks.add(Check.ok("spark", "spark.master " + master + (master.startsWith("local[")
                ? ": task slots for " + cfg.workers + " worker" + (cfg.workers == 1 ? "" : "s") : "")));
        } catch (ConfigLoader.ConfigException e) {
            checks.add(Check.configFail("spark", e.getMessage()));
            master = "local[" + cfg.workers + "]";
        }
        Placement where = Placement.of(master, cfg);
        checks.add(nd4j());
        if (withJob) {
            Configuration hadoop = DataPaths.hadoop(cfg);
            checks.addAll(data(cfg, hadoop, where, master));
            checks.add(output(cfg));
        }
        checks.addAll(shm(cfg, where, master, shmFree()));
        long params = withJob ? estimateParams(cfg, DataPaths.features(DataPaths.hadoop(cfg), cfg.data)) : -1;
        checks.addAll(memory(cfg, where, params, Runtime.getRuntime().maxMemory(), offHeapLimit()));
        checks.addAll(ports(cfg, where, master));
        return checks;
    }

    /** Where the JVMs of a run live: all in the driver (local), executors on this host (local-cluster), or elsewhere. */
    record Placement(boolean workersInDriver, boolean sameHost, int executors, int workersPerExecutor) {
        static final Pattern LOCAL_CLUSTER = Pattern.compile("local-cluster\\[\\s*(\\d+)\\s*,\\s*(\\d+)\\s*,\\s*\\d+\\s*]");

        static Placement of(String master, JobConfig cfg) {
            Matcher m = LOCAL_CLUSTER.matcher(master.trim());
            if (m.matches()) {
                int executors = Math.max(1, Integer.parseInt(m.group(1)));
                int cores = Math.max(1, Integer.parseInt(m.group(2)));
                return new Placement(false, true, executors,
                    Math.min(cores, (cfg.workers + executors - 1) / executors));
            }
            if (master.startsWith("local")) {
                return new Placement(true, true, 0, cfg.workers);
            }
            int cores = parse(cfg.spark.conf.get("spark.executor.cores"), 1);
            int perTask = parse(cfg.spark.conf.get("spark.task.cpus"), 1);
            return new Placement(false, false, -1, Math.max(1, Math.min(cfg.workers, cores / Math.max(1, perTask))));
        }

        private static int parse(String v, int dflt) {
            try {
                return v == null ? dflt : Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                return dflt;
            }
        }
    }

    static Check nd4j() {
        try {
            NativeBuild.Choice choice = NativeBuild.select(); // a no-op after LockstepCli's main
            Object backend = org.nd4j.linalg.factory.Nd4j.getBackend();
            org.nd4j.linalg.factory.Nd4j.create(new float[]{1f, 2f}).sumNumber();
            return nativeBuild("native backend " + backend.getClass().getSimpleName() + " loads ("
                + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ")", choice,
                NativeBuild.loadedLibrary().map(NativeBuild::platformOf).orElse(null), CpuFlags.ofThisMachine());
        } catch (Throwable t) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError ...
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            String why = String.valueOf(root.getMessage()).lines().findFirst().orElse(root.getClass().getSimpleName());
            return Check.fail("nd4j", "the native ND4J backend does not load (" + why + "): nd4j-native needs its"
                + " binaries for " + System.getProperty("os.name") + " " + System.getProperty("os.arch")
                + " on the classpath (linux-x86_64, macosx, windows, ... classifiers); rebuild with"
                + " ./mvnw -DskipTests install, and see why with LOCKSTEP_JAVA_OPTS=-Dorg.bytedeco.javacpp.logger.debug=true");
        }
    }

    /**
     * Which libnd4jcpu build runs ({@code loaded}: its platform folder, null where unknown) against what
     * the CPU can run: a WARN where an AVX2-capable CPU runs the generic build or the build loaded is
     * not the one chosen.
     */
    static Check nativeBuild(String backend, NativeBuild.Choice choice, String loaded, CpuFlags cpu) {
        String build = loaded == null ? choice.build() : NativeBuild.label(loaded);
        boolean avx2Cpu = cpu.hasAll(NativeBuild.AVX2_NEEDS);
        String line = backend + "; build " + build + (loaded == null ? "" : " (" + loaded + "/libnd4jcpu.so)")
            + "; CPU " + (cpu.flags().isEmpty() ? "flags unknown (" + cpu.source() + ")"
            : (avx2Cpu ? "has AVX2" : "lacks " + cpu.missing(NativeBuild.AVX2_NEEDS)));
        if (loaded != null && !build.equals(choice.build())) {
            return Check.warn("nd4j", line + ", but " + choice.build() + " was wanted: " + (choice.applied()
                ? "its natives are not on the classpath" : "JavaCPP started before Lockstep could choose; set -D"
                + NativeBuild.EXTENSION_PROPERTY + "=" + choice.extension() + " on the JVM"));
        }
        if (avx2Cpu && build.equals("generic")) {
            return Check.warn("nd4j", line + ": the AVX2 build runs DL4J's Adam step about 2.5x faster; "
                + (choice.given() ? "remove -D" + NativeBuild.EXTENSION_PROPERTY + "= or set it to -avx2"
                : "put org.nd4j:nd4j-native:linux-x86_64-avx2 on the classpath"));
        }
        return Check.ok("nd4j", line);
    }

    static List<Check> data(JobConfig cfg, Configuration hadoop, Placement where, String master) {
        List<Check> checks = new ArrayList<>();
        boolean download = "mnist".equalsIgnoreCase(cfg.data.download);
        List<String> local = new ArrayList<>();
        for (Map.Entry<String, String> e : DataPaths.of(cfg.data).entrySet()) {
            String key = e.getKey();
            String path = e.getValue();
            if (DataPaths.isLocal(path)) {
                local.add(key);
            }
            String problem = DataPaths.problem(hadoop, path);
            if (problem == null) {
                checks.add(Check.ok("data", key + " " + path + ": readable"));
            } else if (download && problem.equals("file not found")) {
                checks.add(Check.ok("data", key + " " + path + ": missing; data.download: mnist fetches it"));
            } else {
                checks.add(Check.fail("data", key + ": " + path + ": " + problem));
            }
        }
        if (!where.sameHost() && !local.isEmpty()) {
            checks.add(Check.warn("data", "spark.master is " + master + ": local paths (" + String.join(", ", local)
                + ", file: or no scheme) are read by the executors and must exist at the same place on every"
                + " executor host" + (download ? "; data.download fetches to the driver only" : "")
                + " (or use hdfs:, s3a:, ...)"));
        }
        return checks;
    }

    static Check output(JobConfig cfg) {
        Path dir = Path.of(cfg.output.dir);
        String problem = RunOutputs.problem(dir);
        if (problem != null) {
            return problem.contains("the disk is full") ? Check.fail("output", problem)
                : Check.configFail("output", problem);
        }
        String free;
        try {
            Path p = dir.toAbsolutePath();
            while (!Files.exists(p)) {
                p = p.getParent();
            }
            free = bytes(Files.getFileStore(p).getUsableSpace()) + " free";
        } catch (IOException | RuntimeException e) {
            free = "free space unknown";
        }
        return Check.ok("output", "output.dir " + dir + ": " + (Files.isDirectory(dir) ? "writable" : "can be created")
            + ", " + free);
    }

    /** Where the embedded media drivers put their files, and its free space. */
    record Shm(String dir, long free) {
    }

    static Shm shmFree() {
        File shm = new File("/dev/shm");
        String dir = shm.isDirectory() ? shm.getPath() : System.getProperty("java.io.tmpdir");
        try {
            return new Shm(dir, Files.getFileStore(Path.of(dir)).getUsableSpace());
        } catch (IOException e) {
            return new Shm(dir, -1);
        }
    }

    /** Bytes of one log buffer of a gradient stream: three terms and a page of metadata. */
    static long logBuffer(long termLength) {
        return 3 * termLength + 4096;
    }

    /** The parameter server's media driver: per shard one image per worker and its own publication. */
    static long serverDriverBytes(int shards, int workers, long term) {
        return CNC_BYTES + (long) shards * (workers + 1) * logBuffer(term) + (workers + 1) * GATHER_BUFFER_BYTES;
    }

    /** The workers' media driver of one JVM with {@code w} workers: per shard a publication each and one shared image. */
    static long workersDriverBytes(int shards, int w, long term) {
        return CNC_BYTES + (long) shards * (w + 1) * logBuffer(term) + (w + 1) * GATHER_BUFFER_BYTES;
    }

    /**
     * The exchange the job will use: memory (every worker in the driver's JVM with {@code ps.local_reduction}:
     * no Aeron at all), ipc or udp ({@code ps.transport: auto} resolved as the job resolves it).
     */
    static String exchange(JobConfig cfg, Placement where) {
        return new Topology(cfg, where.workersInDriver()).exchangeKind();
    }

    /** True when the job runs its shards on the executors ({@code ps.shard_placement}, resolved as the job does). */
    private static boolean onExecutors(JobConfig cfg, Placement where) {
        return new Topology(cfg, where.workersInDriver()).shardsOnExecutors();
    }

    /** The job's shard count: {@code ps.shards}, or with the shards on the executors at least one per worker. */
    private static int shards(JobConfig cfg, Placement where) {
        return new Topology(cfg, where.workersInDriver()).shardCount();
    }

    /** Shared memory the driver JVM needs (with every driver this host runs, for local masters). */
    static long driverHostNeeds(JobConfig cfg, Placement where, long term) {
        int shards = shards(cfg, where);
        int workers = cfg.workers;
        String exchange = exchange(cfg, where);
        if (exchange.equals("memory")) {
            return 0;
        }
        if (exchange.equals("ipc")) {
            // one shared driver; IPC subscribers read the publications' own log buffers
            return CNC_BYTES + (long) shards * (workers + 1) * logBuffer(term) + (workers + 1) * GATHER_BUFFER_BYTES;
        }
        long server = serverDriverBytes(shards, workers, term);
        if (where.workersInDriver()) {
            return server + workersDriverBytes(shards, workers, term);
        }
        if (where.sameHost()) {
            return server + where.executors() * workersDriverBytes(shards, where.workersPerExecutor(), term);
        }
        // another host's executors: with the shards there, the driver keeps only the all-gather endpoint
        return onExecutors(cfg, where) ? serverDriverBytes(0, workers, term) : server;
    }

    static List<Check> shm(JobConfig cfg, Placement where, String master, Shm shm) {
        List<Check> checks = new ArrayList<>();
        long term = cfg.ps.termLength;
        long need = driverHostNeeds(cfg, where, term);
        String what = (where.workersInDriver() ? "this JVM runs the parameter server and " + cfg.workers + " worker"
            + (cfg.workers == 1 ? "" : "s") : where.sameHost() ? "the driver and " + where.executors()
            + " executor JVM" + (where.executors() == 1 ? "" : "s") + " on this host"
            : onExecutors(cfg, where) ? "the driver's all-gather endpoint" : "the parameter server")
            + ", " + shards(cfg, where) + " shard" + (shards(cfg, where) == 1 ? "" : "s")
            + (onExecutors(cfg, where) ? " on the executors" : "") + ", log buffers of 3 x ps.term_length "
            + bytes(term);
        if (need == 0) {
            checks.add(Check.ok("shm", "no Aeron shared memory needed: every worker runs in this JVM and exchanges in"
                + " memory (ps.local_reduction)"));
        } else if (shm.free() < 0) {
            checks.add(Check.warn("shm", shm.dir() + ": free space unknown; Aeron needs about " + bytes(need) + " (" + what + ")"));
        } else if (need > shm.free()) {
            checks.add(Check.fail("shm", shm.dir() + ": " + bytes(shm.free()) + " free but Aeron needs about " + bytes(need)
                + " (" + what + "): " + shmRemedy(cfg, where, need, shm.free())));
        } else {
            checks.add(Check.ok("shm", shm.dir() + ": " + bytes(shm.free()) + " free, Aeron needs about " + bytes(need)
                + " (" + what + ")"));
        }
        if (!where.sameHost() && !exchange(cfg, where).equals("ipc")) {
            int shards = shards(cfg, where);
            long executor = workersDriverBytes(shards, where.workersPerExecutor(), term) + (onExecutors(cfg, where)
                ? serverDriverBytes((shards * where.workersPerExecutor() + cfg.workers - 1) / cfg.workers, cfg.workers,
                term) : 0);
            checks.add(Check.warn("shm", "spark.master is " + master + ": each executor JVM (" + where.workersPerExecutor()
                + " worker" + (where.workersPerExecutor() == 1 ? "" : "s") + ") needs about " + bytes(executor)
                + " free in /dev/shm on its host" + (executor > DOCKER_DEFAULT_SHM
                ? "; containers start with 64 MiB (docker --shm-size, or a Kubernetes emptyDir medium: Memory on /dev/shm)"
                : "")));
        }
        return checks;
    }

    /** What to change so the shared memory suffices: a bigger /dev/shm, or smaller terms (or IPC, locally). */
    private static String shmRemedy(JobConfig cfg, Placement where, long need, long free) {
        StringBuilder sb = new StringBuilder("give /dev/shm at least ")
            .append(bytes(roundUp(need))).append(" (docker run --shm-size=").append(roundUp(need) / MIB).append("m)");
        long minTerm = Integer.highestOneBit(Math.max(64 * 1024, 8 * cfg.ps.mtu - 1)) * 2L;
        long fitting = -1;
        for (long t = cfg.ps.termLength / 2; t >= minTerm; t /= 2) {
            if (driverHostNeeds(cfg, where, t) <= free) {
                fitting = t;
                break;
            }
        }
        if (fitting > 0) {
            sb.append(", or set ps.term_length: ").append(fitting).append(" (about ")
                .append(bytes(driverHostNeeds(cfg, where, fitting))).append("; smaller terms may slow large models)");
        } else if (where.workersInDriver() && !exchange(cfg, where).equals("ipc")) {
            JobConfig ipc = copyForIpc(cfg);
            for (long t = cfg.ps.termLength; t >= minTerm; t /= 2) {
                if (driverHostNeeds(ipc, where, t) <= free) {
                    sb.append(", or set ps.transport: ipc and ps.term_length: ").append(t).append(" (about ")
                        .append(bytes(driverHostNeeds(ipc, where, t))).append(": one media driver)");
                    break;
                }
            }
        }
        return sb.toString();
    }

    private static JobConfig copyForIpc(JobConfig cfg) {
        JobConfig c = new JobConfig();
        c.workers = cfg.workers;
        c.ps.shards = cfg.ps.shards;
        c.ps.mtu = cfg.ps.mtu;
        c.ps.termLength = cfg.ps.termLength;
        c.ps.transport = Transport.IPC;
        c.ps.localReduction = false;
        return c;
    }

    private static long roundUp(long bytes) {
        long step = 64 * MIB;
        return (bytes + step - 1) / step * step;
    }

    /** Optimizer state per parameter (floats): Adam/AdamW 2 moments, RMSProp 1, SGD 1 with momentum. */
    static int stateCopies(JobConfig cfg) {
        if (cfg.model.type.equalsIgnoreCase("json") || cfg.model.type.equalsIgnoreCase("factory")) {
            return 2; // the model brings its own updater: assume Adam's
        }
        return switch (cfg.optimizer.type) {
            case SGD -> cfg.optimizer.momentum != 0 ? 1 : 0;
            case RMSPROP -> 1;
            default -> 2;
        };
    }

    static List<Check> memory(JobConfig cfg, Placement where, long params, long heapMax, long offHeapMax) {
        List<Check> checks = new ArrayList<>();
        if (params < 0) {
            checks.add(Check.ok("heap", "-Xmx " + bytes(heapMax) + "; off-heap limit " + bytes(offHeapMax)
                + " (org.bytedeco.javacpp.maxbytes); the model's size is not known before the data or the model is read"
                + " (model.type " + cfg.model.type + (cfg.model.initFrom != null ? ", model.init_from" : "")
                + ", data.format " + cfg.data.format + ")"));
            return checks;
        }
        if (params > Integer.MAX_VALUE) {
            checks.add(Check.fail("model", String.format(Locale.ROOT, "%,d parameters: more than the %,d one flat"
                + " parameter vector holds (model.hidden, model.*): train a smaller model", params, Integer.MAX_VALUE)));
        }
        int copies = stateCopies(cfg);
        int replicas = where.workersInDriver() ? cfg.workers + 1 : 1;
        long offHeap = params * Float.BYTES * (2 + copies) * replicas;
        String model = String.format(Locale.ROOT, "%,d parameters%s", params,
            cfg.task == Task.CLASSIFICATION && cfg.data.classes == null ? " or more (data.classes not set)" : "");
        String offWhat = model + " x 4 B x (parameters, gradient" + (copies == 0 ? "" : ", " + copies + " optimizer state vector" + (copies == 1 ? "" : "s"))
            + ") x " + replicas + (where.workersInDriver() ? " (" + cfg.workers + " workers and the driver's copy)"
            : " (the driver's copy)");
        checks.add(limit("off-heap", offHeap, offHeapMax, "about " + bytes(offHeap) + " off-heap for " + offWhat
            + ", of " + bytes(offHeapMax) + " allowed (org.bytedeco.javacpp.maxbytes, default -Xmx)",
            "raise it (LOCKSTEP_JAVA_OPTS=\"-Xmx16g -Dorg.bytedeco.javacpp.maxbytes=16g\", spark.driver.memory with"
                + " spark-submit), run fewer workers in this JVM, or train a smaller model"));
        // float[] copies on the heap: the start point and the published parameters, and each replica's
        // result (last and best parameters) collected to the driver
        long heap = params * Float.BYTES * (2 + 2L * cfg.workers);
        checks.add(limit("heap", heap, heapMax, "about " + bytes(heap) + " of heap for " + model + " x 4 B x "
            + (2 + 2L * cfg.workers) + " float[] copies (start point, published, last and best of each worker), of "
            + bytes(heapMax) + " (-Xmx)", "raise -Xmx (LOCKSTEP_JAVA_OPTS=-Xmx16g; spark.driver.memory with spark-submit)"
            + " or train a smaller model"));
        if (!where.sameHost()) {
            long executor = params * Float.BYTES * (2 + copies) * where.workersPerExecutor();
            long executorMemory = sizeOf(cfg.spark.conf.get("spark.executor.memory"), 1024 * MIB);
            String line = "each executor JVM needs about " + bytes(executor) + " off-heap for its "
                + where.workersPerExecutor() + " worker" + (where.workersPerExecutor() == 1 ? "" : "s")
                + ", spark.executor.memory is " + bytes(executorMemory);
            checks.add(executor > executorMemory / 2
                ? Check.warn("executor", line + ": raise spark.executor.memory (the off-heap limit follows -Xmx) and"
                    + " spark.executor.memoryOverhead")
                : Check.ok("executor", line));
        }
        return checks;
    }

    private static Check limit(String name, long need, long max, String what, String remedy) {
        if (need > max) {
            return Check.fail(name, what + ": " + remedy);
        }
        if (need > max / 2) {
            return Check.warn(name, what + ": tight; " + remedy);
        }
        return Check.ok(name, what);
    }

    /** A JVM memory size as Spark writes it (512m, 4g, 1073741824), or {@code dflt}. */
    static long sizeOf(String text, long dflt) {
        if (text == null || text.isBlank()) {
            return dflt;
        }
        Matcher m = Pattern.compile("(\\d+)\\s*([kmgt]?)b?", Pattern.CASE_INSENSITIVE).matcher(text.trim());
        if (!m.matches()) {
            return dflt;
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> n * 1024;
            case "m" -> n * MIB;
            case "g" -> n * 1024 * MIB;
            case "t" -> n * 1024 * 1024 * MIB;
            default -> text.trim().matches("\\d+") ? n : n * MIB; // Spark reads a bare number as MiB
        };
    }

    static long offHeapLimit() {
        try {
            return org.bytedeco.javacpp.Pointer.maxBytes();
        } catch (Throwable t) {
            return Runtime.getRuntime().maxMemory();
        }
    }

    static List<Check> ports(JobConfig cfg, Placement where, String master) {
        List<Check> checks = new ArrayList<>();
        if (exchange(cfg, where).equals("memory")) {
            checks.add(Check.ok("ports", "every worker in this JVM: gradients are exchanged in memory, no ports"));
            return checks;
        }
        if (exchange(cfg, where).equals("ipc")) {
            if (!where.workersInDriver()) {
                checks.add(Check.configFail("ports", "config key 'ps.transport' is ipc, which needs every worker in the"
                    + " driver's JVM, but spark.master is " + master + ": use ps.transport: udp"));
            } else {
                checks.add(Check.ok("ports", "ps.transport ipc: shared memory, no ports"));
            }
            return checks;
        }
        String host = cfg.ps.host;
        try (DatagramSocket socket = new DatagramSocket(new InetSocketAddress(InetAddress.getByName(host), 0))) {
            checks.add(Check.ok("ports", "ps.host " + host + ": a UDP socket binds (ephemeral port " + socket.getLocalPort()
                + "); the job takes " + (onExecutors(cfg, where) ? "2 such ports here (the all-gather endpoint; each"
                + " hosting executor takes 2 per shard and 1 more on its own address)" : (2 * cfg.ps.shards + 2)
                + " such ports")));
        } catch (IOException | SecurityException e) {
            checks.add(Check.configFail("ports", "config key 'ps.host' is '" + host + "', which this machine cannot bind"
                + " (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + "): set it to an"
                + " address of this driver (127.0.0.1 for local runs, its cluster address otherwise)"));
            return checks;
        }
        if (!where.sameHost()) {
            try {
                if (InetAddress.getByName(host).isLoopbackAddress()) {
                    checks.add(Check.warn("ports", "ps.host is " + host + " but spark.master is " + master
                        + ": executors on other hosts cannot reach a loopback address; set ps.host to the driver's"
                        + " address"));
                }
            } catch (IOException ignored) {
                // reported above
            }
        }
        return checks;
    }

    /**
     * The model's parameter count from the config and the number of features alone, without
     * building it; -1 when that needs the model or the data read (factory, init_from, unknown
     * features). For classification without data.classes the output layer is counted with 2
     * classes: a lower bound.
     */
    static long estimateParams(JobConfig cfg, int features) {
        String type = cfg.model.type.toLowerCase(Locale.ROOT);
        if (cfg.model.initFrom != null) {
            return -1;
        }
        if (type.equals("json")) {
            return jsonParams(cfg.model.path);
        }
        if (features <= 0) {
            return -1;
        }
        int outputs = cfg.task == Task.CLASSIFICATION ? (cfg.data.classes != null ? cfg.data.classes : 2) : 1;
        if (type.equals("mlp")) {
            long params = 0;
            long in = features;
            for (int width : cfg.model.hidden) {
                params += in * width + width;
                in = width;
            }
            return params + in * outputs + outputs;
        }
        if (type.equals("lenet")) {
            return lenetParams(cfg.model.inputShape, features, outputs);
        }
        return -1;
    }

    /** LeNet as ModelBuilder builds it: conv 5x5x20, max-pool 2, conv 5x5x50, max-pool 2, dense 500, output. */
    static long lenetParams(List<Integer> shape, int features, int outputs) {
        long h;
        long w;
        long c;
        if (shape != null && shape.size() == 3) {
            h = shape.get(0);
            w = shape.get(1);
            c = shape.get(2);
        } else {
            long side = Math.round(Math.sqrt(features));
            if (side * side != features) {
                return -1;
            }
            h = side;
            w = side;
            c = 1;
        }
        boolean truncate = Math.min(h, w) >= 16; // ModelBuilder.LENET_TRUNCATE_MIN_SIDE
        long[] hw = {h, w};
        for (int i = 0; i < 2; i++) {
            hw[i] = truncate ? ((hw[i] - 4) / 2 - 4) / 2 : (((hw[i] + 1) / 2) + 1) / 2;
        }
        if (hw[0] < 1 || hw[1] < 1) {
            return -1;
        }
        long dense = hw[0] * hw[1] * 50;
        return 25 * c * 20 + 20 + 25 * 20 * 50 + 50 + dense * 500 + 500 + 500L * outputs + outputs;
    }

    /** Parameters of a DL4J JSON configuration, counted from its layers without allocating them. */
    static long jsonParams(String path) {
        try {
            String json = Files.readString(Path.of(path));
            long n = 0;
            if (io.lockstep.worker.model.Network.isGraphJson(json)) {
                ComputationGraphConfiguration conf = ComputationGraphConfiguration.fromJson(json);
                for (GraphVertex v : conf.getVertices().values()) {
                    if (v instanceof LayerVertex lv) {
                        n += lv.numParams(true);
                    }
                }
            } else {
                MultiLayerConfiguration conf = MultiLayerConfiguration.fromJson(json);
                for (NeuralNetConfiguration layer : conf.getConfs()) {
                    n += layer.getLayer().initializer().numParams(layer);
                }
            }
            return n;
        } catch (IOException | RuntimeException e) {
            return -1; // the job names what is wrong with the file
        }
    }

    static String bytes(long b) {
        if (b >= 10L * 1024 * MIB) {
            return String.format(Locale.ROOT, "%.0f GiB", b / (1024.0 * MIB));
        }
        if (b >= 1024 * MIB) {
            return String.format(Locale.ROOT, "%.1f GiB", b / (1024.0 * MIB));
        }
        return String.format(Locale.ROOT, "%d MiB", (b + MIB - 1) / MIB);
    }
}
