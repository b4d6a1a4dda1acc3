#!/usr/bin/env bash
# Builds the Lockstep image (deploy/container/Containerfile) for the driver and the executors.
#
#   deploy/container/build.sh [--debootstrap] [TAG]      default TAG: localhost/lockstep:0.1.0
#
# Stages, under target/container/ (the build context): spark-home/ (deploy/spark-home.sh: Spark's Maven jars,
# dereferenced, and the spark-class/spark-submit stand-ins), lockstep/ (the spark-submit jar from -Pdist, pom.xml
# for the JVM flags, deploy/), entrypoint.sh (deploy/k8s/entrypoint.sh). Builds with podman, else buildah, else
# docker. --debootstrap: no registry is reachable, so make the Debian base from the Debian mirror apt uses
# (debootstrap --variant=minbase bookworm) and import it as localhost/debian:bookworm; needs root.
#
# Run the MNIST job in it (the data under data/mnist, mounted):
#   podman run --rm --shm-size=128m -v "$PWD/data:/opt/lockstep/data" -v "$PWD/runs:/opt/lockstep/runs" \
#     localhost/lockstep:0.1.0 submit --master 'local[2]' examples/mnist-mlp.yaml --set ps.transport=udp \
#     --set ps.local_reduction=false
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CTX="$ROOT/target/container"
BASE_ARGS=()
if [[ "${1:-}" == --debootstrap ]]; then
  shift
  BASE=localhost/debian:bookworm
  BASE_ARGS=(--build-arg "BASE=$BASE")
fi
TAG="${1:-localhost/lockstep:0.1.0}"
JAR="$ROOT/driver/target/lockstep-driver-0.1.0-SNAPSHOT-dist.jar"

log() { echo "container: $*" >&2; }
if command -v podman >/dev/null; then ENGINE=(podman build); elif command -v buildah >/dev/null; then
  ENGINE=(buildah bud); else ENGINE=(docker build); fi

[[ -f "$JAR" ]] || (cd "$ROOT" && ./mvnw -q -B -Pdist -DskipTests package)
rm -rf "$CTX" && mkdir -p "$CTX/stage/lockstep/driver/target" "$CTX/stage/lockstep/deploy"
# shellcheck source=deploy/spark-home.sh
source "$ROOT/deploy/spark-home.sh"
log "$(lockstep_spark_home "$ROOT" "$CTX/links") Spark jars"
cp -rL "$CTX/links" "$CTX/stage/spark-home" && rm -rf "$CTX/links"   # the jars themselves, not links into ~/.m2
cp "$JAR" "$CTX/stage/lockstep/driver/target/"
cp "$ROOT/pom.xml" "$CTX/stage/lockstep/"
cp -r "$ROOT/examples" "$CTX/stage/lockstep/"
cp "$ROOT"/deploy/*.sh "$CTX/stage/lockstep/deploy/"
cp "$ROOT/deploy/k8s/entrypoint.sh" "$CTX/stage/entrypoint.sh"
cp "$ROOT/deploy/container/Containerfile" "$CTX/"

if [[ ${#BASE_ARGS[@]} -gt 0 ]] && ! podman image exists "$BASE" 2>/dev/null; then
  ROOTFS="$ROOT/target/debootstrap-bookworm"
  log "debootstrap bookworm into $ROOTFS"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
  tar -C "$ROOTFS" -c . | podman import - "$BASE" >&2
fi
log "${ENGINE[*]} -t $TAG"
"${ENGINE[@]}" "${BASE_ARGS[@]}" -t "$TAG" -f "$CTX/Containerfile" "$CTX"
