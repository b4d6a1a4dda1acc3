#!/usr/bin/env bash
# A real Spark standalone cluster on this machine, from the project's own Maven jars (no Spark download):
# one master and N workers on 127.0.0.1, each its own JVM; workers launch executor JVMs for each application.
#
#   deploy/local-cluster.sh start [N]    start a master and N workers (default 2, or $WORKERS), wait until the
#                                        master reports N ALIVE workers, print the master URL (stdout, one line)
#   deploy/local-cluster.sh status       master URL, web UI, each daemon and the executors running under it;
#                                        exit 0 when the master and every worker are up
#   deploy/local-cluster.sh stop         kill the master, the workers and their executors (only those), then
#                                        remove the state dir
#
# Submit to it (client mode: the driver and its parameter server run where you submit):
#   MASTER=$(deploy/local-cluster.sh start)
#   SPARK_HOME=target/local-cluster/spark-home deploy/spark-submit.sh --master "$MASTER" \
#     --conf spark.executor.cores=1 --conf spark.cores.max=2 --executor-memory 1g examples/digits-mlp.yaml
#
# Needs `./mvnw -B -DskipTests package` first (driver/target/classpath.txt; -Pdist for the jar spark-submit sends).
# Everything lives in one state dir, $LOCKSTEP_CLUSTER_DIR (default target/local-cluster):
#   spark-home/      SPARK_HOME: jars/ links to the Maven jars of driver/target/classpath.txt except Lockstep's
#                    own modules and the libraries only Lockstep uses (DL4J, ND4J, JavaCPP, Aeron, Agrona,
#                    picocli, JUnit), which executors must get from the application jar as on a real cluster;
#                    bin/ holds the spark-class and spark-submit stand-ins from deploy/spark-shims/
#   master.log, worker-I.log, pids/   the daemons' output and pids (each daemon leads its own process group,
#                    which holds its executors)
#   worker-I/work/   worker I's work dir (app-*/EXECUTOR/ with the application jar and the executor's stdout and
#                    stderr; spark.worker.cleanup.enabled=true removes finished applications' dirs after
#                    $LOCKSTEP_CLUSTER_APP_TTL seconds, default 600), worker-I/local/ its scratch space
#   master-url, master-ui               spark://127.0.0.1:PORT and http://127.0.0.1:PORT
# Other settings: WORKER_CORES (1), WORKER_MEMORY (2g), MASTER_PORT and MASTER_UI_PORT (0: free ports),
# LOCKSTEP_CLUSTER_TIMEOUT (seconds to wait for the daemons, 90), LOCKSTEP_CLUSTER_OWNER_PID (stop the cluster
# when that process ends, e.g. a test JVM that was killed before it could stop it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LOCKSTEP_CLUSTER_DIR:-$ROOT/target/local-cluster}"
MARK="$STATE/.lockstep-local-cluster"   # only a dir holding this file is ever deleted
HOST=127.0.0.1
TIMEOUT="${LOCKSTEP_CLUSTER_TIMEOUT:-90}"
# shellcheck source=deploy/spark-home.sh
source "$ROOT/deploy/spark-home.sh"
SCALA_VERSION=$(sed -n 's:.*<scala.binary.version>\(.*\)</scala.binary.version>.*:\1:p' "$ROOT/pom.xml" | head -n 1)

log() { echo "local-cluster: $*" >&2; }
die() { echo "local-cluster: error: $*" >&2; exit 1; }

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# A pid is ours when the process is alive and its command line carries this state dir's marker property
# (or, before the JVM starts, is this state dir's spark-class).
ours() {
  alive "$1" && tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null \
    | grep -qxF -e "-Dlockstep.cluster.dir=$STATE" -e "$STATE/spark-home/bin/spark-class"
}

# The pid and all its descendants (children first found through /proc).
tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do tree "$child"; done
}

