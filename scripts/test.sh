#!/usr/bin/env bash
# The test command: installs what is missing, starts the local stack, runs lint, type-check and every
# suite (unit, integration, e2e, trainer), prints each runner's summary and stops what it started.
# The cluster suites run last, on the loopback cluster (deploy/local/up --cluster), started if needed;
# MMCTR_TEST_CLUSTER=0 leaves them out. `--cluster`: the cluster suites only.
# Exits non-zero if anything failed.
# The cluster suites need the cluster's endpoints in the environment before lib.sh sets the stack's.
if [[ "${1:-}" == "--cluster" ]]; then MMCTR_ENDPOINTS_FILE=cluster.env; fi
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash scripts/setup.sh
if [[ "${1:-}" == "--cluster" ]]; then
  # The cluster suites (test/cluster/) against the loopback cluster, which is started if needed and
  # stopped again if it was started here.
  step "loopback cluster"
  bash deploy/local/status --cluster >/dev/null 2>&1 || {
    [[ "${MMCTR_KEEP_STACK:-0}" == "1" ]] || trap 'bash deploy/local/down --cluster' EXIT
  }
  bash deploy/local/up --cluster
  step "cluster tests"
  npx jest --selectProjects cluster --ci --runInBand --forceExit
  exit $?
fi
step "local stack"
started_here=0
bash deploy/local/status >/dev/null 2>&1 || started_here=1
bash deploy/local/up
if [[ "${MMCTR_KEEP_STACK:-0}" != "1" && $started_here == 1 ]]; then trap 'bash deploy/local/down' EXIT; fi

results=()
failed=0
run() {
  local name="$1"; shift
  step "$name"
  if "$@"; then results+=("PASS  $name"); else results+=("FAIL  $name"); failed=$((failed + 1)); fi
}

run "lint (eslint + prettier)" npm run -s lint
run "type-check" npm run -s typecheck
run "deployment files (Dockerfiles, compose, k8s manifests; offline)" bash scripts/validate-deploy.sh
run "unit tests" npx jest --selectProjects unit --ci
run "integration tests (real Kafka, ClickHouse, Redis)" npx jest --selectProjects integration --ci --runInBand --forceExit
run "e2e tests" npx jest --selectProjects e2e --ci --runInBand --forceExit --passWithNoTests
run "Python lint (ruff: trainer, benchmarks)" .venv/bin/ruff check apps/trainer bench
run "Python format (ruff: trainer, benchmarks)" .venv/bin/ruff format --check apps/trainer bench
if [[ -d apps/trainer/tests ]]; then
  run "trainer tests (pytest)" .venv/bin/python -m pytest apps/trainer/tests -q
fi
if [[ "${MMCTR_TEST_CLUSTER:-1}" == "1" ]]; then
  # A run of its own, without the single stack's endpoints exported above, so it takes cluster.env's.
  stack_vars=()
  while IFS='=' read -r k _; do [[ "$k" =~ ^[A-Z0-9_]+$ ]] && stack_vars+=(-u "$k"); done < deploy/local/stack.env
  run "cluster tests (loopback cluster: 3 Kafka, 2x2 ClickHouse, 3+3 Redis; faults injected)" \
    env "${stack_vars[@]}" bash scripts/test.sh --cluster
fi

step "summary"
printf '%s\n' "${results[@]}"
passed=$(( ${#results[@]} - failed ))
echo "suites: $passed passed, $failed failed"
exit $(( failed > 0 ))
