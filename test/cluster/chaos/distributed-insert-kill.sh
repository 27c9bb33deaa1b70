#!/usr/bin/env bash
# What an insert into a Distributed table (insert_distributed_sync=1, the cluster profile's setting)
# answers when the replica it writes one shard's rows to is SIGKILLed mid-insert, and whether every
# insert it acknowledged is stored once the replica is back. On the loopback cluster (deploy/local/up
# --cluster), in a database of its own (dropped at the end); kills and restarts ch-3:
#   test/cluster/chaos/distributed-insert-kill.sh [trials] [rows per insert] [kill from s] [kill until s]
# Each trial inserts `rows` rows through ch-1 with load_balancing=in_order (shard 2's rows go to ch-3),
# kills ch-3 at a random time between `kill from` and `kill until` seconds after the insert started
# (default 0.5 to 2; a 20M-row insert takes about 10 s on a loaded 2-core machine), waits for the answer and, like ingest, retries a
# failed insert unchanged (through ch-4 then) until it is acknowledged. It prints per trial the first
# answer, and at the end the rows each shard holds against the acknowledged ones.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
trials="${1:-3}" rows="${2:-20000000}" kill_from="${3:-0.5}" kill_until="${4:-2}"
db="h6_insert_kill_$$"
ch() { curl -sS --max-time 600 "http://127.0.0.1:$1/?$2" --data-binary "$3"; }
q() { ch 23123 "" "$1"; }

q "CREATE DATABASE $db ON CLUSTER mmctr" >/dev/null
q "CREATE TABLE $db.t_local ON CLUSTER mmctr (k UInt64, v String)
   ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/$db/t', '{replica}') ORDER BY k" >/dev/null
q "CREATE TABLE $db.t ON CLUSTER mmctr AS $db.t_local ENGINE = Distributed(mmctr, $db, t_local, cityHash64(k))" >/dev/null
trap 'q "DROP DATABASE IF EXISTS $db ON CLUSTER mmctr" >/dev/null 2>&1 || true' EXIT

# Every replica active, writable and caught up (a restarted replica stays read-only until its previous
# ZooKeeper session expires).
caught_up() {
  local pending port n
  for _ in $(seq 1 240); do
    pending=0
    for port in 23123 23124 23125 23126; do
      n="$(ch "$port" "" "SELECT sum(queue_size) + sum(is_readonly) + sum(total_replicas - active_replicas)
                          FROM system.replicas WHERE database = '$db'" 2>/dev/null || echo 1)"
      pending=$((pending + ${n:-1}))
    done
    ((pending == 0)) && return 0
    sleep 1
  done
  echo "replicas not caught up after 240 s" >&2
}

settings="insert_distributed_sync=1&load_balancing=in_order"
insert() { ch 23123 "$settings" "INSERT INTO $db.t SELECT number + $1, toString(number) FROM numbers($rows)" 2>&1; }
acked=0
for ((t = 0; t < trials; t++)); do
  base=$((t * rows * 10))
  out="$(mktemp)"
  started="$(date +%s.%N)"
  (insert "$base" >"$out"; echo "rc=$?" >>"$out"; echo "took=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')" >>"$out") &
  pid=$!
  delay="$(awk -v s="$RANDOM" -v a="$kill_from" -v b="$kill_until" 'BEGIN { srand(s); printf "%.2f", a + rand() * (b - a) }')"
  sleep "$delay"
  bash "$HERE/cluster-node.sh" kill ch-3 >/dev/null
  wait "$pid" || true
  first="$(tr '\n' ' ' <"$out" | cut -c1-220)"
  retries=0
  while ! grep -q '^rc=0$' "$out" || grep -q 'Exception' "$out"; do
    retries=$((retries + 1))
    insert "$base" >"$out"; echo "rc=$?" >>"$out"
    ((retries < 30)) || { echo "trial $t: not acknowledged after 30 retries"; break; }
  done
  grep -q 'Exception' "$out" || acked=$((acked + rows))
  echo "trial $t: killed after ${delay} s; first answer: ${first:-<empty: acknowledged>}; retries $retries"
  rm -f "$out"
  bash "$HERE/cluster-node.sh" start ch-3 >/dev/null
  caught_up
done

caught_up
counts=()
for port in 23123 23124 23125 23126; do counts+=("$(ch "$port" "" "SELECT count() FROM $db.t_local")"); done
dups="$(q "SELECT count() - uniqExact(k) FROM $db.t")"
max() { (($1 > $2)) && echo "$1" || echo "$2"; }
total=$(($(max "${counts[0]}" "${counts[1]}") + $(max "${counts[2]}" "${counts[3]}")))
echo "acknowledged rows: $acked; stored: shard 1 ${counts[0]} / ${counts[1]} (ch-1 / ch-2), shard 2 ${counts[2]} / ${counts[3]} (ch-3 / ch-4); total (the fuller replica of each shard) $total, duplicated $dups"
for port in 23123 23125 23126; do
  echo "ch-$((port - 23122)) counters: $(ch "$port" "" "SELECT arrayStringConcat(groupArray(concat(event, '=', toString(value))), ' ')
    FROM system.events WHERE event IN ('DuplicatedInsertedBlocks', 'ReplicatedPartFetches', 'ReplicatedDataLoss', 'DistributedConnectionFailTry')")"
done