daemon_pids() {
  local f
  for f in "$STATE"/pids/*.pid; do [[ -f "$f" ]] && cat "$f"; done
}

tail_of() { [[ -f "$1" ]] && tail -n "${2:-15}" "$1" | sed 's/^/    /' >&2 || true; }

master_json() { curl -fsS --max-time 5 "$(cat "$STATE/master-ui")/json/" 2>/dev/null; }

alive_workers() { master_json | tr -d ' \n' | sed -n 's/.*"aliveworkers":\([0-9]*\).*/\1/p'; }

start_daemon() { # name class args...
  local name=$1 class=$2
  shift 2
  # setsid: the daemon leads its own process group, which its executors join; stdin closed so callers never wait on it
  SPARK_HOME="$STATE/spark-home" SPARK_SCALA_VERSION="$SCALA_VERSION" SPARK_LOCAL_IP=$HOST \
  SPARK_DAEMON_JAVA_OPTS="-Dlockstep.cluster.dir=$STATE ${SPARK_DAEMON_JAVA_OPTS:-}" \
    setsid "$STATE/spark-home/bin/spark-class" "$class" "$@" <"/dev/null" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/pids/$name.pid"
}

wait_for() { # description pid logfile command...: until the command succeeds, the pid dies or time runs out
  local what=$1 pid=$2 logf=$3 deadline=$((SECONDS + TIMEOUT))
  shift 3
  until "$@"; do
    if ! alive "$pid"; then
      log "$what: the process (pid $pid) exited; $logf ends:"
      tail_of "$logf"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$what: not up after ${TIMEOUT}s (pid $pid); $logf ends:"
      tail_of "$logf"
      return 1
    fi
    sleep 0.5
  done
}

make_spark_home() {
  local n
  n=$(lockstep_spark_home "$ROOT" "$STATE/spark-home") || die "no SPARK_HOME made"
  log "SPARK_HOME $STATE/spark-home ($n jars)"
}

# A start that failed: end what did start, keep the logs (the next start or stop removes them).
abandon() {
  end_daemons $(daemon_pids) >/dev/null
  log "logs kept in $STATE"
}

cmd_start() {
  local workers=${1:-${WORKERS:-2}} i url ui
  [[ "$workers" =~ ^[1-9][0-9]*$ ]] || die "the number of workers must be a positive integer, got '$workers'"
  command -v curl >/dev/null || die "curl not found (used to ask the master's web UI for its workers)"
  command -v setsid >/dev/null || die "setsid not found (util-linux; each daemon gets its own process group)"
  if [[ -f "$MARK" ]]; then
    for i in $(daemon_pids); do
      ours "$i" && die "already running in $STATE (master $(cat "$STATE/master-url" 2>/dev/null)): stop it first"
    done
    rm -rf "$STATE" # the leftovers of a cluster whose daemons are gone
  fi
  [[ ! -e "$STATE" || -z "$(ls -A "$STATE")" ]] || die "$STATE exists and is not a local cluster's state dir"
  mkdir -p "$STATE/pids"
  touch "$MARK"
  make_spark_home

  start_daemon master org.apache.spark.deploy.master.Master \
    --host $HOST --port "${MASTER_PORT:-0}" --webui-port "${MASTER_UI_PORT:-0}"
  local mpid
  mpid=$(cat "$STATE/pids/master.pid")
  wait_for "master" "$mpid" "$STATE/master.log" grep -q 'MasterWebUI.*started at' "$STATE/master.log" \
    || { abandon; die "the master did not come up"; }
  url=$(sed -n 's/.*Starting Spark master at \(spark:[^ ]*\).*/\1/p' "$STATE/master.log" | head -n 1)
  ui=$(sed -n 's/.*MasterWebUI.*started at \(http:[^ ]*\).*/\1/p' "$STATE/master.log" | head -n 1)
  [[ -n "$url" && -n "$ui" ]] || { abandon; die "no master URL in $STATE/master.log"; }
  echo "$url" >"$STATE/master-url"
  echo "$ui" >"$STATE/master-ui"
  log "master $url (web UI $ui, pid $mpid)"

  local ttl="${LOCKSTEP_CLUSTER_APP_TTL:-600}"
  for ((i = 1; i <= workers; i++)); do
    mkdir -p "$STATE/worker-$i/work" "$STATE/worker-$i/local"
    SPARK_LOCAL_DIRS="$STATE/worker-$i/local" \
    SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.interval=$(((ttl + 1) / 2)) -Dspark.worker.cleanup.appDataTtl=$ttl ${SPARK_WORKER_OPTS:-}" \
      start_daemon "worker-$i" org.apache.spark.deploy.worker.Worker \
        --host $HOST --cores "${WORKER_CORES:-1}" --memory "${WORKER_MEMORY:-2g}" --webui-port 0 \
        --work-dir "$STATE/worker-$i/work" "$url"
  done
  for ((i = 1; i <= workers; i++)); do
    wait_for "worker $i" "$(cat "$STATE/pids/worker-$i.pid")" "$STATE/worker-$i.log" \
      grep -q 'Successfully registered with master' "$STATE/worker-$i.log" \
      || { abandon; die "worker $i of $workers did not register with the master $url"; }
  done
  wait_for "master's count of ALIVE workers" "$mpid" "$STATE/master.log" \
    eval '[[ "$(alive_workers)" == "$workers" ]]' \
    || { abandon; die "the master ($ui/json/) does not report $workers ALIVE workers"; }
  log "$workers workers ALIVE"
  if [[ -n "${LOCKSTEP_CLUSTER_OWNER_PID:-}" ]]; then
    start_watchdog "$LOCKSTEP_CLUSTER_OWNER_PID"
    log "stops by itself when process $LOCKSTEP_CLUSTER_OWNER_PID ends"
  fi
  echo "$url"
}

cmd_status() {
  [[ -f "$MARK" && -f "$STATE/master-url" ]] || { echo "not running ($STATE)"; return 1; }
  local ok=0 f name pid e
  echo "master $(cat "$STATE/master-url")  web UI $(cat "$STATE/master-ui")  state $STATE"
  for f in "$STATE"/pids/*.pid; do
    name=$(basename "$f" .pid)
    pid=$(cat "$f")
    if ours "$pid"; then
      echo "$name pid $pid up"
      for e in $(tree "$pid"); do
        grep -qa CoarseGrainedExecutorBackend "/proc/$e/cmdline" 2>/dev/null && echo "  executor pid $e"
      done
    else
      echo "$name pid $pid DOWN (log $STATE/$name.log)"
      ok=1
    fi
  done
  local n
  n=$(alive_workers || true)
  echo "ALIVE workers (master): ${n:-unknown}"
  return $ok
}

# Ends the given daemons' process trees (the daemon, its executors and whatever they started): SIGCONT first (a
# stopped process cannot handle SIGTERM), SIGTERM, 10 s, SIGKILL. Only processes that are still ours.
end_daemons() {
  local pids=() p i left
  for p in "$@"; do
    ours "$p" && pids+=($(tree "$p"))
  done
  ((${#pids[@]})) || return 0
  kill -CONT "${pids[@]}" 2>/dev/null || true
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    left=()
    for p in "${pids[@]}"; do alive "$p" && left+=("$p"); done
    ((${#left[@]})) || break
    ((i == 100)) && kill -KILL "${left[@]}" 2>/dev/null
    sleep 0.1
  done
  echo "${#pids[@]}"
}

cmd_stop() {
  local quiet=${1:-} n
  if [[ ! -f "$MARK" ]]; then
    [[ -n "$quiet" ]] || log "not running ($STATE)"
    return 0
  fi
  n=$(end_daemons $(daemon_pids))
  [[ -n "$quiet" || -z "$n" ]] || log "stopped $n processes"
  rm -rf "$STATE"
}

# With LOCKSTEP_CLUSTER_OWNER_PID set (the test harness sets its JVM's pid), a detached watchdog ends the cluster
# when that process dies without stopping it (kill -9, a crashed test run), and exits once the cluster is gone.
start_watchdog() {
  local owner=$1 daemons
  daemons=$(daemon_pids | tr '\n' ' ')
  (
    trap '' HUP INT
    while kill -0 "$owner" 2>/dev/null; do
      up=false
      for p in $daemons; do ours "$p" && up=true; done
      $up || exit 0
      sleep 2
    done
    end_daemons $daemons >/dev/null
    [[ -f "$MARK" ]] && rm -rf "$STATE"
  ) </dev/null >/dev/null 2>&1 &
  disown
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start [WORKERS] | stop | status   (state in \$LOCKSTEP_CLUSTER_DIR, default target/local-cluster)" >&2
     exit 2 ;;
esac
