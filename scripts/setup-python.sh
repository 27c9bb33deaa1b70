#!/usr/bin/env bash
# Creates the project's Python environment (.venv at the repo root) and installs the trainer
# (apps/trainer, editable, with its dev extras: pytest, ruff, chdb-core) from PyPI. Idempotent: a stamp file holds a hash of
# apps/trainer/pyproject.toml and of this script, so a second run with nothing changed is instant (a venv without
# the dev tools, e.g. one made before ruff joined the extra, is brought up to date;
# so is one where chdb does not import).
# The PyPI torch wheel brings CUDA libraries (about 6.5 GB installed, 3.5 GB downloaded); the trainer uses
# CUDA when a GPU is present and the CPU otherwise. Nothing goes to pip's cache: it would keep another
# copy of every wheel, and a rebuilt venv is rare (see the stamp).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY="${MMCTR_PYTHON:-python3}"
VENV="$ROOT/.venv"
STAMP="$VENV/.mmctr-trainer-stamp"
want="$(cat apps/trainer/pyproject.toml scripts/setup-python.sh | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -x "$VENV/bin/ruff" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] &&
  "$VENV/bin/python" -c 'import chdb' 2>/dev/null; then
  echo ".venv is current"
  exit 0
fi

if [[ ! -d "$VENV/lib" ]] || ! "$VENV/bin/python" -c 'import torch' 2>/dev/null; then
  need_disk "$ROOT" 11 "the Python environment (torch with its CUDA libraries)"
  need_disk "${TMPDIR:-/tmp}" 4 "pip's downloads"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  echo "creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --no-cache-dir --quiet --upgrade pip setuptools wheel
"$VENV/bin/python" -m pip install --no-cache-dir --progress-bar off -e "apps/trainer[dev]"
"$VENV/bin/python" -c 'import torch, onnx, onnxruntime, numpy, chdb; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), "onnxruntime", onnxruntime.__version__, "chdb", chdb.__version__)'
"$VENV/bin/ruff" --version
echo "$want" > "$STAMP"
