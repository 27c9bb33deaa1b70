#!/usr/bin/env bash
# Shared by scripts/*.sh: repo root, stack endpoints, step headers.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Stack endpoints unless the caller already points elsewhere.
while IFS='=' read -r k v; do
  [[ "$k" =~ ^[A-Z0-9_]+$ && -z "${!k+x}" ]] && export "$k=$v"
done < "$ROOT/deploy/local/stack.env"
export ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"
export PATH="$ROOT/bin:$ROOT/node_modules/.bin:$PATH"
step() { printf '\n==> %s\n' "$*"; }
