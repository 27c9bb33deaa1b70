#!/usr/bin/env bash
# The main job, end to end on a fresh machine (installs what is missing):
#   stack + migrations -> synthetic catalogue and click streams -> Kafka -> ingest (ClickHouse + Redis)
#   -> item embeddings -> train QIN and AutoInt+ -> promote the better one -> scorer -> replay of the test
#   period through the HTTP API (each request scored before its own events are produced) -> summary.
# Each run uses its own Kafka topics, consumer groups and Redis key prefix (`mmctr demo-run env`); the
# next run deletes them (`mmctr demo-run prune`), as it drops and recreates the ClickHouse database.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t_start=$SECONDS

RUN="${MMCTR_DEMO_RUN:-$(date +%s)}"
DEMO_DIR="${MMCTR_DEMO_DIR:-$ROOT/.local/demo}"
SYNTH_DIR="$DEMO_DIR/synth"
REPLAY_REQUESTS="${MMCTR_DEMO_REPLAY_REQUESTS:-4000}"
TRAIN_CONFIG="${MMCTR_DEMO_TRAIN_CONFIG:-demo}"
export CLICKHOUSE_DATABASE="${MMCTR_DEMO_DATABASE:-mmctr_demo}"
# The demo repository plus windowed aggregates (item CTR over 1h/24h/7d, a user's clicks per category).
export FEATURE_REPO="${FEATURE_REPO:-feature-repos/demo-aggregates}"
export MMCTR_REGISTRY="$DEMO_DIR/registry" SCORER_MODEL_ROOT="$ROOT" LOG_LEVEL="${LOG_LEVEL:-warn}"
# The synthetic stream is dated in the past: aggregate counters (a repository that declares them) would
# otherwise expire by event time before the replay reads them. A day outlasts the run.
export AGGREGATE_MIN_TTL_MS="${AGGREGATE_MIN_TTL_MS:-86400000}"
# The synthetic catalogue's images are local files; the embedder reads files only under these roots.
export EMBEDDER_IMAGE_FILE_ROOTS="$SYNTH_DIR"
# One demo at a time per stack: a run deletes every other run's topics, consumer groups and keys. The
# lock is released when this script exits; the stack's servers (started below) must not inherit it.
lock_file="${TMPDIR:-/tmp}/mmctr-demo-$(printf '%s' "$KAFKA_BROKERS $REDIS_URL" | cksum | cut -d' ' -f1).lock"
exec {demo_lock}>"$lock_file"
if ! flock -n "$demo_lock"; then
  echo "another demo is running on this stack (Kafka $KAFKA_BROKERS, Redis $REDIS_URL): it holds $lock_file" >&2
  exit 1
fi
# Artifacts and training sets of earlier runs belong to databases that no longer exist.
rm -rf "$MMCTR_REGISTRY" "$DEMO_DIR/trainset" "$DEMO_DIR/trainset-eval"
mkdir -p "$DEMO_DIR/logs"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

ch_server() { curl -fsS "$CLICKHOUSE_URL/" --data-binary "$1"; }
start_app() { # name, port, [node flags...]
  HTTP_PORT="$2" node "${@:3}" -r ./scripts/register.js "apps/$1/src/main.ts" >"$DEMO_DIR/logs/$1.log" 2>&1 &
  pids+=($!)
}

bash scripts/setup.sh
# The run's names, kept for the dashboard (or any app) to read this run afterwards: `source <dir>/run.env`.
{ mmctr demo-run env --run "$RUN"; echo "export CLICKHOUSE_DATABASE='$CLICKHOUSE_DATABASE'"; } >"$DEMO_DIR/run.env"
source "$DEMO_DIR/run.env"
step "local stack, migrations, topics; earlier demo runs' topics and Redis keys deleted"
bash deploy/local/up {demo_lock}>&-
mmctr demo-run prune --keep "$RUN"
ch_server "DROP DATABASE IF EXISTS $CLICKHOUSE_DATABASE"
mmctr migrate
mmctr features apply "$FEATURE_REPO"
mmctr topics

step "synthetic data (5k items with images, 20k users, 1M impressions)"
rm -rf "$SYNTH_DIR"
mmctr synth --out "$SYNTH_DIR"

