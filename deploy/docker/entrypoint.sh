#!/bin/sh
# Entry point of the mmctr image: the first argument names the component, the rest go to it.
#   ingest | scorer | score-log-sink | embedder | dashboard   long-running apps (HTTP on HTTP_PORT)
#   init                    migrations, then the feature repository (FEATURE_REPO, default the demo's),
#                           then the Kafka topics: run once before the apps and after each upgrade
#   mmctr <args>            the command line (migrate, features, topics, analytics finalize, retention, ...)
#   probe <path>            exit 0 when GET http://127.0.0.1:$HTTP_PORT<path> answers 2xx (healthchecks)
set -eu
# MMCTR_HOME: where the repository lies (the image keeps it in /app).
cd "${MMCTR_HOME:-/app}"
app="${1:-help}"
[ "$#" -gt 0 ] && shift
run_app() { exec node "$@" -r ./scripts/register.js "apps/$app/src/main.ts"; }

case "$app" in
  # A 64 MiB young generation for ingest's per-message garbage (docs/ingestion.md).
  ingest) run_app --max-semi-space-size=64 ;;
  scorer | embedder | dashboard) run_app ;;
  score-log-sink)
    # The scorer's process with only its Kafka -> score_log consumer doing work: it answers no
    # scoring traffic, so it logs no scores and preloads no item cache.
    export SCORE_LOG_SINK_ENABLED=true SCORER_SCORE_LOG_ENABLED=false
    export SCORER_ITEM_CACHE_SOURCE="${SCORER_ITEM_CACHE_SOURCE:-none}"
    app=scorer
    run_app
    ;;
  init)
    bin/mmctr migrate
    bin/mmctr features apply "${FEATURE_REPO:-feature-repos/demo}"
    exec bin/mmctr topics
    ;;
  mmctr) exec bin/mmctr "$@" ;;
  probe)
    exec node -e '
      fetch(`http://127.0.0.1:${process.env.HTTP_PORT || 3000}${process.argv[1]}`, { signal: AbortSignal.timeout(4000) })
        .then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));' "${1:?probe needs a path, e.g. /health/ready}"
    ;;
  help | --help | -h)
    sed -n '2,7p' "$0"
    ;;
  *)
    echo "mmctr image: unknown component '$app' (expected ingest, scorer, score-log-sink, embedder, dashboard, init, mmctr, probe)" >&2
    exit 64
    ;;
esac
