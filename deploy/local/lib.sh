#!/usr/bin/env bash
# Shared helpers for deploy/local/{up,down,status}. Everything the stack writes lives under
# $MMCTR_STACK_DIR (default: <repo>/.local/stack); downloaded jars live under <repo>/.cache.
set -euo pipefail

LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LOCAL_DIR/../.." && pwd)"
STACK_DIR="${MMCTR_STACK_DIR:-$ROOT/.local/stack}"
CACHE_DIR="${MMCTR_CACHE_DIR:-$ROOT/.cache}"
RUN_DIR="$STACK_DIR/run"
LOG_DIR="$STACK_DIR/logs"
DATA_DIR="$STACK_DIR/data"
CONF_DIR="$STACK_DIR/conf"

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_HEAP="${KAFKA_HEAP:-1G}"
KAFKA_LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-18123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-19000}"
REDIS_PORT="${REDIS_PORT:-16379}"

SERVICES=(kafka clickhouse redis)

log() { printf '[stack] %s\n' "$*"; }
die() { printf '[stack] error: %s\n' "$*" >&2; exit 1; }

pid_file() { echo "$RUN_DIR/$1.pid"; }

# Prints the pid of a service this stack started, if that process is still alive.
running_pid() {
  local f; f="$(pid_file "$1")"
  [[ -f "$f" ]] || return 1
  local pid; pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

answers() {
  case "$1" in
    kafka) kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 3 >/dev/null 2>&1 ;;
    clickhouse) [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]] ;;
    redis) [[ "$(redis-cli -p "$REDIS_PORT" --no-auth-warning ping 2>/dev/null)" == "PONG" ]] ;;
  esac
}

wait_until_answers() {
  local svc="$1" timeout="${2:-120}" start=$SECONDS
  until answers "$svc"; do
    if ! running_pid "$svc" >/dev/null; then
      # Started by this shell, so its exit status can still be collected (128+n: killed by signal n).
      local rc=unknown pid
      pid="$(cat "$(pid_file "$svc")" 2>/dev/null)" && [[ -n "$pid" ]] && {
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        if ((rc == 127)); then rc=unknown; fi # not this shell's child
      }
      log "$svc exited during start-up (exit status $rc); last log lines:"
      tail -n 30 "$LOG_DIR/$svc.out" >&2 || true
      # ClickHouse writes only "Logging ... to" to stdout; why it stopped is in its own error log.
      if [[ -f "$LOG_DIR/$svc/clickhouse-server.err.log" ]]; then
        log "last lines of $LOG_DIR/$svc/clickhouse-server.err.log:"
        tail -n 30 "$LOG_DIR/$svc/clickhouse-server.err.log" >&2 || true
      fi
      return 1
    fi
    (( SECONDS - start > timeout )) && { log "$svc did not answer within ${timeout}s"; return 1; }
    sleep 0.5
  done
  log "$svc answers ($(( SECONDS - start ))s)"
}

