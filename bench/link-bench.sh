#!/usr/bin/env bash
# The exchange between two hosts next to raw Aeron over the same link (./lockstep bench-link), with the hosts
# as network namespaces of deploy/netns-cluster.sh (a master and one worker, on their own /24), optionally with
# both hosts' links rate-limited by tc (tbf). Root only. Builds nothing: run ./mvnw -B -q -DskipTests -Pdist
# package first (the cluster's hosts and ./lockstep use those jars).
#
#   sudo bench/link-bench.sh [--rate 1gbit|10gbit|...] [--link-mtu 9000] [bench-link options, e.g. --floats 10000000]
#
# Prints both sides' lines; the cluster (name lbench, 10.78.0.x) is taken down at the end, also on failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LOCKSTEP_NETNS_NAME=lbench LOCKSTEP_NETNS_SUBNET=10.78.0
export LOCKSTEP_CLUSTER_DIR="$ROOT/target/link-bench-cluster"
RATE=""
LINK_MTU=""
while [[ "${1:-}" == --rate || "${1:-}" == --link-mtu ]]; do
  if [[ "$1" == --rate ]]; then RATE="$2"; else LINK_MTU="$2"; fi
  shift 2
done
NS="$ROOT/deploy/netns-cluster.sh"
"$ROOT/lockstep" --help >/dev/null   # builds once if the sources changed, before two hosts start it at once
trap '"$NS" down >/dev/null 2>&1 || true' EXIT
"$NS" up 1 >/dev/null
SERVE=$("$NS" address master)
SEND=$("$NS" address worker-1)
if [[ -n "$LINK_MTU" ]]; then   # jumbo frames: both hosts' eth0, the bridge's ports and the bridge
  for dev in lbench-m lbench-w1 lbench-br; do ip link set "$dev" mtu "$LINK_MTU"; done
  for h in master w1; do ip -n "lbench-$h" link set eth0 mtu "$LINK_MTU"; done
  echo "link MTU $LINK_MTU on both hosts"
fi
if [[ -n "$RATE" ]]; then
  for h in master w1; do
    ip netns exec "lbench-$h" tc qdisc replace dev eth0 root tbf rate "$RATE" burst 4mb latency 100ms
  done
  echo "links rate-limited to $RATE (tbf) on both hosts"
fi
DIR=$(mktemp -d "$ROOT/target/link-bench.XXXXXX")
"$NS" exec master "$ROOT/lockstep" bench-link --role serve --host "$SERVE" --dir "$DIR" "$@" &
SERVER=$!
"$NS" exec worker-1 "$ROOT/lockstep" bench-link --role send --host "$SEND" --dir "$DIR" "$@"
wait "$SERVER"
rm -rf "$DIR"
