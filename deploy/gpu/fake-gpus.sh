#!/usr/bin/env bash
# For tests on machines without GPUs: a discovery script that reports the GPU ordinals in LOCKSTEP_FAKE_GPUS
# (default "0,1") as this host's, so Spark's resource scheduling assigns them to tasks. Nothing runs on them:
# the CPU build records them as assigned and computes on the CPU.
set -euo pipefail
IFS=',' read -ra ids <<< "${LOCKSTEP_FAKE_GPUS:-0,1}"
printf '{"name": "gpu", "addresses": [%s]}\n' "$(printf '"%s", ' "${ids[@]}" | sed 's/, $//')"
