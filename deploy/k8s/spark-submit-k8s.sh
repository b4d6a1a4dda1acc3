#!/usr/bin/env bash
# Submit a Lockstep job to Kubernetes (Spark on Kubernetes, cluster deploy mode) with the image of
# deploy/container/ and the pod templates of this directory. Not run here (no Kubernetes cluster in the sandbox).
#
#   deploy/k8s/spark-submit-k8s.sh https://K8S-API:6443 registry.example.com/lockstep:0.1.0 job.yaml [--set ...]
#
# The job's data, checkpoint.dir and output.dir must be on storage every pod reads (s3a://, hdfs://, a PVC).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
API=$1 IMAGE=$2
shift 2
exec "$HERE/../spark-submit.sh" \
  --master "k8s://$API" --deploy-mode cluster \
  --conf spark.kubernetes.container.image="$IMAGE" \
  --conf spark.kubernetes.driver.podTemplateFile="$HERE/driver-pod.yaml" \
  --conf spark.kubernetes.executor.podTemplateFile="$HERE/executor-pod.yaml" \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName="${SERVICE_ACCOUNT:-spark}" \
  --conf spark.executor.instances="${EXECUTORS:-2}" --conf spark.executor.cores=1 \
  --conf spark.executor.memory="${EXECUTOR_MEMORY:-4g}" \
  --conf spark.executor.memoryOverhead="${EXECUTOR_OVERHEAD:-2g}" \
  --conf spark.executor.resource.gpu.amount=1 --conf spark.task.resource.gpu.amount=1 \
  --conf spark.executor.resource.gpu.vendor=nvidia.com \
  --conf spark.executor.resource.gpu.discoveryScript=/opt/lockstep/deploy/gpu/discover-gpus.sh \
  "$@"
