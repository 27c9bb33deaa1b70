#!/usr/bin/env bash
# The loopback cluster behind `deploy/local/{up,down,status} --cluster`: a 3-node ZooKeeper ensemble,
# 3 Kafka KRaft nodes (broker + controller each), ClickHouse as 2 shards x 2 replicas and a Redis
# Cluster of 3 primaries + 3 replicas. Everything it writes lives under $MMCTR_CLUSTER_DIR (default
# <repo>/.local/cluster); its ports (23xxx, and 24401-24406 for the Redis cluster bus) do not collide with the
# single-node stack, which can run beside it, and lie below the kernel's ephemeral range (32768-60999 on
# Linux): a port in that range can be held by any outgoing connection, and a node then fails to bind it.
_cluster_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
MMCTR_STACK_DIR="${MMCTR_CLUSTER_DIR:-$_cluster_root/.local/cluster}"
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
CLUSTER_TMPL="$LOCAL_DIR/cluster"

CLICKHOUSE_CLUSTER_NAME="${CLICKHOUSE_CLUSTER_NAME:-mmctr}"
# The first replica of each shard: replicated ALTERs run ON CLUSTER it (CLICKHOUSE_ALTER_CLUSTER), so
# 18.16's DDL worker never runs one on both replicas (docs/operations.md).
CLICKHOUSE_ALTER_CLUSTER_NAME="${CLICKHOUSE_CLUSTER_NAME}_first_replicas"
ZK_CLIENT_PORTS=(23181 23182 23183)
ZK_PEER_PORTS=(23281 23282 23283)
ZK_ELECTION_PORTS=(23381 23382 23383)
ZK_HEAP="${ZK_HEAP:-128m}"
KAFKA_PORTS=(23092 23093 23094)
KAFKA_CONTROLLER_PORTS=(23192 23193 23194)
KAFKA_NODE_HEAP="${KAFKA_NODE_HEAP:-512m}"
# Shard of each ClickHouse server (two replicas per shard).
CH_SHARDS=(1 1 2 2)
CH_HTTP_PORTS=(23123 23124 23125 23126)
CH_TCP_PORTS=(23001 23002 23003 23004)
CH_INTERSERVER_PORTS=(23011 23012 23013 23014)
REDIS_PORTS=(23401 23402 23403 23404 23405 23406)

# Service names: <kind>-<n>, n from 1. Started in this order, stopped in the reverse one.
SERVICES=(zk-1 zk-2 zk-3 kafka-1 kafka-2 kafka-3 ch-1 ch-2 ch-3 ch-4
  redis-1 redis-2 redis-3 redis-4 redis-5 redis-6)