# ---- installation (idempotent: only what is missing) ----
apt_updated=0
apt_install() {
  if (( apt_updated == 0 )); then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
  log "installing Debian packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_packages() {
  local missing=()
  command -v clickhouse-server >/dev/null || missing+=(clickhouse-server)
  command -v clickhouse-client >/dev/null || missing+=(clickhouse-client)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v kcat >/dev/null || missing+=(kcat)
  command -v curl >/dev/null || missing+=(curl)
  if ! java -version 2>&1 | grep -qE 'version "(17|2[0-9])'; then missing+=(openjdk-17-jre-headless); fi
  command -v mvn >/dev/null || missing+=(maven)
  if (( ${#missing[@]} > 0 )); then apt_install "${missing[@]}"; return 0; fi
  return 1
}

ensure_kafka_jars() {
  if [[ -f "$KAFKA_LIBS/.complete" ]]; then return 1; fi
  log "fetching Apache Kafka $KAFKA_VERSION broker jars from Maven Central into $KAFKA_LIBS"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -q -B -f "$LOCAL_DIR/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime
  touch "$KAFKA_LIBS/.complete"
}

render() { # template -> file, replacing @KEY@ markers
  local src="$1" dst="$2"; shift 2
  local content; content="$(cat "$src")"
  while (( $# )); do content="${content//@$1@/$2}"; shift 2; done
  printf '%s\n' "$content" > "$dst"
}

# ---- start ----
start_kafka() {
  mkdir -p "$DATA_DIR/kafka" "$CONF_DIR/kafka"
  render "$LOCAL_DIR/kafka/server.properties.tmpl" "$CONF_DIR/kafka/server.properties" \
    BROKER_PORT "$KAFKA_PORT" CONTROLLER_PORT "$KAFKA_CONTROLLER_PORT" DATA_DIR "$DATA_DIR/kafka"
  start_kafka_process kafka "$CONF_DIR/kafka/server.properties" "$DATA_DIR/kafka" "$KAFKA_HEAP"
}

# One Kafka node: service name, properties, data dir, heap. Storage is formatted on first start with
# the stack's cluster id (one per stack dir, so every node of a cluster shares it).
start_kafka_process() {
  local svc="$1" props="$2" dir="$3" heap="$4" id_file="$STACK_DIR/kafka-cluster-id"
  local jvm=(java "-Xms256m" "-Xmx$heap" -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$LOCAL_DIR/kafka/log4j.properties" "-Dkafka.logs.dir=$LOG_DIR/$svc"
    -cp "$KAFKA_LIBS/*")
  mkdir -p "$LOG_DIR/$svc"
  if [[ ! -f "$dir/meta.properties" ]]; then
    [[ -s "$id_file" ]] || "${jvm[@]}" kafka.tools.StorageTool random-uuid >"$id_file"
    log "formatting KRaft storage of $svc"
    "${jvm[@]}" kafka.tools.StorageTool format -t "$(cat "$id_file")" \
      -c "$props" --ignore-formatted >"$LOG_DIR/$svc-format.out" 2>&1
  fi
  setsid nohup "${jvm[@]}" kafka.Kafka "$props" >"$LOG_DIR/$svc.out" 2>&1 &
  echo $! >"$(pid_file "$svc")"
}

start_clickhouse() {
  mkdir -p "$DATA_DIR/clickhouse/tmp" "$CONF_DIR/clickhouse" "$LOG_DIR/clickhouse"
  cp "$LOCAL_DIR/clickhouse/users.xml" "$CONF_DIR/clickhouse/users.xml"
  render "$LOCAL_DIR/clickhouse/config.xml.tmpl" "$CONF_DIR/clickhouse/config.xml" \
    HTTP_PORT "$CLICKHOUSE_HTTP_PORT" TCP_PORT "$CLICKHOUSE_TCP_PORT" \
    DATA_DIR "$DATA_DIR/clickhouse" LOG_DIR "$LOG_DIR/clickhouse" CONF_DIR "$CONF_DIR/clickhouse"
  setsid nohup clickhouse-server --config-file="$CONF_DIR/clickhouse/config.xml" \
    >"$LOG_DIR/clickhouse.out" 2>&1 &
  echo $! >"$(pid_file clickhouse)"
}

start_redis() {
  mkdir -p "$DATA_DIR/redis"
  setsid nohup redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DATA_DIR/redis" \
    --daemonize no --save 60 10000 --appendonly no --protected-mode yes \
    >"$LOG_DIR/redis.out" 2>&1 &
  echo $! >"$(pid_file redis)"
}

group_alive() { kill -0 "$1" 2>/dev/null || pgrep -g "$1" >/dev/null 2>&1; }

stop_service() {
  local svc="$1" pid
  pid="$(running_pid "$svc")" || { rm -f "$(pid_file "$svc")"; return 1; }
  log "stopping $svc (pid $pid)"
  # Each service runs in its own session (setsid), so its process group holds exactly what up
  # started, ClickHouse's forked server process included.
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do group_alive "$pid" || break; sleep 0.5; done
  if group_alive "$pid"; then
    log "$svc did not stop in 30s; killing"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$svc")"
}