step "ingest: catalogue and the train/validation period through Kafka"
start_app ingest 3101 --max-semi-space-size=64 # young generation for per-message garbage (docs/ingestion.md)
wait_for "ingest to be ready" 60 curl -fsS -o /dev/null http://127.0.0.1:3101/health/ready
t0=$(date +%s.%N)
mmctr replay --synth "$SYNTH_DIR" --phase history --out "$DEMO_DIR/history.json"
expected=$(node -e "console.log(require('$DEMO_DIR/history.json').events)")
events_stored() { [[ "$(ch "SELECT count() FROM events_dedup")" -ge "$expected" ]]; }
wait_for "ingest to store $expected events" 600 events_stored
t1=$(date +%s.%N)
node -e "const s=$t1-$t0; console.log(JSON.stringify({events:$expected, seconds:s, events_per_s:$expected/s}))" \
  | tee "$DEMO_DIR/ingest.json"

step "item embeddings (image + text encoders, fitted projection)"
t0=$(date +%s.%N)
mmctr embed --all | tee "$DEMO_DIR/embed-result.json"
t1=$(date +%s.%N)
items=$(ch "SELECT uniqExact(item_id) FROM item_embeddings WHERE length(fused_vec) > 0")
node -e "const s=$t1-$t0; console.log(JSON.stringify({items:$items, seconds:s, items_per_s:$items/s}))" \
  | tee "$DEMO_DIR/embed.json"

step "train QIN and AutoInt+ ($TRAIN_CONFIG config), promote the better on validation AUC"
for model in qin autoint; do
  .venv/bin/mmctr-train train --database "$CLICKHOUSE_DATABASE" --model "$model" --config "$TRAIN_CONFIG" \
    --meta "$SYNTH_DIR/meta.json" --trainset "$DEMO_DIR/trainset" | tee "$DEMO_DIR/train-$model.log"
done
best=$(.venv/bin/mmctr-train list --database "$CLICKHOUSE_DATABASE" --json | .venv/bin/python -c '
import json, sys
rows = json.load(sys.stdin)
print(max(rows, key=lambda r: (json.loads(r["metrics"] or "{}").get("val") or {}).get("auc") or 0)["version"])')
.venv/bin/mmctr-train promote "$best" --database "$CLICKHOUSE_DATABASE"

step "scorer, then replay of the test period through POST /v1/score ($REPLAY_REQUESTS requests)"
start_app scorer 3103
wait_for "the scorer to load $best" 120 curl -fsS -o /dev/null http://127.0.0.1:3103/health/ready
mmctr replay --synth "$SYNTH_DIR" --phase test --scorer http://127.0.0.1:3103 --max-requests "$REPLAY_REQUESTS" \
  --out "$DEMO_DIR/replay.json" --scores-out "$DEMO_DIR/served-scores.jsonl"
expected_all=$(node -e "const r=require('$DEMO_DIR/replay.json'); console.log($expected + r.produced_events)")
all_stored() { [[ "$(ch "SELECT count() FROM events_dedup")" -ge "$expected_all" ]]; }
wait_for "ingest to store the replayed events" 300 all_stored

step "serving/training parity: the trainer recomputes every logged score from score_log"
requests=$(node -e "console.log(require('$DEMO_DIR/replay.json').requests)")
all_logged() { [[ "$(ch "SELECT count() FROM score_log FINAL WHERE model_version = '$best'")" -ge "$requests" ]]; }
wait_for "the score log to hold the $requests replayed requests" 120 all_logged
.venv/bin/mmctr-train parity --database "$CLICKHOUSE_DATABASE" --model-version "$best" --quiet \
  --json-out "$DEMO_DIR/parity.json"

step "offline test metrics of the trained models on the replayed period"
.venv/bin/mmctr-train evaluate --all-registered --database "$CLICKHOUSE_DATABASE" --meta "$SYNTH_DIR/meta.json" \
  --trainset "$DEMO_DIR/trainset-eval" --json-out "$DEMO_DIR/evaluate.json"

step "summary"
mmctr demo-report --dir "$DEMO_DIR" --synth "$SYNTH_DIR" --production "$best" --seconds $((SECONDS - t_start))
