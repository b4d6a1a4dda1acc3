#!/usr/bin/env bash
# Submit a Lockstep training job with spark-submit (standalone, YARN, Kubernetes).
#
#   deploy/spark-submit.sh [spark-submit options] CONFIG.yaml [--set key=value ...]
#   deploy/spark-submit.sh [spark-submit options] doctor CONFIG.yaml [--set ...]   the doctor's checks, and on the
#     cluster's executors UDP between the driver and every rank and between ranks, and checkpoint.dir
#   e.g. deploy/spark-submit.sh --master spark://10.0.0.5:7077 --num-executors 4 \
#          job.yaml --set workers=4
#
# Builds driver/target/lockstep-driver-*-dist.jar (Spark provided) if missing ($LOCKSTEP_DIST_JAR
# names another jar) and passes the JVM flags Spark, Agrona and ND4J need on Java 17 to the driver
# and the executors, with the ND4J native build (deploy/cpu-build.sh; LOCKSTEP_CPU_BUILD=avx2|generic
# pins it). The parameter-server shards run on the executors (ps.shard_placement auto) and the driver keeps
# the all-gather endpoint, on the address Spark gave the driver (spark.driver.host; ps.host names another
# interface). Uses $SPARK_HOME/bin/spark-submit when SPARK_HOME is set, else
# spark-submit from PATH; without either, Spark's own SparkSubmit class from the project's Maven
# classpath (handy for trying a submission locally with --master local[2]). For a standalone
# cluster on this machine see deploy/local-cluster.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JAR="${LOCKSTEP_DIST_JAR:-$ROOT/driver/target/lockstep-driver-0.1.0-SNAPSHOT-dist.jar}"

submit_opts=()
while [[ $# -gt 0 && "$1" == --* ]]; do
  case "$1" in
    --verbose|--supervise) submit_opts+=("$1"); shift ;;
    *) submit_opts+=("$1" "$2"); shift 2 ;;
  esac
done
COMMAND=(train)
if [[ "${1:-}" == doctor ]]; then COMMAND=(doctor --on-cluster); shift; fi
[[ $# -ge 1 ]] || { echo "usage: $0 [spark-submit options] [doctor] CONFIG.yaml [--set key=value ...]" >&2; exit 2; }

if [[ ! -f "$JAR" ]]; then
  [[ -z "${LOCKSTEP_DIST_JAR:-}" ]] || { echo "$0: LOCKSTEP_DIST_JAR=$JAR: no such file" >&2; exit 2; }
  echo "building $JAR ..." >&2
  (cd "$ROOT" && ./mvnw -q -B -Pdist -DskipTests package) >&2
fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
FLAGS=$(sed -n 's:.*<lockstep.jvm.flags>\(.*\)</lockstep.jvm.flags>.*:\1:p' "$ROOT/pom.xml")
# ND4J's native build (README "CPU build"): a driver on this host gets the one this CPU can run. The
# executors, and a driver in cluster deploy mode, run on hosts whose CPUs this one says nothing about:
# each of those JVMs chooses from its own /proc/cpuinfo (io.lockstep.worker.cpu.NativeBuild), unless
# LOCKSTEP_CPU_BUILD=avx2|generic pins the build for all of them.
# shellcheck source=deploy/cpu-build.sh
source "$ROOT/deploy/cpu-build.sh"
CPU_BUILD=$(lockstep_cpu_build_flags)
FLAGS="$FLAGS $LOCKSTEP_JAVACPP_FLAGS"
DRIVER_FLAGS="$FLAGS"
EXECUTOR_FLAGS="$FLAGS"
cluster_mode=false
for ((i = 0; i < ${#submit_opts[@]}; i++)); do
  case "${submit_opts[i]}" in
    --deploy-mode) [[ "${submit_opts[i + 1]:-}" == cluster ]] && cluster_mode=true ;;
    spark.submit.deployMode=cluster) cluster_mode=true ;;
  esac
done
if [[ "$cluster_mode" == false || "${LOCKSTEP_CPU_BUILD:-auto}" != auto ]]; then
  DRIVER_FLAGS="$DRIVER_FLAGS $CPU_BUILD"
fi
if [[ "${LOCKSTEP_CPU_BUILD:-auto}" != auto ]]; then
  EXECUTOR_FLAGS="$EXECUTOR_FLAGS $CPU_BUILD"
fi

if [[ -n "${SPARK_HOME:-}" && -x "$SPARK_HOME/bin/spark-submit" ]]; then
  SUBMIT=("$SPARK_HOME/bin/spark-submit")
elif command -v spark-submit >/dev/null 2>&1; then
  SUBMIT=(spark-submit)
else
  # shellcheck disable=SC2206
  SUBMIT=(java $FLAGS $CPU_BUILD -cp "$(cat "$ROOT/driver/target/classpath.txt")" org.apache.spark.deploy.SparkSubmit)
fi

exec "${SUBMIT[@]}" \
  --class io.lockstep.driver.cli.LockstepCli \
  --conf "spark.driver.extraJavaOptions=$DRIVER_FLAGS" \
  --conf "spark.executor.extraJavaOptions=$EXECUTOR_FLAGS" \
  --conf spark.executorEnv.OMP_NUM_THREADS=1 \
  "${submit_opts[@]}" \
  "$JAR" "${COMMAND[@]}" "$@"