kind_of() { echo "${1%-*}"; }
index_of() { echo $(( ${1##*-} - 1 )); }

# Overrides lib.sh's: one node of a kind, by its own port.
answers() {
  local i; i="$(index_of "$1")"
  case "$(kind_of "$1")" in
    zk) [[ "$(zk_say "${ZK_CLIENT_PORTS[$i]}" ruok)" == imok ]] ;;
    kafka) kcat -b "127.0.0.1:${KAFKA_PORTS[$i]}" -L -m 3 >/dev/null 2>&1 ;;
    ch) [[ "$(curl -fsS --max-time 3 "http://127.0.0.1:${CH_HTTP_PORTS[$i]}/ping" 2>/dev/null)" == "Ok." ]] ;;
    redis) [[ "$(redis-cli -p "${REDIS_PORTS[$i]}" ping 2>/dev/null)" == PONG ]] ;;
  esac
}

# A ZooKeeper four-letter command over bash's /dev/tcp (no netcat needed).
zk_say() {
  local out
  out="$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf %s '$2' >&3 && cat <&3" 2>/dev/null)" || true
  printf '%s' "$out"
}

# Matched in bash, not with `| grep -q`: under pipefail, grep's early exit can fail the pipeline.
zk_serving() { [[ "$(zk_say "$1" srvr)" =~ Mode:\ (leader|follower) ]]; }

redis_cluster_info() { redis-cli -p "${REDIS_PORTS[0]}" cluster info 2>/dev/null | tr -d '\r'; }
redis_cluster_ok() { [[ "$(redis_cluster_info)" == *cluster_state:ok$'\n'* ]]; }

# ---- start, one node each ----
start_service() {
  local i; i="$(index_of "$1")"
  mkdir -p "$LOG_DIR/$1" "$DATA_DIR/$1" "$CONF_DIR/$1"
  "start_$(kind_of "$1")_node" "$1" "$i"
}

start_zk_node() {
  local svc="$1" i="$2" servers="" n
  for n in 0 1 2; do
    servers+="server.$((n + 1))=127.0.0.1:${ZK_PEER_PORTS[$n]}:${ZK_ELECTION_PORTS[$n]}"$'\n'
  done
  echo "$((i + 1))" >"$DATA_DIR/$svc/myid"
  render "$CLUSTER_TMPL/zookeeper.cfg.tmpl" "$CONF_DIR/$svc/zoo.cfg" \
    DATA_DIR "$DATA_DIR/$svc" CLIENT_PORT "${ZK_CLIENT_PORTS[$i]}" SERVERS "$servers"
  setsid nohup java "-Xms64m" "-Xmx$ZK_HEAP" -XX:+UseSerialGC -Djava.awt.headless=true \
    "-Dlog4j.configuration=file:$LOCAL_DIR/kafka/log4j.properties" "-Dkafka.logs.dir=$LOG_DIR/$svc" \
    -Dzookeeper.jmx.log4j.disable=true -cp "$KAFKA_LIBS/*" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$CONF_DIR/$svc/zoo.cfg" \
    >"$LOG_DIR/$svc.out" 2>&1 &
  echo $! >"$(pid_file "$svc")"
}

start_kafka_node() {
  local svc="$1" i="$2" voters="" n
  for n in 0 1 2; do voters+="${voters:+,}$((n + 1))@127.0.0.1:${KAFKA_CONTROLLER_PORTS[$n]}"; done
  render "$CLUSTER_TMPL/kafka.properties.tmpl" "$CONF_DIR/$svc/server.properties" \
    NODE_ID "$((i + 1))" VOTERS "$voters" BROKER_PORT "${KAFKA_PORTS[$i]}" \
    CONTROLLER_PORT "${KAFKA_CONTROLLER_PORTS[$i]}" DATA_DIR "$DATA_DIR/$svc"
  start_kafka_process "$svc" "$CONF_DIR/$svc/server.properties" "$DATA_DIR/$svc" "$KAFKA_NODE_HEAP"
}

# Sets ZK_XML (the ensemble), SHARDS_XML (the cluster's shards) and FIRST_REPLICAS_XML (the same shards
# with their first replica only) for the server's config.d file.
ch_cluster_fragments() {
  local n shard replicas first
  ZK_XML="" SHARDS_XML="" FIRST_REPLICAS_XML=""
  for n in 0 1 2; do
    ZK_XML+="        <node><host>127.0.0.1</host><port>${ZK_CLIENT_PORTS[$n]}</port></node>"$'\n'
  done
  for shard in 1 2; do
    replicas="" first=""
    for n in 0 1 2 3; do
      (( CH_SHARDS[n] == shard )) || continue
      replicas+="                <replica><host>127.0.0.1</host><port>${CH_TCP_PORTS[$n]}</port></replica>"$'\n'
      [[ -n "$first" ]] || first="$replicas"
    done
    SHARDS_XML+="            <shard>
                <internal_replication>true</internal_replication>
${replicas}            </shard>"$'\n'
    FIRST_REPLICAS_XML+="            <shard>
                <internal_replication>true</internal_replication>
${first}            </shard>"$'\n'
  done
}

start_ch_node() {
  local svc="$1" i="$2" conf="$CONF_DIR/$1"
  mkdir -p "$DATA_DIR/$svc/tmp" "$conf/config.d" "$conf/users.d"
  cp "$LOCAL_DIR/clickhouse/users.xml" "$conf/users.xml"
  cp "$CLUSTER_TMPL/clickhouse-users.xml" "$conf/users.d/cluster.xml"
  render "$LOCAL_DIR/clickhouse/config.xml.tmpl" "$conf/config.xml" \
    HTTP_PORT "${CH_HTTP_PORTS[$i]}" TCP_PORT "${CH_TCP_PORTS[$i]}" \
    DATA_DIR "$DATA_DIR/$svc" LOG_DIR "$LOG_DIR/$svc" CONF_DIR "$conf"
  ch_cluster_fragments
  render "$CLUSTER_TMPL/clickhouse-cluster.xml.tmpl" "$conf/config.d/cluster.xml" \
    INTERSERVER_PORT "${CH_INTERSERVER_PORTS[$i]}" ZOOKEEPER_NODES "${ZK_XML%$'\n'}" \
    SHARD "0${CH_SHARDS[$i]}" REPLICA "$svc" CLUSTER "$CLICKHOUSE_CLUSTER_NAME" SHARDS "${SHARDS_XML%$'\n'}" \
    ALTER_CLUSTER "$CLICKHOUSE_ALTER_CLUSTER_NAME" FIRST_REPLICAS "${FIRST_REPLICAS_XML%$'\n'}"
  setsid nohup clickhouse-server --config-file="$conf/config.xml" >"$LOG_DIR/$svc.out" 2>&1 &
  echo $! >"$(pid_file "$svc")"
}

start_redis_node() {
  local svc="$1" i="$2"
  setsid nohup redis-server --bind 127.0.0.1 --port "${REDIS_PORTS[$i]}" --dir "$DATA_DIR/$svc" \
    --daemonize no --protected-mode yes --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-port "$((REDIS_PORTS[$i] + 1000))" --cluster-node-timeout 3000 --appendonly yes --appendfsync everysec --save '' \
    >"$LOG_DIR/$svc.out" 2>&1 &
  echo $! >"$(pid_file "$svc")"
}

# ---- the whole cluster ----
# Starts every node of `kind` that is not running (nodes of a quorum cannot answer alone, so all of
# them start before any is waited for), then waits until each answers.
start_kind() {
  local kind="$1" svc pid started=1
  for svc in "${SERVICES[@]}"; do
    [[ "$(kind_of "$svc")" == "$kind" ]] || continue
    if pid="$(running_pid "$svc")"; then continue; fi
    answers "$svc" && die "something not started by this stack already answers on $svc's port; stop it or change the port"
    log "starting $svc"
    start_service "$svc"
    started=0
  done
  for svc in "${SERVICES[@]}"; do
    [[ "$(kind_of "$svc")" == "$kind" ]] || continue
    answers "$svc" || wait_until_answers "$svc" 120 || die "$svc failed to start; see $LOG_DIR"
  done
  return $started
}

wait_for() { # description timeout command...
  local what="$1" timeout="$2" start=$SECONDS; shift 2
  until "$@"; do
    (( SECONDS - start > timeout )) && die "$what not ready within ${timeout}s; see $LOG_DIR"
    sleep 0.5
  done
}

zk_quorum() { local p; for p in "${ZK_CLIENT_PORTS[@]}"; do zk_serving "$p" || return 1; done; }

ch_sees_cluster() {
  local n
  n="$(curl -fsS --max-time 3 "http://127.0.0.1:${CH_HTTP_PORTS[0]}/" --data-binary \
    "SELECT count() FROM system.clusters WHERE cluster = '$CLICKHOUSE_CLUSTER_NAME'" 2>/dev/null)"
  [[ "$n" == 4 ]] || return 1
  n="$(curl -fsS --max-time 3 "http://127.0.0.1:${CH_HTTP_PORTS[0]}/" --data-binary \
    "SELECT count() FROM system.clusters WHERE cluster = '$CLICKHOUSE_ALTER_CLUSTER_NAME'" 2>/dev/null)"
  [[ "$n" == 2 ]] && curl -fsS --max-time 3 "http://127.0.0.1:${CH_HTTP_PORTS[0]}/" \
    --data-binary "SELECT count() FROM system.zookeeper WHERE path = '/'" >/dev/null 2>&1
}

