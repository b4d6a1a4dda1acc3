# Sourced by deploy/local-cluster.sh and deploy/netns-cluster.sh: a SPARK_HOME made of the project's Maven jars.
#
#   lockstep_spark_home ROOT HOME   HOME/jars/ links to the jars of ROOT/driver/target/classpath.txt except Lockstep's
#                                   own modules and the libraries only Lockstep uses (DL4J, ND4J, JavaCPP, Aeron,
#                                   Agrona, picocli, JUnit), which executors must get from the application jar as on
#                                   a real cluster; HOME/bin/ the spark-class and spark-submit stand-ins from
#                                   deploy/spark-shims/. Prints the number of jars; on an error prints it to stderr
#                                   and returns 1.

# groups Spark does not bring: the application jar carries them (matched as Maven repository path segments)
LOCKSTEP_APP_ONLY='/(io/lockstep|org/deeplearning4j|org/nd4j|org/bytedeco|org/datavec|io/aeron|org/agrona|info/picocli|org/junit|org/opentest4j|org/apiguardian)/'

lockstep_spark_home() {
  local root=$1 home=$2 cp="$1/driver/target/classpath.txt" jar n=0
  [[ -f "$cp" ]] || { echo "$cp not found: build first (./mvnw -B -DskipTests package)" >&2; return 1; }
  mkdir -p "$home/jars" "$home/bin"
  while IFS= read -r jar; do
    [[ "$jar" == *.jar && "$jar" != "$root"/* ]] || continue
    [[ "$jar" =~ $LOCKSTEP_APP_ONLY ]] && continue
    [[ -f "$jar" ]] || { echo "$jar (listed in $cp) is missing: rebuild (./mvnw -B -DskipTests package)" >&2; return 1; }
    ln -sf "$jar" "$home/jars/"
    n=$((n + 1))
  done < <(tr ':' '\n' <"$cp")
  compgen -G "$home/jars/spark-core_*.jar" >/dev/null || { echo "no spark-core jar in $cp" >&2; return 1; }
  cp "$root/deploy/spark-shims/spark-class" "$root/deploy/spark-shims/spark-submit" "$home/bin/"
  echo "$n"
}
