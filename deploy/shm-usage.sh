#!/usr/bin/env bash
# What Lockstep's embedded Aeron media drivers map, per process: one line per JVM with a lockstep-<pid>-<id>
# directory in the Aeron base directory (default /dev/shm; ps.aeron_dir names another).
#
#   deploy/shm-usage.sh [DIR]            one snapshot
#   deploy/shm-usage.sh --peak S [DIR]   sample every second for S seconds, print each process's peak
#
# Columns: pid, role (driver: spark-submit or ./lockstep; executor: CoarseGrainedExecutorBackend; else the
# main class), the number of media-driver directories, apparent size (the sum of the files' lengths: what Aeron
# asks the file system for when it creates them) and allocated size (du: the pages actually written, what
# counts against a tmpfs size limit such as Docker's --shm-size; term buffers are sparse files).
set -euo pipefail
peak=0
if [[ "${1:-}" == --peak ]]; then peak=$2; shift 2; fi
DIR="${1:-/dev/shm}"

role() {
  local cmd
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)
  case "$cmd" in
    *CoarseGrainedExecutorBackend*) echo executor ;;
    *SparkSubmit*|*io.lockstep.driver*) echo driver ;;
    "") echo gone ;;
    *) awk '{for (i = 1; i <= NF; i++) if ($i !~ /^-/ && $i ~ /\./ && $i !~ /\//) {print $i; exit}}' <<<"$cmd" ;;
  esac
}

# pid dirs apparent allocated, one line per pid
snapshot() {
  local d pid
  for d in "$DIR"/lockstep-*; do
    [[ -d "$d" ]] || continue
    pid=${d##*/lockstep-}; pid=${pid%%-*}
    echo "$pid $(du -s -B1 --apparent-size "$d" 2>/dev/null | cut -f1) $(du -s -B1 "$d" 2>/dev/null | cut -f1)"
  done | awk 'NF == 3 {n[$1]++; a[$1] += $2; u[$1] += $3} END {for (p in n) print p, n[p], a[p], u[p]}'
}

mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }

if [[ "$peak" -gt 0 ]]; then
  declare -A dirs=() app=() alloc=() roles=()
  for ((t = 0; t < peak; t++)); do
    while read -r pid n a u; do
      [[ -n "${roles[$pid]:-}" ]] || roles[$pid]=$(role "$pid")
      if (( n > ${dirs[$pid]:-0} )); then dirs[$pid]=$n; fi
      if (( a > ${app[$pid]:-0} )); then app[$pid]=$a; fi
      if (( u > ${alloc[$pid]:-0} )); then alloc[$pid]=$u; fi
    done < <(snapshot)
    sleep 1
  done
  printf '%-8s %-9s %5s %14s %14s\n' pid role dirs apparent allocated
  for pid in "${!roles[@]}"; do
    printf '%-8s %-9s %5s %14s %14s\n' "$pid" "${roles[$pid]}" "${dirs[$pid]}" "$(mib "${app[$pid]}")" \
      "$(mib "${alloc[$pid]}")"
  done
else
  printf '%-8s %-9s %5s %14s %14s\n' pid role dirs apparent allocated
  snapshot | while read -r pid n a u; do
    printf '%-8s %-9s %5s %14s %14s\n' "$pid" "$(role "$pid")" "$n" "$(mib "$a")" "$(mib "$u")"
  done
fi
