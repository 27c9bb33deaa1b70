#!/usr/bin/env bash
# Shared by scripts/*.sh: repo root, stack endpoints, step headers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Stack endpoints unless the caller already points elsewhere: the single-node stack's, or the file that
# MMCTR_ENDPOINTS_FILE names in deploy/local/ (the loopback cluster's cluster.env).
while IFS='=' read -r k v; do
  [[ "$k" =~ ^[A-Z0-9_]+$ && -z "${!k+x}" ]] && export "$k=$v"
done < "$ROOT/deploy/local/${MMCTR_ENDPOINTS_FILE:-stack.env}"
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
export PATH="$ROOT/bin:$ROOT/node_modules/.bin:$PATH"
step() { printf '\n==> %s\n' "$*"; }

# Fails with a clear message when the filesystem holding a path has less than the given GiB free, so a
# full disk shows as that rather than as an ENOSPC halfway through an install.
need_disk() { # path, GiB, what for
  local path="$1" gib="$2" what="$3" free_kib
  free_kib="$(df -Pk "$path" | awk 'NR == 2 { print $4 }')"
  if (( free_kib < gib * 1024 * 1024 )); then
    echo "not enough disk for $what: $((free_kib / 1024 / 1024)) GiB free on $(df -P "$path" | awk 'NR == 2 { print $6 }'), $gib GiB needed" >&2
    return 1
  fi
}

# A query on $CLICKHOUSE_DATABASE over HTTP (the demo and the benches).
ch() { curl -fsS "$CLICKHOUSE_URL/?database=$CLICKHOUSE_DATABASE" --data-binary "$1"; }
# Retries a command once a second until it succeeds or the timeout passes.
wait_for() { # description, timeout seconds, command...
  local what="$1" limit="$2" t0=$SECONDS; shift 2
  until "$@"; do
    (( SECONDS - t0 > limit )) && { echo "timed out waiting for $what" >&2; return 1; }
    sleep 1
  done
}
