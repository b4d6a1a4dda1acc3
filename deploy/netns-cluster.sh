#!/usr/bin/env bash
# Hosts with their own addresses on one machine: a Spark standalone cluster whose master (where the driver runs
# too) and each worker live in their own Linux network namespace, each with its own address on a bridge this
# script creates, from the project's Maven jars (no Spark download). Needs root and iproute2 (`ip netns`).
#
#   deploy/netns-cluster.sh up [N]          namespaces, bridge and a master and N workers (default 2, or $WORKERS);
#                                           waits until the master reports N ALIVE workers; prints the master URL
#   deploy/netns-cluster.sh down            ends every process in the namespaces, deletes namespaces, veths and
#                                           bridge, removes the state dir
#   deploy/netns-cluster.sh status          hosts, addresses, daemons and executors; exit 0 when all are up
#   deploy/netns-cluster.sh exec HOST CMD…  runs CMD in HOST's namespace (HOST: master, worker-1, …), e.g. the driver:
#                                             deploy/netns-cluster.sh exec master deploy/spark-submit.sh \
#                                               --master spark://10.77.0.10:7077 examples/digits-mlp.yaml
#   deploy/netns-cluster.sh address HOST    HOST's address
#   deploy/netns-cluster.sh link HOST down|up   takes HOST's link (its eth0) down or brings it back (a cable pulled)
#   deploy/netns-cluster.sh loss HOST PERCENT   drops PERCENT (0-100, 0 removes the rule) of the UDP packets HOST
#                                           sends, with an nftables netdev egress rule on its eth0 (ingress where the
#                                           kernel has no egress hook); counts what it dropped: `loss HOST show`
#   deploy/netns-cluster.sh check           exit 0 when namespaces can be made here, else prints why and exits 3
#   (start and stop are aliases of up and down, as in deploy/local-cluster.sh)
#
# Layout (name $LOCKSTEP_NETNS_NAME, default lsk; subnet $LOCKSTEP_NETNS_SUBNET, the first three octets of a /24,
# default 10.77.0):
#   bridge NAME-br (no address: the root namespace is no host of the cluster, nothing is routed or NATed out)
#   master    namespace NAME-master, eth0 10.77.0.10/24, master spark://10.77.0.10:7077, web UI :8080
#   worker I  namespace NAME-wI,     eth0 10.77.0.(10+I)/24, launches its executors in its namespace
# Each namespace has only lo and eth0 and no default route: traffic of the cluster stays on the bridge. Every
# host shares this machine's file system (data, checkpoint.dir, /dev/shm) and its hostname.
#
# State ($LOCKSTEP_CLUSTER_DIR, default target/netns-cluster) as in deploy/local-cluster.sh: spark-home/,
# master.log, worker-I.log, pids/, worker-I/{work,local}/, master-url, master-ui. A keeper process per cluster
# holds a lock in /run/lockstep-netns/NAME/ for as long as the cluster is up; `up` first takes down any cluster
# whose keeper is gone (a crashed or killed run) and the namespaces of this NAME left without one. With
# LOCKSTEP_CLUSTER_OWNER_PID set (a test JVM) the keeper takes the cluster down when that process ends, even by
# kill -9. Other settings: WORKER_CORES (1), WORKER_MEMORY (2g), LOCKSTEP_CLUSTER_TIMEOUT (seconds to wait for the
# daemons, 90).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/deploy/netns-cluster.sh"
NAME="${LOCKSTEP_NETNS_NAME:-lsk}"
SUBNET="${LOCKSTEP_NETNS_SUBNET:-10.77.0}"
STATE="${LOCKSTEP_CLUSTER_DIR:-$ROOT/target/netns-cluster}"
MARK="$STATE/.lockstep-netns-cluster"   # only a dir holding this file is ever deleted
REGISTRY=/run/lockstep-netns
REG="$REGISTRY/$NAME"
TIMEOUT="${LOCKSTEP_CLUSTER_TIMEOUT:-90}"
MASTER_PORT=7077
MASTER_UI_PORT=8080
SCALA_VERSION=$(sed -n 's:.*<scala.binary.version>\(.*\)</scala.binary.version>.*:\1:p' "$ROOT/pom.xml" | head -n 1)
# shellcheck source=deploy/spark-home.sh
source "$ROOT/deploy/spark-home.sh"

