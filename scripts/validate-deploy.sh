#!/usr/bin/env bash
# Validates the deployment files offline (no Docker, no cluster), in a few seconds:
#   - Dockerfile, Dockerfile.trainer: hadolint (any finding fails, "info" included);
#   - deploy/k8s/*.yaml: the Kubernetes JSON schemas (kubernetes-validate --strict: unknown fields
#     fail) of the oldest and newest versions in K8S_VERSIONS;
#   - deploy/docker-compose.yml: the Compose Specification schema and dclint's rules (warnings fail);
#   - deploy/prometheus/alerts.yml: promtool check rules, and promtool test rules (alerts.test.yml: each
#     alert fires on the series that should raise it, and not on healthy ones);
#   - deploy/validate/check_deploy.py: images, commands, probe paths, variables, claims, compose
#     dependencies and the alerts' metrics and labels against what the repository builds, starts,
#     serves, reads and exports;
#   - each validator rejects the broken files in deploy/validate/fixtures (so none passes vacuously).
# Prints each failure with its file; exits non-zero if any. Installs its tools (setup-deploy-tools.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash scripts/setup-deploy-tools.sh >/dev/null

TOOLS="$ROOT/.cache/deploy-tools"
PY="$TOOLS/venv/bin/python"
K8S_VERSIONS=(1.30.0 1.37.0)
FIXTURES=deploy/validate/fixtures
passed=0 failed=0
pass() { echo "ok    $*"; passed=$((passed + 1)); }
fail() { echo "FAIL  $*"; failed=$((failed + 1)); }

# check <name> <command...>: the command must succeed; its output is shown when it does not.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then pass "$name"; else fail "$name"; printf '%s\n' "$out" | sed 's/^/      /'; fi
}
# reject <name> <expected text> <command...>: the command must fail and say the expected text.
reject() {
  local name="$1" expected="$2" out
  shift 2
  if out="$("$@" 2>&1)"; then
    fail "$name: accepted a broken file"
  elif [[ "$out" != *"$expected"* ]]; then
    fail "$name: failed without naming '$expected'"
    printf '%s\n' "$out" | sed 's/^/      /'
  else
    pass "$name"
  fi
}
# kubernetes-validate only warns (exit 0) for a kind it has no schema for, e.g. a misspelt one.
k8s_validate() {
  local out rc=0
  out="$("$TOOLS/venv/bin/kubernetes-validate" --strict --quiet "$@" 2>&1)" || rc=$?
  printf '%s\n' "$out"
  [[ $rc == 0 && "$out" != *WARN* && "$out" != *ERROR* ]]
}

manifests=()
for f in deploy/k8s/*.yaml; do [[ "$(basename "$f")" != kustomization.yaml ]] && manifests+=("$f"); done

check "hadolint Dockerfile Dockerfile.trainer" "$TOOLS/venv/bin/hadolint" --failure-threshold info Dockerfile Dockerfile.trainer
for v in "${K8S_VERSIONS[@]}"; do
  check "kubernetes $v schemas: ${#manifests[@]} manifests in deploy/k8s" k8s_validate -k "$v" "${manifests[@]}"
done
check "compose schema + dclint: deploy/docker-compose.yml" \
  "$TOOLS/node_modules/.bin/dclint" --color false -c deploy/validate/dclint.json --max-warnings 0 deploy/docker-compose.yml
check "promtool check rules: deploy/prometheus/alerts.yml" "$TOOLS/bin/promtool" check rules deploy/prometheus/alerts.yml
check "promtool test rules: deploy/prometheus/alerts.test.yml" "$TOOLS/bin/promtool" test rules deploy/prometheus/alerts.test.yml
check "cross-checks against the repository (check_deploy.py)" "$PY" deploy/validate/check_deploy.py "$ROOT"
check "check_deploy.py lint (ruff)" "$TOOLS/venv/bin/ruff" check --config apps/trainer/pyproject.toml deploy/validate
check "check_deploy.py format (ruff)" "$TOOLS/venv/bin/ruff" format --check --config apps/trainer/pyproject.toml deploy/validate

reject "kubernetes-validate rejects a misspelt field" "'readinesProbe' was unexpected" \
  k8s_validate "$FIXTURES/k8s/deployment.yaml"
reject "dclint rejects an unknown service key" "invalid-schema" \
  "$TOOLS/node_modules/.bin/dclint" --color false -c deploy/validate/dclint.json "$FIXTURES/docker-compose.yml"
reject "promtool rejects a broken expression" "could not parse expression" \
  "$TOOLS/bin/promtool" check rules "$FIXTURES/alerts.yml"
reject "check_deploy.py rejects the broken fixtures" "variable SCORER_API_KEY is read by no app" \
  "$PY" deploy/validate/check_deploy.py "$ROOT" --k8s "$FIXTURES/k8s" --compose "$FIXTURES/docker-compose.yml"
reject "check_deploy.py rejects an alert on a metric no app exports" "mmctr_scorer_requests_total is exported by no app" \
  "$PY" deploy/validate/check_deploy.py "$ROOT" --alerts "$FIXTURES/alerts.yml"
reject "check_deploy.py rejects an alert matching a label its metric lacks" "has no label reson" \
  "$PY" deploy/validate/check_deploy.py "$ROOT" --alerts "$FIXTURES/alerts.yml"
reject "check_deploy.py rejects an alert on a series no rule records" "job_instance:mmctr_targets:known is recorded by no rule" \
  "$PY" deploy/validate/check_deploy.py "$ROOT" --alerts "$FIXTURES/alerts.yml"
if ((failed)); then echo "deploy validation: $failed of $((passed + failed)) checks failed"; else echo "deploy validation: all $passed checks passed"; fi
exit $((failed > 0))
