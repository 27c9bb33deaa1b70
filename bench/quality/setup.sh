#!/usr/bin/env bash
# Creates bench/quality/.venv-fuxictr: the FuxiCTR peer environment (PyPI fuxictr==2.3.10 and its
# dependencies). torch is not installed again: the project's .venv (scripts/setup-python.sh) already
# holds it (several GB with its CUDA libraries), so a .pth file appends that environment's
# site-packages after this one's; packages installed here take precedence over the project's.
# Idempotent: a stamp holds a hash of this script, so a second run with nothing changed only checks.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

HERE="$ROOT/bench/quality"
VENV="$HERE/.venv-fuxictr"
BASE_VENV="${MMCTR_BASE_VENV:-$ROOT/.venv}"
STAMP="$VENV/.stamp"
want="$(sha256sum "$HERE/setup.sh" | cut -d' ' -f1)"

check() { "$VENV/bin/python" -c 'import fuxictr, torch; print("fuxictr", fuxictr.__version__, "torch", torch.__version__)'; }
site_packages() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && check 2>/dev/null; then
  echo "$VENV is current"
  exit 0
fi
if [[ ! -x "$BASE_VENV/bin/python" ]]; then
  echo "setup.sh: $BASE_VENV/bin/python not found: run scripts/setup-python.sh first (it provides torch)" >&2
  exit 2
fi
[[ -x "$VENV/bin/python" ]] || "$BASE_VENV/bin/python" -m venv "$VENV"
# FuxiCTR's own dependencies first, without the .pth, so pip installs them here rather than
# counting the project's copies (and never touches those).
rm -f "$(site_packages "$VENV")/mmctr-base.pth"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# fuxictr 2.3.10 leaves its dependencies unpinned but calls polars.scan_csv(dtypes=...), an
# argument polars 2.0 removed: polars stays below 2.
"$VENV/bin/python" -m pip install --progress-bar off "fuxictr==2.3.10" "polars<2"
site_packages "$BASE_VENV" > "$(site_packages "$VENV")/mmctr-base.pth"
check
echo "$want" > "$STAMP"
