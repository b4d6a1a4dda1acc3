package io.lockstep.driver.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A Spark standalone cluster for tests: a master and N workers as separate JVMs, on 127.0.0.1 or each in its own
 * network namespace with its own address ({@link Hosts}), started and stopped by {@code deploy/local-cluster.sh}
 * or {@code deploy/netns-cluster.sh} (so the harness and the scripts do the same thing), plus what
 * chaos tests need: the executor JVMs' pids, SIGKILL / SIGSTOP / SIGCONT for this cluster's processes only,
 * and job submission through {@code deploy/spark-submit.sh} in a child process.
 *
 * <pre>{@code
 * try (StandaloneCluster cluster = StandaloneCluster.start("MyIT", 2)) {
 *     Submission job = cluster.submit(List.of(), config, "epochs=5");
 *     job.awaitOutput(Pattern.compile("epoch 2/5"), Duration.ofSeconds(60));
 *     cluster.kill9(cluster.executors().get(0).pid());
 *     StandaloneCluster.Result result = job.await(Duration.ofMinutes(2));
 * }
 * }</pre>
 *
 * State (SPARK_HOME, daemon logs, worker work dirs) lives in {@code target/local-cluster-it/NAME} (system
 * property {@code lockstep.cluster.dir} sets the parent); {@link #close()} copies the logs, with each
 * executor's stdout/stderr and each submission's output, to {@code NAME-logs/} beside it, then stops
 * everything and removes the state. A shutdown hook closes a cluster the test forgot, and starting a
 * cluster first stops whatever a crashed earlier run left in the same state dir.
 */
public final class StandaloneCluster implements AutoCloseable {
    /** The dist jar the build made; set by the cluster-it execution in driver/pom.xml. */
    public static final String DIST_JAR_PROPERTY = "lockstep.dist.jar";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String EXECUTOR_CLASS = "org.apache.spark.executor.CoarseGrainedExecutorBackend";

    /**
     * Where the hosts of a cluster live: every daemon on 127.0.0.1 ({@code deploy/local-cluster.sh}), or the master
     * (and the submitted driver) and each worker in its own network namespace with its own address on a bridge
     * ({@code deploy/netns-cluster.sh}: root only; {@link #namespacesUnavailable()} says why not).
     */
    public enum Hosts {
        LOOPBACK("deploy/local-cluster.sh"),
        NAMESPACES("deploy/netns-cluster.sh");

        private final String script;

        Hosts(String script) {
            this.script = script;
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger NETNS_CLUSTERS =
        new java.util.concurrent.atomic.AtomicInteger();

    private final Hosts hosts;
    private final Map<String, String> scriptEnv;
    private final Path root;
    private final Path state;
    private final Path logs;
    private final int workers;
    private final String masterUrl;
    private final URI masterUi;
    private final long masterPid;
    private final List<Long> workerPids;
    private final List<ProcessHandle> daemons;
    private final List<Submission> submissions = new CopyOnWriteArrayList<>();
    final Set<Long> seen = ConcurrentHashMap.newKeySet();
    private final Thread hook;
    private volatile boolean closed;
    private boolean stopped;

    private StandaloneCluster(Hosts hosts, Map<String, String> scriptEnv, Path root, Path state, Path logs, int workers)
        throws IOException {
        this.hosts = hosts;
        this.scriptEnv = scriptEnv;
        this.root = root;
        this.state = state;
        this.logs = logs;
        this.workers = workers;
        this.masterUrl = Files.readString(state.resolve("master-url")).strip();
        this.masterUi = URI.create(Files.readString(state.resolve("master-ui")).strip());
        this.masterPid = pidFile("master");
        List<Long> w = new ArrayList<>();
        for (int i = 1; i <= workers; i++) {
            w.add(pidFile("worker-" + i));
        }
        this.workerPids = List.copyOf(w);
        List<ProcessHandle> d = new ArrayList<>();
        d.add(handle(masterPid, "master"));
        for (int i = 0; i < workers; i++) {
            d.add(handle(workerPids.get(i), "worker " + (i + 1)));
        }
        this.daemons = List.copyOf(d); // the master, then worker 1..N
        seen.add(masterPid);
        seen.addAll(workerPids);
        this.hook = new Thread(this::closeQuietly, "standalone-cluster-stop");
        Runtime.getRuntime().addShutdownHook(hook);
    }

    /** Starts a master and {@code workers} workers in {@code target/local-cluster-it/name} and waits until all are ALIVE. */
    public static StandaloneCluster start(String name, int workers) throws IOException, InterruptedException {
        return start(Hosts.LOOPBACK, name, workers);
    }

    /**
     * As {@link #start(String, int)}, with the hosts where {@code hosts} says. A cluster in namespaces gets a name
     * of its own (its namespaces are NAME-master, NAME-w1, ...), so clusters of concurrent test JVMs never meet.
     */
    public static StandaloneCluster start(Hosts hosts, String name, int workers) throws IOException, InterruptedException {
        Path base = Path.of(System.getProperty("lockstep.cluster.dir", "target/local-cluster-it")).toAbsolutePath();
        Path root = projectRoot();
        Path state = base.resolve(name).normalize();
        Path logs = state.resolveSibling(state.getFileName() + "-logs");
        Map<String, String> env = new java.util.HashMap<>();
        if (hosts == Hosts.NAMESPACES) {
            env.put("LOCKSTEP_NETNS_NAME", "l" + Long.toString(ProcessHandle.current().pid() % 1_000_000, 36)
                + NETNS_CLUSTERS.getAndIncrement() % 10);
        }
        deleteRecursively(logs);
        Files.createDirectories(logs);
        Script stale = script(hosts, env, root, state, logs, "stop", Duration.ofMinutes(1)); // a crashed run's leftovers
        if (stale.exit() != 0) {
            throw new IllegalStateException("could not clear " + state + ": " + stale.stderr());
        }
        Script started = script(hosts, env, root, state, logs, "start", Duration.ofMinutes(6), String.valueOf(workers));
        if (started.exit() != 0) {
            keepLogs(state, logs);
            throw new IllegalStateException("the cluster did not start (" + hosts.script + " start " + workers
                + ", exit " + started.exit() + "; logs in " + logs + "):\n" + started.stderr());
        }
        return new StandaloneCluster(hosts, Map.copyOf(env), root, state, logs, workers);
    }

    /**
     * Why a cluster in network namespaces cannot be made on this machine ({@code deploy/netns-cluster.sh check}:
     * not root, no {@code ip netns}, ...), or null when it can.
     */
    public static String namespacesUnavailable() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("bash", projectRoot().resolve(Hosts.NAMESPACES.script).toString(), "check")
            .redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return Hosts.NAMESPACES.script + " check did not answer within 60 s";
        }
        return p.exitValue() == 0 ? null : out.isEmpty() ? Hosts.NAMESPACES.script + " check exited " + p.exitValue() : out;
    }

    public Hosts hosts() {
        return hosts;
    }

    /** A host's address: {@code master}, {@code worker-1}, ... (all 127.0.0.1 on {@link Hosts#LOOPBACK}). */
    public String address(String host) throws IOException, InterruptedException {
        if (hosts == Hosts.LOOPBACK) {
            return "127.0.0.1";
        }
        Script a = script(hosts, scriptEnv, root, state, logs, "address", Duration.ofSeconds(30), host);
        if (a.exit() != 0) {
            throw new IllegalStateException("no address for " + host + ": " + a.stderr());
        }
        return a.stdout().strip();
    }

    /** Takes a host's link down, or brings it back ({@link Hosts#NAMESPACES} only): a cable pulled and put back. */
    public void link(String host, boolean up) throws IOException, InterruptedException {
        if (hosts != Hosts.NAMESPACES) {
            throw new UnsupportedOperationException("links are a cluster in network namespaces' only");
        }
        Script l = script(hosts, scriptEnv, root, state, logs, "link", Duration.ofSeconds(30), host, up ? "up" : "down");
        if (l.exit() != 0) {
            throw new IllegalStateException("link " + host + (up ? " up" : " down") + " failed: " + l.stderr());
        }
    }

    /**
     * Drops {@code percent} of the UDP packets {@code host} sends (0: none), with an nftables netdev rule in its
     * namespace ({@link Hosts#NAMESPACES} only); returns the script's report.
     */
    public String loss(String host, int percent) throws IOException, InterruptedException {
        if (hosts != Hosts.NAMESPACES) {
            throw new UnsupportedOperationException("packet loss is a cluster in network namespaces' only");
        }
        Script l = script(hosts, scriptEnv, root, state, logs, "loss", Duration.ofSeconds(30), host,
            Integer.toString(percent));
        if (l.exit() != 0) {
            throw new IllegalStateException("loss " + host + " " + percent + "% failed: " + l.stderr());
        }
        return (l.stdout() + l.stderr()).strip();
    }

    public String masterUrl() {
        return masterUrl;
    }

    /** The master's web UI, e.g. {@code http://localhost:PORT}; {@code /json/} on it is {@link #masterState()}. */
    public URI masterUi() {
        return masterUi;
    }

    public Path stateDir() {
        return state;
    }

    public Path sparkHome() {
        return state.resolve("spark-home");
    }

    /** Where {@link #close()} leaves the logs; submissions write their output here as they run. */
    public Path logDir() {
        return logs;
    }

    public int workers() {
        return workers;
    }

    public long masterPid() {
        return masterPid;
    }

    /** Worker daemons' pids, worker 1 first. */
    public List<Long> workerPids() {
        return workerPids;
    }

    /** Worker {@code i}'s work dir (1-based): {@code app-*}/{@code EXECUTOR_ID}/ with the jar, stdout and stderr. */
    public Path workDir(int worker) {
        return state.resolve("worker-" + worker).resolve("work");
    }

    /** An executor JVM: its pid, the worker (1-based) that launched it, the application and the executor id. */
    public record Executor(long pid, int worker, String appId, String executorId) {
    }

    /** The executor JVMs alive now, under this cluster's workers (never anyone else's), by worker then pid. */
    public List<Executor> executors() {
        List<Executor> out = new ArrayList<>();
        for (int i = 0; i < workerPids.size(); i++) {
            int worker = i + 1;
            ProcessHandle w = daemons.get(worker);
            Stream.of(w).filter(ProcessHandle::isAlive).flatMap(ProcessHandle::descendants)
                .sorted(java.util.Comparator.comparingLong(ProcessHandle::pid))
                .forEach(p -> {
                    List<String> cmd = cmdline(p.pid());
                    if (cmd.contains(EXECUTOR_CLASS) && !isZombie(p.pid())) {
                        out.add(new Executor(p.pid(), worker, arg(cmd, "--app-id"), arg(cmd, "--executor-id")));
                    }
                });
        }
        seen.addAll(out.stream().map(Executor::pid).toList());
        return out;
    }

    /** Waits until at least {@code n} executor JVMs run (of any application) and returns them. */
    public List<Executor> awaitExecutors(int n, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            List<Executor> now = executors();
            if (now.size() >= n) {
                return now;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(now.size() + " executor JVMs after " + timeout + ", expected " + n
                    + ": " + now);
            }
            Thread.sleep(100);
        }
    }

    /** The master's view ({@code /json/}: workers with their state, aliveworkers, activeapps, completedapps). */
    public JsonNode masterState() throws IOException, InterruptedException {
        if (hosts == Hosts.NAMESPACES) { // only the cluster's hosts reach its addresses
            Script json = script(hosts, scriptEnv, root, state, logs, "exec", Duration.ofSeconds(30), "master", "curl",
                "-fsS", "--max-time", "10", masterUi.resolve("/json/").toString());
            if (json.exit() != 0) {
                throw new IOException(masterUi + "/json/: " + json.stderr());
            }
            return JSON.readTree(json.stdout());
        }
        HttpResponse<String> r = HttpClient.newHttpClient().send(
            HttpRequest.newBuilder(masterUi.resolve("/json/")).timeout(Duration.ofSeconds(10)).build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IOException(masterUi + "/json/: HTTP " + r.statusCode());
        }
        return JSON.readTree(r.body());
    }

    /** SIGKILL to one of this cluster's processes (an executor, a worker, the master, a submitted driver). */
    public void kill9(long pid) {
        signal(pid, "KILL");
    }

    /** SIGSTOP: the process freezes (no heartbeats, no Aeron keep-alives) until {@link #cont(long)}. */
    public void stop(long pid) {
        signal(pid, "STOP");
    }

    /** SIGCONT: resumes a process {@link #stop(long) stopped}. */
    public void cont(long pid) {
        signal(pid, "CONT");
    }

    /** Waits until a process exits; false if it is still alive after {@code timeout}. */
    public static boolean awaitExit(long pid, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false) && !isZombie(pid)) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(50);
        }
        return true;
    }

    /**
     * The process state letter from {@code /proc/PID/stat}: {@code R} running, {@code S} sleeping, {@code T}
     * stopped, {@code Z} zombie; empty when the process is gone.
     */
    public static Optional<Character> processState(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc", String.valueOf(pid), "stat"));
            return Optional.of(stat.charAt(stat.lastIndexOf(')') + 2));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Every pid this cluster has owned that is still alive: daemons, executors seen, submitted drivers. */
    public Set<Long> livePids() {
        Set<Long> all = new LinkedHashSet<>(owned());
        all.addAll(seen);
        return all.stream().filter(p -> ProcessHandle.of(p).map(ProcessHandle::isAlive).orElse(false) && !isZombie(p))
            .collect(Collectors.toCollection(LinkedHashSet::new));
    }

    /**
     * What a submission ended with: exit code, its whole output (stdout and stderr), the driver's pid and the
     * executor pids seen while it ran.
     */
    public record Result(int exitCode, String output, long driverPid, Set<Long> executorPids) {
        /** The lines starting with {@code lockstep: error:} (the CLI's one-line error). */
        public List<String> errorLines() {
            return output.lines().filter(l -> l.startsWith("lockstep: error:")).toList();
        }
    }

    /**
     * Submits {@code config} through {@code deploy/spark-submit.sh} (Spark's SparkSubmit in a child JVM, client
     * mode: the driver and its parameter server run in that process) with the cluster's defaults — one core
     * per executor, as many cores as workers, wait for all executors, 1 GiB executors — then
     * {@code sparkOptions} (later options win), and {@code --set} for each of {@code sets}.
     */
    public Submission submit(List<String> sparkOptions, Path config, String... sets) throws IOException {
        return submit(Map.of(), sparkOptions, config, sets);
    }

    /** {@link #submit(List, Path, String...)} with {@code env} added to the driver's environment. */
    public Submission submit(Map<String, String> extraEnv, List<String> sparkOptions, Path config, String... sets)
        throws IOException {
        return submit("train", extraEnv, sparkOptions, config, sets);
    }

    /** {@code deploy/spark-submit.sh doctor CONFIG}: the doctor's checks, those on the executors included. */
    public Result doctor(Duration timeout, Path config, String... sets) throws IOException, InterruptedException {
        try (Submission s = submit("doctor", Map.of(), List.of(), config, sets)) {
            return s.await(timeout);
        }
    }

    private Submission submit(String command, Map<String, String> extraEnv, List<String> sparkOptions, Path config,
                              String... sets) throws IOException {
        Path jar = distJar();
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("no dist jar at " + jar + ": build it with ./mvnw -Pdist package");
        }
        // in namespaces the driver runs on the master's host, where spark-submit is run
        List<String> cmd = new ArrayList<>(hosts == Hosts.NAMESPACES
            ? List.of("bash", root.resolve(hosts.script).toString(), "exec", "master") : List.of());
        cmd.addAll(List.of("bash", root.resolve("deploy/spark-submit.sh").toString(),
            "--master", masterUrl,
            "--conf", "spark.executor.cores=1",
            "--conf", "spark.cores.max=" + workers,
            "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
            "--conf", "spark.local.dir=" + state.resolve("driver-local"),
            "--executor-memory", "1g",
            "--driver-memory", "1g"));
        cmd.addAll(sparkOptions);
        if (!command.equals("train")) {
            cmd.add(command);
        }
        cmd.add(config.toAbsolutePath().toString());
        for (String s : sets) {
            cmd.add("--set");
            cmd.add(s);
        }
        Files.createDirectories(state.resolve("driver-local"));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile()).redirectErrorStream(true)
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        Map<String, String> env = pb.environment();
        env.put("SPARK_HOME", sparkHome().toString());
        if (hosts == Hosts.LOOPBACK) {
            env.put("SPARK_LOCAL_IP", "127.0.0.1");
        } else {
            env.remove("SPARK_LOCAL_IP"); // the driver finds its address as on a host of a real cluster
            env.putAll(scriptEnv);
        }
        env.put("OMP_NUM_THREADS", "1");
        env.put("LOCKSTEP_DIST_JAR", jar.toString());
        env.remove("SPARK_CONF_DIR");
        env.putAll(extraEnv);
        if (closed) {
            throw new IllegalStateException("the cluster is closed");
        }
        Submission s = new Submission(this, pb.start(), logs.resolve("submit-" + (submissions.size() + 1) + ".log"));
        submissions.add(s);
        return s;
    }

    /** {@link #submit} and wait for the end; the driver is killed if it runs past {@code timeout}. */
    public Result run(Duration timeout, List<String> sparkOptions, Path config, String... sets)
        throws IOException, InterruptedException {
        try (Submission s = submit(sparkOptions, config, sets)) {
            return s.await(timeout);
        }
    }


    /** Kills any running submission, keeps the logs, stops the master, workers and executors, removes the state. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // already shutting down: this is the hook
        }
        closeQuietly();
    }

    private synchronized void closeQuietly() {
        if (stopped) {
            return;
        }
        stopped = true;
        closed = true;
        for (Submission s : submissions) {
            try {
                s.close();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        // handles, not pids: a handle kills only the process it was taken of (start time checked), never a reused pid
        List<ProcessHandle> before = ownedHandles();
        try {
            keepLogs(state, logs);
        } catch (IOException | UncheckedIOException e) {
            System.err.println("StandaloneCluster: could not copy the logs: " + e);
        }
        String problem = null;
        try {
            Script stop = script(hosts, scriptEnv, root, state, logs, "stop", Duration.ofMinutes(1));
            if (stop.exit() != 0) {
                problem = hosts.script + " stop exited " + stop.exit() + ": " + stop.stderr();
            }
        } catch (IOException | InterruptedException e) {
            problem = hosts.script + " stop failed: " + e;
        }
        // backstop: whatever the script did not end
        before.forEach(ProcessHandle::destroyForcibly);
        if (problem != null) {
            System.err.println("StandaloneCluster: " + problem);
        }
    }

    /** The pids of this cluster's processes alive now: master, workers, their descendants, submitted drivers. */
    private Set<Long> owned() {
        return ownedHandles().stream().map(ProcessHandle::pid).collect(Collectors.toCollection(LinkedHashSet::new));
    }

    private List<ProcessHandle> ownedHandles() {
        List<ProcessHandle> all = new ArrayList<>();
        List<ProcessHandle> roots = new ArrayList<>(daemons);
        for (Submission s : submissions) {
            roots.add(s.handle());
        }
        for (ProcessHandle r : roots) {
            if (r.isAlive()) { // a handle checks the start time: a reused pid is not alive here
                all.add(r);
                r.descendants().forEach(all::add);
            }
        }
        return all;
    }

    private void signal(long pid, String signal) {
        if (!owned().contains(pid)) {
            throw new IllegalArgumentException("pid " + pid + " is not a process of this cluster (" + owned() + ")");
        }
        try {
            Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(pid)).redirectErrorStream(true).start();
            String out = new String(kill.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (kill.waitFor() != 0) {
                throw new IllegalStateException("kill -" + signal + " " + pid + ": " + out.strip());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Daemon logs and each executor's stdout/stderr, copied beside the state dir before it is removed. */
    private static void keepLogs(Path state, Path logs) throws IOException {
        if (!Files.isDirectory(state)) {
            return;
        }
        Files.createDirectories(logs);
        try (Stream<Path> files = Files.walk(state)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String name = f.getFileName().toString();
                boolean daemonLog = f.getParent().equals(state) && name.endsWith(".log");
                boolean executorLog = (name.equals("stdout") || name.equals("stderr"))
                    && f.toString().contains("/work/app-");
                if (Files.isRegularFile(f) && (daemonLog || executorLog)) {
                    Path to = logs.resolve(state.relativize(f).toString());
                    Files.createDirectories(to.getParent());
                    Files.copy(f, to, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private ProcessHandle handle(long pid, String what) {
        return ProcessHandle.of(pid).orElseThrow(() -> new IllegalStateException(what + " (pid " + pid
            + ") is not running; logs in " + state));
    }

    private long pidFile(String name) throws IOException {
        return Long.parseLong(Files.readString(state.resolve("pids").resolve(name + ".pid")).strip());
    }

    private record Script(int exit, String stdout, String stderr) {
    }

    private static Script script(Hosts hosts, Map<String, String> env, Path root, Path state, Path logs, String command,
                                 Duration timeout, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("bash", root.resolve(hosts.script).toString(), command));
        cmd.addAll(List.of(args));
        String name = Path.of(hosts.script).getFileName().toString().replace(".sh", "");
        // output to files, never pipes: the daemons the script leaves running must not hold them open
        Path out = Files.createTempFile(logs, name + "-" + command, ".out");
        Path err = Files.createTempFile(logs, name + "-" + command, ".err");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile())
            .redirectOutput(out.toFile()).redirectError(err.toFile())
            .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.environment().putAll(env);
        pb.environment().put("LOCKSTEP_CLUSTER_DIR", state.toString());
        // the cluster stops by itself if this JVM dies without closing it (kill -9)
        pb.environment().put("LOCKSTEP_CLUSTER_OWNER_PID", String.valueOf(ProcessHandle.current().pid()));
        Process p = pb.start();
        if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new IllegalStateException(hosts.script + " " + command + " ran past " + timeout);
        }
        String stdout = Files.readString(out);
        String stderr = Files.readString(err);
        Files.delete(out);
        // the script's progress and errors stay in the log dir
        Files.writeString(logs.resolve(name + "-" + command + ".log"), stderr,
            java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        Files.delete(err);
        return new Script(p.exitValue(), stdout, stderr);
    }

    /** The dist jar: the {@value #DIST_JAR_PROPERTY} property, else driver/target's. */
    public static Path distJar() {
        String prop = System.getProperty(DIST_JAR_PROPERTY);
        return prop != null ? Path.of(prop)
            : projectRoot().resolve("driver/target/lockstep-driver-0.1.0-SNAPSHOT-dist.jar");
    }

    /** The repository root: the {@code lockstep.root} property, else the parent of the driver module (the cwd of tests). */
    public static Path projectRoot() {
        String prop = System.getProperty("lockstep.root");
        Path root = prop != null ? Path.of(prop) : Path.of("").toAbsolutePath().getParent();
        if (root == null || !Files.isRegularFile(root.resolve("deploy/local-cluster.sh"))) {
            throw new IllegalStateException("no deploy/local-cluster.sh under " + root + " (set -Dlockstep.root)");
        }
        return root.toAbsolutePath().normalize();
    }

    private static List<String> cmdline(long pid) {
        try {
            String raw = Files.readString(Path.of("/proc", String.valueOf(pid), "cmdline"), StandardCharsets.UTF_8);
            List<String> args = new ArrayList<>(List.of(raw.split("\0")));
            return Collections.unmodifiableList(args);
        } catch (IOException e) {
            return List.of();
        }
    }

    private static String arg(List<String> cmd, String name) {
        int i = cmd.indexOf(name);
        return i >= 0 && i + 1 < cmd.size() ? cmd.get(i + 1) : null;
    }

    private static boolean isZombie(long pid) {
        return processState(pid).map(c -> c == 'Z').orElse(true);
    }

    static String tail(String text, int lines) {
        List<String> all = text.lines().toList();
        return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    private static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
    }
}
