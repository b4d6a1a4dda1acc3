# Sourced by ./lockstep and deploy/spark-submit.sh: the JVM options of the ND4J native build for a JVM
# on this host, and the JavaCPP settings for every JVM. In-process, io.lockstep.worker.cpu.NativeBuild makes the
# same choice from the same flags wherever no option was given (executors on other hosts, the Java API).
#
# LOCKSTEP_CPU_BUILD=avx2|generic pins the build; unset or auto: AVX2 where /proc/cpuinfo (or the file
# LOCKSTEP_CPUINFO names, for tests) lists every one of avx avx2 fma f16c (what the AVX2 libnd4jcpu
# executes), else generic. The generic build is an
# empty extension, never an unset one: unset, JavaCPP takes the AVX2 natives it finds whatever the CPU.

# The org.bytedeco.javacpp.platform.extension value for this host: -avx2 or empty.
lockstep_cpu_extension() {
  case "${LOCKSTEP_CPU_BUILD:-auto}" in
    avx2) echo "-avx2"; return ;;
    generic) echo ""; return ;;
    auto) ;;
    *) echo "LOCKSTEP_CPU_BUILD=$LOCKSTEP_CPU_BUILD: expected auto, avx2 or generic" >&2; return 2 ;;
  esac
  local flags f
  flags=" $(grep -m 1 -E '^flags[[:space:]]*:' "${LOCKSTEP_CPUINFO:-/proc/cpuinfo}" 2>/dev/null | cut -d: -f2 | tr '\t' ' ') "
  for f in avx avx2 fma f16c; do
    [[ "$flags" == *" $f "* ]] || { echo ""; return; }
  done
  echo "-avx2"
}

lockstep_cpu_build_flags() {
  local ext
  ext=$(lockstep_cpu_extension) || return
  echo "-Dorg.bytedeco.javacpp.platform.extension=$ext"
}

# JavaCPP stops reading /proc/self/statm at each off-heap allocation: 7.3 -> 4.5 us of CPU per ND4J
# array (README "CPU build"). Its off-heap limit (org.bytedeco.javacpp.maxBytes, -Xmx) still holds.
LOCKSTEP_JAVACPP_FLAGS="-Dorg.bytedeco.javacpp.maxPhysicalBytes=0"
