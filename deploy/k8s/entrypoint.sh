#!/usr/bin/env bash
# The Lockstep image's entrypoint (deploy/container/Containerfile).
#
#   submit [spark-submit options] CONFIG.yaml [--set ...]   deploy/spark-submit.sh: the driver in this container
#   driver [spark-submit args]     Spark on Kubernetes' driver pod (what Spark's own image runs for 'driver')
#   executor                       Spark on Kubernetes' executor pod (Spark sets the SPARK_EXECUTOR_* variables)
#   standalone-worker MASTER_URL   a Spark standalone worker (its executors start in this container)
#   any other command              run as given (bash, java, ...)
set -euo pipefail
: "${SPARK_HOME:=/opt/spark}" "${LOCKSTEP_HOME:=/opt/lockstep}"
# the JVM flags Lockstep needs on Java 17 (the same deploy/spark-submit.sh passes), from the pom
FLAGS=$(sed -n 's:.*<lockstep.jvm.flags>\(.*\)</lockstep.jvm.flags>.*:\1:p' "$LOCKSTEP_HOME/pom.xml")
JAR=$(ls "$LOCKSTEP_HOME"/driver/target/lockstep-driver-*-dist.jar)
case "${1:-help}" in
  submit)
    shift
    exec "$LOCKSTEP_HOME/deploy/spark-submit.sh" "$@" ;;
  driver)
    shift
    # Spark's Kubernetes backend (the spark-kubernetes jar) must be on the classpath: see docs/containers.md
    exec "$SPARK_HOME/bin/spark-submit" --deploy-mode client \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" \
      --conf "spark.driver.extraJavaOptions=$FLAGS" --conf "spark.executor.extraJavaOptions=$FLAGS" "$@" ;;
  executor)
    # as Spark's own image starts an executor pod
    # shellcheck disable=SC2086
    exec java $FLAGS ${SPARK_EXECUTOR_JAVA_OPTS:-} -Xms"${SPARK_EXECUTOR_MEMORY:-1g}" -Xmx"${SPARK_EXECUTOR_MEMORY:-1g}" \
      -cp "$SPARK_HOME/jars/*:$JAR" org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" --cores "$SPARK_EXECUTOR_CORES" \
      --app-id "$SPARK_APPLICATION_ID" --hostname "$SPARK_EXECUTOR_POD_IP" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" --podName "${SPARK_EXECUTOR_POD_NAME:-}" ;;
  standalone-worker)
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$2" ;;
  help)
    sed -n '2,9p' "$0" ;;
  *)
    exec "$@" ;;
esac
