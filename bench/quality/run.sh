#!/usr/bin/env bash
# The MovieLens-100k quality bench, end to end (bench/quality/README.md): checksums -> a fresh database with
# feature-repos/movielens -> ingest (a process) -> `mmctr import movielens` -> the point-in-time training set
# with the import's 80/10/10 time split -> LR, AutoInt+, DIN and QIN over the grid (bench/quality/grid.py)
# -> the same rows as CSV -> FuxiCTR DIN and AutoInt+ over the same grid and seeds -> one table and
# bench/results/quality-summary.json -> the best model promoted, served, the test period replayed through
# POST /v1/score, served vs offline AUC and `mmctr-train parity`.
# Needs scripts/setup.sh (the stack, node_modules, .venv); installs the peer (bench/quality/setup.sh).
# Knobs: MOVIELENS_DIR (default .local/datasets/ml-100k), MMCTR_QUALITY_DIR (work folder, default
# .local/quality), MMCTR_QUALITY_DATABASE (default mmctr_movielens), MMCTR_QUALITY_REPLAY (test ratings replayed,
# 0 = all 10,000; default 0), MMCTR_QUALITY_LRS / _EMBS / _SEEDS / _EPOCHS (grid.py), MMCTR_QUALITY_BUDGET (full:
# every grid point on every seed; chosen: the grid on the first seed, the other seeds at each model's chosen point),
# MMCTR_QUALITY_LIMIT (ratings imported, smoke runs only), MMCTR_QUALITY_INGEST_PORT / _SCORER_PORT (3191 / 3193).
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
t_start=$SECONDS

DATA="${MOVIELENS_DIR:-.local/datasets/ml-100k}"
WORK="${MMCTR_QUALITY_DIR:-$ROOT/.local/quality}"
REPLAY="${MMCTR_QUALITY_REPLAY:-0}"
INGEST_PORT="${MMCTR_QUALITY_INGEST_PORT:-3191}" SCORER_PORT="${MMCTR_QUALITY_SCORER_PORT:-3193}"
RUN="$(date +%s)-$$" COMMIT="$(git rev-parse --short HEAD)"
export CLICKHOUSE_DATABASE="${MMCTR_QUALITY_DATABASE:-mmctr_movielens}" FEATURE_REPO=feature-repos/movielens
export KAFKA_TOPIC_EVENTS="mmctr.mlq-$RUN.events.v1" KAFKA_TOPIC_ITEMS="mmctr.mlq-$RUN.items.v1"
export KAFKA_TOPIC_DLQ="mmctr.mlq-$RUN.dlq.v1" KAFKA_TOPIC_SCORES="mmctr.mlq-$RUN.scores.v1"
export KAFKA_TOPIC_ENTITY_PATTERN="mmctr.mlq-$RUN.{table}.v1"
export INGEST_GROUP_ID="mmctr-mlq-$RUN-ingest" SCORE_LOG_SINK_GROUP_ID="mmctr-mlq-$RUN-score-log"
export REDIS_KEY_PREFIX="mmctr-mlq-$RUN:" BULLMQ_PREFIX="bull-mlq-$RUN"
export MMCTR_REGISTRY="$WORK/registry" SCORER_MODEL_ROOT="$ROOT" LOG_LEVEL="${LOG_LEVEL:-warn}"
PY="$ROOT/.venv/bin/python" PEER="$ROOT/bench/quality/.venv-fuxictr/bin/python"

rm -rf "$WORK" && mkdir -p "$WORK/logs" "$WORK/configs" "$WORK/peer"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
start_app() { # name, port
  if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$2/"; then
    echo "run.sh: port $2 is taken (another $1?): set MMCTR_QUALITY_${1^^}_PORT" >&2
    exit 2
  fi
  HTTP_PORT="$2" node -r ./scripts/register.js "apps/$1/src/main.ts" >"$WORK/logs/$1.log" 2>&1 &
  pids+=($!)
}

step "MovieLens-100k at $DATA: checksums"
[[ -d "$DATA" ]] || { echo "run.sh: $DATA is not a folder (MOVIELENS_DIR): see bench/quality/README.md" >&2; exit 2; }
(cd "$DATA" && sha256sum -c "$ROOT/bench/quality/ml-100k.sha256")
bash bench/quality/setup.sh

