"""Cross-checks deploy/ against the repository, beyond what the schemas can see.

The Kubernetes and Compose schemas accept any image, command, probe path or variable name; this
checks that each one is something the project really builds, starts, serves or reads:
- every manifest in deploy/k8s is listed in kustomization.yaml, and every image it names is listed
  there with the tag the manifests use;
- the project's images are the ones its Dockerfiles build (mmctr: Dockerfile, mmctr-trainer:
  Dockerfile.trainer), and compose builds each from the right file;
- each container's command is a component of the image's entry point (deploy/docker/entrypoint.sh)
  or a subcommand of `mmctr-train`;
- each HTTP probe asks a route an app serves (its Nest controllers) on a port the container names;
- each variable set (ConfigMap, Secret, env, compose environment) is one the code reads, and the apps
  get every connection variable libs/config requires;
- claims, volumes and compose dependencies refer to things that exist;
- every metric an alerting rule (deploy/prometheus/alerts.yml) reads is one an app declares, and every
  label it matches on is one that metric has; every recording rule's series it reads (a name with a
  colon) is one a rule of the same file records.
Usage: check_deploy.py [REPO_ROOT] [--k8s DIR] [--compose FILE] [--alerts FILE]; prints each problem,
exits 1 if any.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

IMAGES = {"mmctr": "Dockerfile", "mmctr-trainer": "Dockerfile.trainer"}
# An app's metric table entry (libs/observability's MetricTable): its name, then its labels, if any.
METRIC_DECLARATION = re.compile(r"name: '(mmctr_\w+)',\n\s*help: .*\n(?:\s*labels: \[([^\]]*)\])?")
# A metric built with metricsOn (a gauge read at scrape time): `.gauge('name', 'help', [labels], ...)`.
METRIC_CONSTRUCTION = re.compile(r"\.(?:counter|gauge|histogram)\(\s*'(mmctr_\w+)',\s*'[^']*',\s*(?:\[([^\]]*)\])?")
# The prefix an app gives prom-client's default metrics: `collectDefaultMetrics({ ..., prefix: 'p' })` or
# libs/observability's `defaultMetricsPrefix: 'p'`.
DEFAULT_METRICS_PREFIX = re.compile(r"(?:defaultMetricsPrefix|collectDefaultMetrics\(\{[^}]*\bprefix): '(mmctr_\w+)'")
# prom-client 15's default metrics (collectDefaultMetrics on Linux) and their labels; no source declares them.
DEFAULT_METRICS: dict[str, frozenset[str]] = {
    **dict.fromkeys(
        [
            *(f"process_{m}" for m in ("cpu_user_seconds_total", "cpu_system_seconds_total", "cpu_seconds_total")),
            *(f"process_{m}" for m in ("start_time_seconds", "resident_memory_bytes", "virtual_memory_bytes")),
            *(f"process_{m}" for m in ("heap_bytes", "open_fds", "max_fds")),
            "nodejs_eventloop_lag_seconds",
            *(f"nodejs_eventloop_lag_{s}_seconds" for s in ("min", "max", "mean", "stddev", "p50", "p90", "p99")),
            *(f"nodejs_active_{m}_total" for m in ("resources", "handles", "requests")),
            "nodejs_heap_size_total_bytes",
            "nodejs_heap_size_used_bytes",
            "nodejs_external_memory_bytes",
        ],
        frozenset(),
    ),
    **{f"nodejs_active_{m}": frozenset({"type"}) for m in ("resources", "handles", "requests")},
    **{f"nodejs_heap_space_size_{m}_bytes": frozenset({"space"}) for m in ("total", "used", "available")},
    "nodejs_version_info": frozenset({"version", "major", "minor", "patch"}),
    "nodejs_gc_duration_seconds": frozenset({"kind"}),
}
# A metric in a PromQL expression, with its label matchers if it has some (not part of a recorded name).
METRIC_SELECTOR = re.compile(r"(?<![\w:])(mmctr_\w+)(?![\w:])(?:\{([^}]*)\})?")
# A recording rule's series (level:metric:operations; a metric name has no colon). Run on the expression
# without its string literals, whose label values may hold colons; a subquery's [1h:5m] starts with a digit.
RECORDED_SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_]\w*:[\w:]*)")
STRING_LITERAL = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`")
HISTOGRAM_SERIES = ("_bucket", "_count", "_sum")
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"instance", "job"}
# libs/config's connection variables without a default: an app without one refuses to start.
REQUIRED_APP_VARS = {"KAFKA_BROKERS", "CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "CLICKHOUSE_USER", "REDIS_URL"}
SOURCE_GLOBS = ["apps/*/src/**/*.ts", "libs/*/src/**/*.ts", "tools/cli/src/**/*.ts", "apps/trainer/mmctr_trainer/*.py"]


class Repo:
    """What the repository builds, starts, serves and reads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        sources = [p for g in SOURCE_GLOBS for p in root.glob(g) if ".spec." not in p.name]
        texts = {p: p.read_text(encoding="utf-8") for p in sources}
        entrypoint = (root / "deploy/docker/entrypoint.sh").read_text(encoding="utf-8")
        self.variables = {v for t in [*texts.values(), entrypoint] for v in re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", t)}
        self.routes = {r for p, t in texts.items() if p.suffix == ".ts" for r in nest_routes(t)}
        labels = re.findall(r"^  ([\w-]+(?: \| [\w-]+)*)\)", entrypoint, flags=re.MULTILINE)
        self.components = {c for label in labels for c in label.split(" | ")} - {"help", "--help", "-h", "*"}
        cli = (root / "apps/trainer/mmctr_trainer/cli.py").read_text(encoding="utf-8")
        self.train_commands = set(re.findall(r'_command\(\s*sub,\s*"([\w-]+)"', cli))
        self.metrics = {
            m[1]: set(re.findall(r"'(\w+)'", m[2] or ""))
            for t in texts.values()
            for pattern in (METRIC_DECLARATION, METRIC_CONSTRUCTION)
            for m in pattern.finditer(t)
        }
        for prefix in {p for t in texts.values() for p in DEFAULT_METRICS_PREFIX.findall(t)}:
            self.metrics.update({prefix + name: set(labels) for name, labels in DEFAULT_METRICS.items()})

    def command_problem(self, image: str, args: list[str]) -> str | None:
        known = self.components if image == "mmctr" else self.train_commands
        if not args:
            return f"{image} needs a command (one of {', '.join(sorted(known))})"
        if args[0] not in known:
            return f"{image}: unknown command {args[0]!r} (expected one of {', '.join(sorted(known))})"
        return None


def nest_routes(source: str) -> set[str]:
    """GET routes of the controllers in one file: @Controller('prefix') then @Get('path')."""
    routes: set[str] = set()
    prefix = ""
    for kind, arg in re.findall(r"@(Controller|Get)\(\s*(?:'([^']*)')?", source):
        if kind == "Controller":
            prefix = arg
        else:
            routes.add("/" + "/".join(part for part in (prefix, arg) if part))
    return routes


def split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return name, tag


class Checker:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def check_variables(self, where: str, names: set[str]) -> None:
        for name in sorted(names - self.repo.variables):
            self.problem(where, f"variable {name} is read by no app (misspelt?)")

    def check_project_image(self, where: str, image: str, args: list[str]) -> str | None:
        name, _tag = split_image(image)
        if name.split("/")[-1] not in IMAGES:
            return None
        short = name.split("/")[-1]
        if not (self.repo.root / IMAGES[short]).is_file():
            self.problem(where, f"image {image}: {IMAGES[short]} does not exist")
        message = self.repo.command_problem(short, args)
        if message:
            self.problem(where, message)
        return short

    # --- Kubernetes -------------------------------------------------------------------------------

    def check_k8s(self, k8s: Path) -> None:
        docs = {
            p: [d for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d] for p in sorted(k8s.glob("*.yaml"))
        }
        kustomization = docs.pop(k8s / "kustomization.yaml", [{}])[0]
        listed = set(kustomization.get("resources", []))
        for p in docs:
            if p.name not in listed:
                self.problem(str(p), "not listed in kustomization.yaml resources")
        for name in sorted(listed - {p.name for p in docs}):
            self.problem(str(k8s / "kustomization.yaml"), f"lists {name}, which does not exist")
        tags = {i["name"]: i.get("newTag") for i in kustomization.get("images", [])}
        config_keys: set[str] = set()
        claims = {d["metadata"]["name"] for ds in docs.values() for d in ds if d["kind"] == "PersistentVolumeClaim"}
        for p, ds in docs.items():
            for d in ds:
                where = f"{p} {d['kind']}/{d['metadata']['name']}"
                if d["kind"] in ("ConfigMap", "Secret"):
                    keys = set(d.get("data") or {}) | set(d.get("stringData") or {})
                    config_keys |= keys
                    self.check_variables(where, keys)
                pod = pod_spec(d)
                if pod is not None:
                    self.check_pod(where, pod, tags, claims)
        missing = REQUIRED_APP_VARS - config_keys
        if missing:
            self.problem(str(k8s), f"no ConfigMap or Secret sets {', '.join(sorted(missing))}")

    def check_pod(self, where: str, pod: dict, tags: dict, claims: set[str]) -> None:
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            if claim and claim not in claims:
                self.problem(where, f"volume {v['name']} claims {claim}, which no manifest defines")
        for c in pod["containers"]:
            name, tag = split_image(c["image"])
            if name not in tags:
                self.problem(where, f"image {name} is not listed in kustomization.yaml images")
            elif tags[name] and tag != tags[name]:
                self.problem(where, f"image {c['image']}: kustomization.yaml tags it {tags[name]}")
            self.check_project_image(where, c["image"], c.get("args") or c.get("command") or [])
            self.check_variables(where, {e["name"] for e in c.get("env", [])})
            ports = {p.get("name") for p in c.get("ports", [])} | {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = (c.get(probe) or {}).get("httpGet")
                if get is None:
                    continue
                if get["path"] not in self.repo.routes:
                    self.problem(where, f"{probe} asks {get['path']}, which no app serves")
                if get["port"] not in ports:
                    self.problem(where, f"{probe} port {get['port']} is not a port of the container")
            for m in c.get("volumeMounts", []):
                if m["name"] not in volumes:
                    self.problem(where, f"mount {m['name']} has no volume")

    # --- Alerting rules -----------------------------------------------------------------------------

    def check_alerts(self, path: Path) -> None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = [rule for group in doc["groups"] for rule in group["rules"]]
        recorded = {rule["record"] for rule in rules if "record" in rule}
        for rule in rules:
            where = f"{path} {rule.get('alert') or rule.get('record')}"
            for name, matchers in METRIC_SELECTOR.findall(rule["expr"]):
                self.check_selector(where, name, matchers)
            for name in RECORDED_SELECTOR.findall(STRING_LITERAL.sub('""', rule["expr"])):
                if name not in recorded:
                    self.problem(where, f"series {name} is recorded by no rule of {path.name} (misspelt?)")

    def check_selector(self, where: str, name: str, matchers: str) -> None:
        base = next((name[: -len(s)] for s in HISTOGRAM_SERIES if name.endswith(s)), name)
        labels = self.repo.metrics.get(name, self.repo.metrics.get(base))
        if labels is None:
            self.problem(where, f"metric {name} is exported by no app (misspelt?)")
            return
        known = labels | TARGET_LABELS | ({"le"} if name.endswith("_bucket") else set())
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers):
            if label not in known:
                self.problem(
                    where, f"metric {name} has no label {label} (it has {', '.join(sorted(labels)) or 'none'})"
                )

    # --- Compose ----------------------------------------------------------------------------------

    def check_compose(self, path: Path) -> None:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        services, volumes = doc.get("services", {}), set(doc.get("volumes") or {})
        for name, s in services.items():
            where = f"{path} service {name}"
            for dep in s.get("depends_on") or []:
                if dep not in services:
                    self.problem(where, f"depends on {dep}, which is not a service")
            for v in s.get("volumes") or []:
                source = v.split(":")[0] if isinstance(v, str) else v.get("source")
                if source and not source.startswith((".", "/")) and source not in volumes:
                    self.problem(where, f"volume {source} is not declared under volumes")
            self.check_compose_app(where, s)

    def check_compose_app(self, where: str, s: dict) -> None:
        image = self.check_project_image(where, s.get("image", ""), list(s.get("command") or []))
        if image is None:
            return
        build = s.get("build") or {}
        if build.get("dockerfile") != IMAGES[image]:
            self.problem(where, f"image {image} is built from {IMAGES[image]}, not {build.get('dockerfile')}")
        env = set(s.get("environment") or {})
        self.check_variables(where, env)
        if image == "mmctr" and REQUIRED_APP_VARS - env:
            self.problem(where, f"does not set {', '.join(sorted(REQUIRED_APP_VARS - env))}")
        test = (s.get("healthcheck") or {}).get("test") or []
        if test[1:3] == ["mmctr-app", "probe"] and test[3] not in self.repo.routes:
            self.problem(where, f"healthcheck asks {test[3]}, which no app serves")


def pod_spec(doc: dict) -> dict | None:
    spec = doc.get("spec") or {}
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return (spec.get("template") or {}).get("spec")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default=".")
    parser.add_argument("--k8s", help="manifest folder (default deploy/k8s)")
    parser.add_argument("--compose", help="compose file (default deploy/docker-compose.yml)")
    parser.add_argument("--alerts", help="alerting rules (default deploy/prometheus/alerts.yml)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    checker = Checker(Repo(root))
    checker.check_k8s(Path(args.k8s) if args.k8s else root / "deploy/k8s")
    checker.check_compose(Path(args.compose) if args.compose else root / "deploy/docker-compose.yml")
    checker.check_alerts(Path(args.alerts) if args.alerts else root / "deploy/prometheus/alerts.yml")
    for p in checker.problems:
        print(p, file=sys.stderr)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