log() { echo "netns-cluster: $*" >&2; }
die() { echo "netns-cluster: error: $*" >&2; exit 1; }

[[ "$NAME" =~ ^[a-z][a-z0-9]{0,6}$ ]] \
  || die "LOCKSTEP_NETNS_NAME '$NAME': 1 to 7 lower-case letters or digits, a letter first (interface names are short)"
[[ "$SUBNET" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] \
  || die "LOCKSTEP_NETNS_SUBNET '$SUBNET': the first three octets of a /24, e.g. 10.77.0"

BRIDGE="$NAME-br"
ns_of() { [[ "$1" == master ]] && echo "$NAME-master" || echo "$NAME-w${1#worker-}"; }
veth_of() { [[ "$1" == master ]] && echo "$NAME-m" || echo "$NAME-w${1#worker-}"; }
address_of() { [[ "$1" == master ]] && echo "$SUBNET.10" || echo "$SUBNET.$((10 + ${1#worker-}))"; }
valid_host() { [[ "$1" == master || "$1" =~ ^worker-[1-9][0-9]?$ ]]; }
# the namespaces of this NAME that exist now (master first)
our_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$NAME-(master|w[0-9]+)$" | sort || true; }

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }
tail_of() { [[ -f "$1" ]] && tail -n "${2:-15}" "$1" | sed 's/^/    /' >&2 || true; }