step "database $CLICKHOUSE_DATABASE with feature-repos/movielens, ingest, import"
curl -fsS "$CLICKHOUSE_URL/" --data-binary "DROP DATABASE IF EXISTS $CLICKHOUSE_DATABASE"
mmctr migrate
mmctr features apply "$FEATURE_REPO"
start_app ingest "$INGEST_PORT"
wait_for "ingest to be ready" 90 curl -fsS -o /dev/null "http://127.0.0.1:$INGEST_PORT/health/ready"
mmctr import movielens "$DATA" --skip-bad-lines --no-progress ${MMCTR_QUALITY_LIMIT:+--limit "$MMCTR_QUALITY_LIMIT"} \
  | tee "$WORK/import.log"
read -r users movies impressions clicks < <(sed -nE \
  's/^([0-9]+) users, ([0-9]+) movies, ([0-9]+) impressions, ([0-9]+) clicks.*/\1 \2 \3 \4/p' "$WORK/import.log")
all_stored() {
  [[ "$(ch "SELECT count() FROM ml_events FINAL")" -ge $((impressions + clicks)) &&
    "$(ch "SELECT uniqExact(user_id) FROM ml_users")" -ge "$users" &&
    "$(ch "SELECT uniqExact(movie_id) FROM ml_movies")" -ge "$movies" ]]
}
wait_for "ingest to store $impressions impressions, $clicks clicks, $users users, $movies movies" 600 all_stored
# The split's boundaries: the first validation and the first test rating (the import's summary, dataset
# times) moved by the import's shift to event times.
split_ms() { # part
  local s; s=$(sed -nE "s/^  $1 +[0-9]+ ratings +([0-9TZ:-]+) .*/\1/p" "$WORK/import.log")
  shift_days=$(sed -nE 's/^event times are the ratings. times \+ ([0-9]+) days.*/\1/p' "$WORK/import.log")
  echo $(( $(date -u -d "$s" +%s) * 1000 + shift_days * 86400000 ))
}
train_end_ms=$(split_ms valid) val_end_ms=$(split_ms test)
echo "train_end_ms $train_end_ms, val_end_ms $val_end_ms"

step "point-in-time training set"
.venv/bin/mmctr-train build --train-end-ms "$train_end_ms" --val-end-ms "$val_end_ms" --out "$WORK/trainset" \
  > "$WORK/logs/build.log"
"$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); [print(f'  {s:5} {v[\"rows\"]:6} rows {v[\"positives\"]:6} clicks') for s,v in m['splits'].items()]" "$WORK/trainset/meta.json"

step "the same rows as CSV for the peer"
.venv/bin/mmctr-train export-csv --trainset "$WORK/trainset" --out "$WORK/csv"