ensure_redis_cluster() {
  redis_cluster_ok && return 1
  if [[ "$(redis_cluster_info)" == *cluster_known_nodes:1$'\n'* ]]; then
    log "creating the Redis Cluster (3 primaries, 1 replica each)"
    local nodes=() p
    for p in "${REDIS_PORTS[@]}"; do nodes+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$LOG_DIR/redis-cluster-create.out" 2>&1 ||
      die "redis-cli --cluster create failed; see $LOG_DIR/redis-cluster-create.out"
  fi
  wait_for "the Redis Cluster" 60 redis_cluster_ok
  return 0
}

# Every port the cluster uses: its nodes' data (ZooKeeper's replica registrations, KRaft's voters, Redis'
# nodes.conf) names them, so data made with other ports cannot be started with these.
cluster_ports() {
  echo "${ZK_CLIENT_PORTS[*]} ${ZK_PEER_PORTS[*]} ${ZK_ELECTION_PORTS[*]} ${KAFKA_PORTS[*]}" \
    "${KAFKA_CONTROLLER_PORTS[*]} ${CH_HTTP_PORTS[*]} ${CH_TCP_PORTS[*]} ${CH_INTERSERVER_PORTS[*]} ${REDIS_PORTS[*]}"
}

check_cluster_ports() {
  local stamp="$STACK_DIR/ports"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$(cluster_ports)" ]]; then return 0; fi
  if [[ -d "$DATA_DIR" && -n "$(ls -A "$DATA_DIR" 2>/dev/null)" ]]; then
    die "the cluster's data in $DATA_DIR was made with other ports than these (deploy/local/cluster/lib.sh):" \
      "run 'deploy/local/down --cluster --purge' (it removes $STACK_DIR), then 'deploy/local/up --cluster'"
  fi
  mkdir -p "$STACK_DIR"
  cluster_ports >"$stamp"
}