# Why namespaces cannot be made here ("" when they can).
cannot() {
  ((EUID == 0)) || { echo "not root (uid $EUID): network namespaces and a bridge need root"; return; }
  command -v ip >/dev/null || { echo "no 'ip' command (iproute2)"; return; }
  command -v flock >/dev/null || { echo "no 'flock' command (util-linux)"; return; }
  command -v setsid >/dev/null || { echo "no 'setsid' command (util-linux)"; return; }
  command -v curl >/dev/null || { echo "no 'curl' command (asks the master's web UI for its workers)"; return; }
  local probe="$NAME-probe" out
  if ! out=$(ip netns add "$probe" 2>&1); then
    echo "'ip netns add' failed: $out"
    return
  fi
  if ! out=$(ip netns exec "$probe" true 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "'ip netns exec' failed: $out"
    return
  fi
  if ! out=$(ip link add "$NAME-pb" type veth peer name eth0 netns "$probe" 2>&1); then
    ip netns del "$probe" 2>/dev/null || true
    echo "no veth pair could be made: $out"
    return
  fi
  ip link del "$NAME-pb" 2>/dev/null || true
  ip netns del "$probe" 2>/dev/null || true
  if ! out=$(ip link add "$NAME-pbr" type bridge 2>&1); then
    echo "no bridge could be made: $out"
    return
  fi
  ip link del "$NAME-pbr" 2>/dev/null || true
}

cmd_check() {
  local why
  why=$(cannot)
  [[ -z "$why" ]] || { echo "$why"; exit 3; }
  echo "network namespaces can be made here"
}

# --- network --------------------------------------------------------------------------------------------------

make_host() { # host
  local host=$1 ns veth addr
  ns=$(ns_of "$host")
  veth=$(veth_of "$host")
  addr=$(address_of "$host")
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$BRIDGE" up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
}

# Ends every process in the namespace: SIGCONT (a stopped one cannot handle SIGTERM), SIGTERM, 10 s, SIGKILL.
end_processes() { # namespace
  local ns=$1 pids i left p
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  [[ -n "${pids// /}" ]] || return 0
  # shellcheck disable=SC2086
  kill -CONT $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    left=()
    for p in $pids; do alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    ((i == 100)) && kill -KILL "${left[@]}" 2>/dev/null
    sleep 0.1
  done
  log "processes still alive in $ns after SIGKILL: ${left[*]}"
}

# Takes down the cluster NAME (whatever of it exists): processes, namespaces, veths, bridge, registry, state.
teardown() { # name
  local name=$1 ns state link
  local reg="$REGISTRY/$name"
  if [[ -f "$reg/keeper.pid" ]]; then
    local keeper
    keeper=$(cat "$reg/keeper.pid")
    # never the keeper that runs this teardown
    [[ "$keeper" != "${LOCKSTEP_KEEPER_PID:-}" ]] && alive "$keeper" && kill -TERM "$keeper" 2>/dev/null || true
  fi
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$name-(master|w[0-9]+)$" || true); do
    end_processes "$ns"
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  # the host ends of the veth pairs go with their namespaces, asynchronously: delete them, then the bridge
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' \
      | grep -E "^$name-(m|w[0-9]+)$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link show "$name-br" >/dev/null 2>&1 && { ip link del "$name-br" 2>/dev/null || log "could not delete bridge $name-br"; }
  if [[ -f "$reg/state" ]]; then
    state=$(cat "$reg/state")
    [[ -f "$state/.lockstep-netns-cluster" ]] && rm -rf "$state"
  fi
  rm -rf "$reg"
}

# Clusters whose keeper is gone: their lock is free. Run with the registry lock held.
sweep() {
  local reg name
  for reg in "$REGISTRY"/*/; do
    [[ -d "$reg" ]] || continue
    name=$(basename "$reg")
    if flock -n "$reg/lock" true 2>/dev/null; then
      log "taking down the leftovers of cluster '$name' (its keeper is gone)"
      teardown "$name"
    fi
  done
  # this NAME's namespaces with no registry at all (e.g. /run was cleared)
  if [[ ! -d "$REG" && -n "$(our_namespaces)$(ip link show "$BRIDGE" 2>/dev/null)" ]]; then
    log "taking down the leftovers of cluster '$NAME' (no registry entry)"
    teardown "$NAME"
  fi
}

# --- daemons --------------------------------------------------------------------------------------------------

start_daemon() { # host name class args...
  local host=$1 name=$2 class=$3 ns addr
  shift 3
  ns=$(ns_of "$host")
  addr=$(address_of "$host")
  # setsid: its own process group; stdin closed and the registry lock (fd 9) not inherited
  ip netns exec "$ns" env SPARK_HOME="$STATE/spark-home" SPARK_SCALA_VERSION="$SCALA_VERSION" SPARK_LOCAL_IP="$addr" \
    SPARK_DAEMON_JAVA_OPTS="-Dlockstep.cluster.dir=$STATE ${SPARK_DAEMON_JAVA_OPTS:-}" \
    setsid "$STATE/spark-home/bin/spark-class" "$class" "$@" <"/dev/null" >"$STATE/$name.log" 2>&1 9>&- &
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

alive_workers() {
  ip netns exec "$(ns_of master)" curl -fsS --max-time 5 "http://$(address_of master):$MASTER_UI_PORT/json/" 2>/dev/null \
    | tr -d ' \n' | sed -n 's/.*"aliveworkers":\([0-9]*\).*/\1/p'
}

# The keeper: holds the cluster's lock (fd 9, inherited from `up`) while it lives; with an owner pid, takes the
# cluster down when the owner ends.
start_keeper() { # owner-pid owner-start-time
  local owner=$1 started=$2
  (
    trap '' HUP INT
    exec 8>&- # not the registry lock: only the cluster's own (fd 9)
    export LOCKSTEP_KEEPER_PID=$BASHPID
    while true; do
      if [[ -n "$owner" ]] && [[ "$(start_time "$owner")" != "$started" ]]; then
        teardown "$NAME" >/dev/null 2>&1
        exit 0
      fi
      sleep 2 9>&-
    done
  ) </dev/null >/dev/null 2>&1 &
  echo $! >"$REG/keeper.pid"
  disown
}

# A process's start time (field 22 of /proc/PID/stat): the pid with its start time names one process, never a reuse.
start_time() { [[ -r /proc/$1/stat ]] && sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}' || true; }

cmd_up() {
  local workers=${1:-${WORKERS:-2}} i url ui why
  [[ "$workers" =~ ^[1-9][0-9]?$ ]] || die "the number of workers must be 1..99, got '$workers'"
  why=$(cannot)
  [[ -z "$why" ]] || die "$why"
  mkdir -p "$REGISTRY"
  exec 8>"$REGISTRY/.lock"
  flock -w 60 8 || die "$REGISTRY/.lock: another netns-cluster up or down did not finish in 60 s"
  sweep
  [[ ! -d "$REG" ]] || die "cluster '$NAME' is up (keeper pid $(cat "$REG/keeper.pid" 2>/dev/null)): take it down first"
  if [[ -e "$STATE" && ! -f "$MARK" && -n "$(ls -A "$STATE" 2>/dev/null)" ]]; then
    die "$STATE exists and is not a netns cluster's state dir"
  fi
  rm -rf "$STATE"
  mkdir -p "$REG" "$STATE/pids"
  touch "$MARK"
  echo "$STATE" >"$REG/state"
  exec 9>"$REG/lock"
  flock -n 9 || die "$REG/lock is held by another process"
  local owner="${LOCKSTEP_CLUSTER_OWNER_PID:-}" owner_start=""
  if [[ -n "$owner" ]]; then
    owner_start=$(start_time "$owner")
    [[ -n "$owner_start" ]] || die "LOCKSTEP_CLUSTER_OWNER_PID $owner is no running process"
  fi
  start_keeper "$owner" "$owner_start"
  exec 8>&- # the registry is consistent: other ups and downs may go on

  local n
  n=$(lockstep_spark_home "$ROOT" "$STATE/spark-home") || { teardown "$NAME"; die "no SPARK_HOME made"; }
  log "SPARK_HOME $STATE/spark-home ($n jars)"

  ip link add "$BRIDGE" type bridge || { teardown "$NAME"; die "could not create the bridge $BRIDGE"; }
  ip link set "$BRIDGE" up
  make_host master || { teardown "$NAME"; die "could not make the master's namespace"; }
  for ((i = 1; i <= workers; i++)); do
    make_host "worker-$i" || { teardown "$NAME"; die "could not make worker $i's namespace"; }
  done
  log "bridge $BRIDGE: master $(address_of master) ($(ns_of master)), workers $(address_of worker-1)..$(address_of "worker-$workers")"

  local maddr
  maddr=$(address_of master)
  start_daemon master master org.apache.spark.deploy.master.Master \
    --host "$maddr" --port "$MASTER_PORT" --webui-port "$MASTER_UI_PORT"
  local mpid
  mpid=$(cat "$STATE/pids/master.pid")
  wait_for "master" "$mpid" "$STATE/master.log" grep -q 'MasterWebUI.*started at' "$STATE/master.log" \
    || { teardown "$NAME"; die "the master did not come up"; }
  url="spark://$maddr:$MASTER_PORT"
  ui="http://$maddr:$MASTER_UI_PORT"
  echo "$url" >"$STATE/master-url"
  echo "$ui" >"$STATE/master-ui"
  log "master $url (web UI $ui, pid $mpid)"

  for ((i = 1; i <= workers; i++)); do
    mkdir -p "$STATE/worker-$i/work" "$STATE/worker-$i/local"
    SPARK_LOCAL_DIRS="$STATE/worker-$i/local" \
    SPARK_WORKER_OPTS="-Dspark.worker.cleanup.enabled=true -Dspark.worker.cleanup.appDataTtl=600 ${SPARK_WORKER_OPTS:-}" \
      start_daemon "worker-$i" "worker-$i" org.apache.spark.deploy.worker.Worker \
        --host "$(address_of "worker-$i")" --cores "${WORKER_CORES:-1}" --memory "${WORKER_MEMORY:-2g}" \
        --webui-port 8081 --work-dir "$STATE/worker-$i/work" "$url"
  done
  for ((i = 1; i <= workers; i++)); do
    wait_for "worker $i" "$(cat "$STATE/pids/worker-$i.pid")" "$STATE/worker-$i.log" \
      grep -q 'Successfully registered with master' "$STATE/worker-$i.log" \
      || { teardown "$NAME"; die "worker $i ($(address_of "worker-$i")) did not register with the master $url (no traffic across the bridge? e.g. bridged traffic dropped by a FORWARD rule while net.bridge.bridge-nf-call-iptables=1)"; }
  done
  wait_for "master's count of ALIVE workers" "$mpid" "$STATE/master.log" \
    eval '[[ "$(alive_workers)" == "$workers" ]]' \
    || { teardown "$NAME"; die "the master ($ui/json/) does not report $workers ALIVE workers"; }
  log "$workers workers ALIVE${owner:+; taken down by itself when process $owner ends}"
  echo "$url"
}

cmd_down() {
  mkdir -p "$REGISTRY"
  exec 8>"$REGISTRY/.lock"
  flock -w 60 8 || die "$REGISTRY/.lock: another netns-cluster up or down did not finish in 60 s"
  if [[ ! -d "$REG" && -z "$(our_namespaces)" ]] && ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    [[ -f "$MARK" ]] && rm -rf "$STATE"
    return 0
  fi
  teardown "$NAME"
  [[ -f "$MARK" ]] && rm -rf "$STATE"
  log "cluster '$NAME' is down"
}

cmd_status() {
  [[ -d "$REG" && -f "$STATE/master-url" ]] || { echo "not up (cluster '$NAME', state $STATE)"; return 1; }
  local ok=0 f name pid e host
  echo "master $(cat "$STATE/master-url")  web UI $(cat "$STATE/master-ui")  state $STATE"
  for f in "$STATE"/pids/*.pid; do
    name=$(basename "$f" .pid)
    pid=$(cat "$f")
    host=$name
    if alive "$pid" && ip netns pids "$(ns_of "$host")" 2>/dev/null | grep -qx "$pid"; then
      echo "$name $(address_of "$host") ($(ns_of "$host")) pid $pid up"
      for e in $(ip netns pids "$(ns_of "$host")"); do
        grep -qa CoarseGrainedExecutorBackend "/proc/$e/cmdline" 2>/dev/null && echo "  executor pid $e"
      done
    else
      echo "$name $(address_of "$host") pid $pid DOWN (log $STATE/$name.log)"
      ok=1
    fi
  done
  echo "ALIVE workers (master): $(alive_workers || echo unknown)"
  return $ok
}

cmd_exec() {
  [[ $# -ge 2 ]] || die "usage: $0 exec HOST COMMAND [ARGS...]"
  local host=$1
  shift
  valid_host "$host" || die "unknown host '$host' (master, worker-1, worker-2, ...)"
  ip netns list | awk '{print $1}' | grep -qx "$(ns_of "$host")" || die "no namespace $(ns_of "$host"): is the cluster up?"
  exec ip netns exec "$(ns_of "$host")" "$@"
}

cmd_link() {
  [[ $# -eq 2 && ( "$2" == up || "$2" == down ) ]] || die "usage: $0 link HOST down|up"
  valid_host "$1" || die "unknown host '$1' (master, worker-1, worker-2, ...)"
  ip -n "$(ns_of "$1")" link set eth0 "$2"
  log "$1 ($(address_of "$1")): link $2"
}

# An nftables table in HOST's namespace (Debian's nftables): a netdev chain on eth0 that drops a random PERCENT
# of UDP packets, counted. Egress (what HOST sends) where the kernel has the hook (5.16+), else ingress.
cmd_loss() {
  [[ $# -eq 2 ]] || die "usage: $0 loss HOST PERCENT|show"
  valid_host "$1" || die "unknown host '$1' (master, worker-1, worker-2, ...)"
  command -v nft >/dev/null || die "nft not found: apt-get install nftables"
  local ns; ns="$(ns_of "$1")"
  if [[ "$2" == show ]]; then
    ip netns exec "$ns" nft list table netdev lockstep_loss 2>/dev/null || echo "no loss rule on $1"
    return
  fi
  [[ "$2" =~ ^[0-9]+$ && "$2" -le 100 ]] || die "PERCENT must be 0..100, got '$2'"
  ip netns exec "$ns" nft delete table netdev lockstep_loss 2>/dev/null || true
  if [[ "$2" -eq 0 ]]; then
    log "$1: no packet loss"
    return
  fi
  local hook match="numgen random mod 100 < $2"
  [[ "$2" -lt 100 ]] || match=""   # every packet (nft refuses "< 100" against mod 100's range)
  for hook in egress ingress; do
    if ip netns exec "$ns" nft -f - 2>/dev/null <<NFT
table netdev lockstep_loss {
  chain drop_udp {
    type filter hook $hook device eth0 priority 0; policy accept;
    meta l4proto udp $match counter drop
  }
}
NFT
    then
      log "$1 ($(address_of "$1")): dropping $2% of the UDP packets on eth0 ($hook)"
      return
    fi
  done
  die "nft could not add a netdev rule in $ns (kernel without nf_tables netdev support?)"
}

case "${1:-}" in
  up|start) shift; cmd_up "$@" ;;
  down|stop) cmd_down ;;
  status) cmd_status ;;
  exec) shift; cmd_exec "$@" ;;
  address) valid_host "${2:-}" || die "usage: $0 address HOST"; address_of "$2" ;;
  link) shift; cmd_link "$@" ;;
  loss) shift; cmd_loss "$@" ;;
  check) cmd_check ;;
  *) echo "usage: $0 up [WORKERS] | down | status | exec HOST CMD... | address HOST | link HOST down|up | loss HOST PERCENT | check" >&2
     exit 2 ;;
esac