# The two systems train side by side, one torch thread each (2 cores): equally loaded. First every grid point on
# the first seed; then the other seeds at every grid point (MMCTR_QUALITY_BUDGET=full, the default) or only at
# each model's point chosen on the first seed's validation value (=chosen: the same smaller budget on both sides).
# The peer prepares its data once for the whole run (fuxictr_peer.py reuses it while the CSV files match).
seeds=$("$PY" bench/quality/grid.py seeds | tr '\n' ' ')
first_seed=${seeds%% *} rest_seeds=$(echo "${seeds#* }" | xargs | tr ' ' ',')
peer() { # out-name, peer flags...
  local out=$1
  shift
  OMP_NUM_THREADS=1 "$PEER" bench/quality/fuxictr_peer.py "$WORK/csv" --work "$WORK/fuxictr-work" "$@" \
    > "$WORK/peer/$out.json" 2>> "$WORK/logs/peer.log"
  echo "  fuxictr $out: done"
}
ours() { # lr emb seed model
  local cfg="$WORK/configs/lr$1-emb$2-s$3.json" log="$WORK/logs/train-lr$1-emb$2-s$3-$4.log"
  "$PY" bench/quality/grid.py config "$1" "$2" "$3" "$cfg"
  OMP_NUM_THREADS=1 .venv/bin/mmctr-train train --model "$4" --config "$cfg" --trainset "$WORK/trainset" \
    --train-end-ms "$train_end_ms" --val-end-ms "$val_end_ms" > "$log" 2>&1
  grep -E '^\| (lr|autoint|din|qin) ' "$log" | awk '!seen[$0]++' | sed "s/^/  mmctr lr $1 emb $2 seed $3 /"
}
BUDGET="${MMCTR_QUALITY_BUDGET:-full}"
[[ "$BUDGET" == full || "$BUDGET" == chosen ]] || { echo "run.sh: MMCTR_QUALITY_BUDGET is full or chosen" >&2; exit 2; }
step "the grid on seed $first_seed: FuxiCTR DIN and AutoInt+ (in the background), mmctr LR, AutoInt+, DIN, QIN"
# shellcheck disable=SC2046 # the flags are words
peer "grid-s$first_seed" $("$PY" bench/quality/grid.py peer-args "$first_seed") &
peer_pid=$!
while read -r lr emb; do ours "$lr" "$emb" "$first_seed" all; done < <("$PY" bench/quality/grid.py list)
wait "$peer_pid"
if [[ -n "$rest_seeds" && "$BUDGET" == full ]]; then
  step "seeds $rest_seeds at every grid point, both systems"
  # shellcheck disable=SC2046
  peer "grid-rest" $("$PY" bench/quality/grid.py peer-args "$rest_seeds") &
  peer_pid=$!
  for seed in ${rest_seeds//,/ }; do
    while read -r lr emb; do ours "$lr" "$emb" "$seed" all; done < <("$PY" bench/quality/grid.py list)
  done
  wait "$peer_pid"
elif [[ -n "$rest_seeds" ]]; then
  "$PY" bench/quality/summarize.py choose "$MMCTR_REGISTRY" "$WORK/peer" > "$WORK/chosen.txt"
  step "seeds $rest_seeds at each model's point chosen on seed $first_seed: $(tr '\n' ';' < "$WORK/chosen.txt")"
  (
    while read -r system model lr emb; do
      if [[ $system == fuxictr ]]; then
        # shellcheck disable=SC2046
        peer "chosen-$model" --models "$model" $("$PY" bench/quality/grid.py peer-args "$rest_seeds" "$lr" "$emb")
      fi
    done < "$WORK/chosen.txt"
  ) &
  peer_pid=$!
  for seed in ${rest_seeds//,/ }; do
    while read -r system model lr emb; do
      if [[ $system == mmctr ]]; then ours "$lr" "$emb" "$seed" "$model"; fi
    done < "$WORK/chosen.txt"
  done
  wait "$peer_pid"
fi

step "results (each model's grid point chosen on validation AUC - log-loss, means over the seeds; budget $BUDGET)"
"$PY" bench/quality/summarize.py "$MMCTR_REGISTRY" "$WORK/peer" bench/results/quality-summary.json \
  "MovieLens-100k ($impressions ratings, time split 80/10/10)" "$COMMIT" "$WORK/trainset" | tee "$WORK/summary.txt"
best=$(sed -nE 's/^best (.+)$/\1/p' "$WORK/summary.txt")

step "served parity: $best promoted, served, the test period replayed through POST /v1/score"
.venv/bin/mmctr-train promote "$best"
# An offline replay, not a latency test: no deadline (nothing shed on a busy machine) and a Redis budget
# that a loaded machine meets (a missed one answers without history: degraded).
SCORER_DEFAULT_DEADLINE_MS=0 SCORER_REDIS_TIMEOUT_MS=2000 start_app scorer "$SCORER_PORT"
wait_for "the scorer to load $best" 120 curl -fsS -o /dev/null "http://127.0.0.1:$SCORER_PORT/health/ready"
PYTHONPATH=apps/trainer "$PY" bench/quality/replay.py "http://127.0.0.1:$SCORER_PORT" "$val_end_ms" \
  "$MMCTR_REGISTRY/$best" --sample "$REPLAY" | tee "$WORK/replay.json"
requests=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" "$WORK/replay.json")
all_logged() { [[ "$(ch "SELECT count() FROM score_log FINAL WHERE model_version = '$best'")" -ge "$requests" ]]; }
wait_for "the score log to hold the $requests replayed requests" 300 all_logged
.venv/bin/mmctr-train parity --model-version "$best" --quiet --json-out "$WORK/parity.json" || true
"$PY" - "$WORK/replay.json" "$WORK/parity.json" <<'EOF'
import json, sys
r, p = (json.load(open(f)) for f in sys.argv[1:])
print(f"served AUC {r['served_auc']:.4f} vs offline test AUC {r['offline_test_auc']:.4f} "
      f"(|Δ| {r['abs_diff_auc']:.4f}) over {r['requests']} requests, {r['degraded']} degraded; "
      f"served mean CTR {r['served_mean_ctr']:.4f}, observed {r['observed_ctr']:.4f}")
print(f"mmctr-train parity: {p.get('rows_checked')} requests, max |Δp| = {p.get('max_abs_diff')}")
EOF
echo "bench/quality/run.sh: $((SECONDS - t_start)) s"