cluster_up() {
  check_cluster_ports
  mkdir -p "$RUN_DIR" "$LOG_DIR" "$DATA_DIR" "$CONF_DIR"
  local changed=0
  ensure_packages && changed=1
  ensure_kafka_jars && changed=1
  start_kind zk && changed=1
  wait_for "the ZooKeeper quorum" 60 zk_quorum
  start_kind kafka && changed=1
  start_kind ch && changed=1
  wait_for "ClickHouse's view of the cluster and ZooKeeper" 60 ch_sees_cluster
  start_kind redis && changed=1
  ensure_redis_cluster && changed=1
  if (( changed == 0 )); then
    log "nothing to do: the cluster is already running (stack dir $STACK_DIR)"
  else
    log "cluster is up (stack dir $STACK_DIR)"
  fi
  print_rss
}

cluster_down() {
  local stopped=0 kind svc
  for kind in redis ch kafka zk; do
    # The nodes of a kind stop together: a quorum member stopping alone waits on its peers.
    local pids=()
    for svc in "${SERVICES[@]}"; do
      [[ "$(kind_of "$svc")" == "$kind" ]] || continue
      running_pid "$svc" >/dev/null || { rm -f "$(pid_file "$svc")"; continue; }
      stop_service "$svc" & pids+=($!)
      stopped=1
    done
    (( ${#pids[@]} )) && wait "${pids[@]}"
  done
  (( stopped )) || log "nothing to stop"
}

cluster_status() {
  local ok=0 svc pid state
  for svc in "${SERVICES[@]}"; do
    if pid="$(running_pid "$svc")"; then
      if answers "$svc"; then state="up"; else state="running, not answering"; ok=1; fi
      printf '%-9s pid %-8s %s\n' "$svc" "$pid" "$state"
    else
      printf '%-9s %-12s down\n' "$svc" ""; ok=1
    fi
  done
  if redis_cluster_ok; then echo "redis cluster: ok"; else echo "redis cluster: not ok"; ok=1; fi
  if zk_quorum; then echo "zookeeper quorum: ok"; else echo "zookeeper quorum: not ok"; ok=1; fi
  print_rss
  return $ok
}

# Resident memory of every process this stack started (each runs in its own process group).
print_rss() {
  local svc pid kb total=0
  for svc in "${SERVICES[@]}"; do
    pid="$(running_pid "$svc")" || continue
    kb="$(ps -o rss= -g "$pid" 2>/dev/null | awk '{s += $1} END {print s + 0}')"
    total=$(( total + kb ))
    printf '[stack] rss %-9s %6d MiB\n' "$svc" $(( kb / 1024 ))
  done
  printf '[stack] rss total     %6d MiB\n' $(( total / 1024 ))
}
