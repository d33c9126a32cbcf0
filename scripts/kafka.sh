#!/usr/bin/env bash
# Single-node Apache Kafka (KRaft, broker+controller in one JVM) for CI and local
# integration tests, run from the jars that kafka/pom.xml pulls from Maven Central.
#
#   scripts/kafka.sh fetch    copy the jars into the cache (no-op when cached)
#   scripts/kafka.sh start    fresh broker on 127.0.0.1:$KAFKA_PORT; waits until it serves
#   scripts/kafka.sh stop     idempotent
#   scripts/kafka.sh status   exit 0 when running
#
# `start` always gives an empty broker: one this script already runs on the port is
# stopped and its data wiped first, so tests never see topics from an earlier run.
#
# Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_DIR (/tmp/iam-kafka-PORT:
# data, config, server.log), KAFKA_CACHE (jar dir), KAFKA_HEAP_OPTS (-Xms256m -Xmx512m).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/kafka/pom.xml"
VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
LIBS="${KAFKA_CACHE:-$ROOT/.cache/kafka/$VERSION/libs}"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
DIR="${KAFKA_DIR:-/tmp/iam-kafka-$PORT}"
PIDFILE="$DIR/kafka.pid"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
START_TIMEOUT=90

log() { echo "kafka.sh: $*" >&2; }

fetch() {
  # The marker holds the pom's hash, so editing the pom (e.g. a version bump) refetches.
  local want; want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ "$(cat "$LIBS/.fetched" 2>/dev/null)" == "$want" ]]; then return 0; fi
  log "fetching Kafka $VERSION jars into $LIBS"
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  mvn -q -B -f "$POM" dependency:copy-dependencies -DoutputDirectory="$LIBS" >&2
  echo "$want" >"$LIBS/.fetched"
}

# Only trust the pid file while that pid is still our broker (pids get reused).
running_pid() {
  local pid cmd
  pid="$(cat "$PIDFILE" 2>/dev/null)" && [[ -n "$pid" ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")" || return 1
  [[ "$cmd" == *"kafka.Kafka $DIR/server.properties"* ]] && echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

status() {
  local pid
  if pid="$(running_pid)"; then echo "Kafka running (pid $pid) on 127.0.0.1:$PORT"; return 0; fi
  echo "Kafka not running on 127.0.0.1:$PORT"
  return 1
}

stop() {
  local pid i
  if pid="$(running_pid)"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker $pid ignored SIGTERM for 30 s, killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  fi
  rm -f "$PIDFILE"
}

write_config() {
  cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DIR/data
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# One node: a single partition each makes the first consumer group / transaction ready sooner.
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
EOF
  cat >"$DIR/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

# Random 16-byte id in Kafka's base64url form; a leading '-' would read as a CLI flag.
cluster_id() {
  local id
  id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  echo "A${id:1}"
}

start() {
  fetch
  stop
  local p
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then log "127.0.0.1:$p is taken by another process"; return 1; fi
  done
  rm -rf "$DIR"
  mkdir -p "$DIR/data"
  write_config
  "$JAVA" -Xmx256m -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$(cluster_id)" -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 \
    || { cat "$DIR/format.log" >&2; return 1; }

  # shellcheck disable=SC2086  # KAFKA_HEAP_OPTS is a list of JVM flags
  nohup "$JAVA" ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$DIR/log4j.properties" -cp "$LIBS/*" \
    kafka.Kafka "$DIR/server.properties" >"$DIR/stdout.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"

  if wait_ready "$!"; then
    log "Kafka $VERSION ready on 127.0.0.1:$PORT (pid $!, logs in $DIR)"
  else
    tail -n 40 "$DIR/server.log" "$DIR/stdout.log" >&2 2>/dev/null || true
    stop
    return 1
  fi
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || { log "broker exited during startup"; return 1; }
    # The port opens before the broker is unfenced; this line is logged after it.
    if port_open "$PORT" && grep -q 'Kafka Server started' "$DIR/server.log" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  log "broker not ready after ${START_TIMEOUT}s"
  return 1
}

case "${1:-}" in
  fetch | start | stop | status) "$1" ;;
  *) echo "usage: $0 fetch|start|stop|status" >&2; exit 2 ;;
esac
