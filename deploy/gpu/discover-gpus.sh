#!/usr/bin/env bash
# Spark resource discovery script for NVIDIA GPUs: prints {"name": "gpu", "addresses": ["0", "1", ...]},
# the CUDA ordinals of this host's GPUs. Give it to Spark as
#   spark.executor.resource.gpu.discoveryScript (and, on a standalone cluster, spark.worker.resource.gpu.discoveryScript)
# With CUDA_VISIBLE_DEVICES set (YARN and Kubernetes isolate GPUs that way), the ordinals are 0..n-1 of those.
set -euo pipefail
if [[ -n "${CUDA_VISIBLE_DEVICES:-}" ]]; then
  IFS=',' read -ra visible <<< "$CUDA_VISIBLE_DEVICES"
  ids=$(seq 0 $((${#visible[@]} - 1)))
else
  command -v nvidia-smi >/dev/null 2>&1 || { echo '{"name": "gpu", "addresses": []}'; exit 0; }
  ids=$(nvidia-smi --query-gpu=index --format=csv,noheader)
fi
printf '{"name": "gpu", "addresses": [%s]}\n' "$(echo $ids | sed 's/\([0-9]\+\)/"\1"/g; s/ /, /g')"
