"""Model registry: one artifact folder per version under a root on local disk, one row per status change
in ClickHouse `models` (ReplacingMergeTree(updated_ms); read through the `models_current` view). The only module
that reads or writes the registry tables (their SQL is in store.py)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import store
from .ch import ClickHouse, ClickHouseError
from .features import REPO_ROOT


def registry_root(root: str | os.PathLike[str] | None = None) -> Path:
    return Path(root or os.environ.get("MMCTR_REGISTRY") or REPO_ROOT / ".local" / "registry").resolve()


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if rev.returncode != 0:
            return "unknown"
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def new_version(model_type: str) -> str:
    return f"{model_type}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def write_artifact(root: Path, version: str, files: dict[str, Path], documents: dict[str, Any]) -> Path:
    """Copies files (model.onnx, model.int8.onnx, ...) and writes JSON documents into root/version/."""
    folder = root / version
    if folder.exists():
        raise FileExistsError(f"{folder} exists")
    tmp = root / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, src in files.items():
        shutil.copyfile(src, tmp / name)
    for name, doc in documents.items():
        (tmp / name).write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.rename(folder)
    return folder


class RegistryUnreachable(RuntimeError):
    """The ClickHouse `models` table cannot be reached: checked before training so a run does not fail at its end."""


def check_reachable(ch: ClickHouse, timeout_s: float = 10.0) -> None:
    """Raises RegistryUnreachable, naming the server, the database and the cause, when `models` cannot be read."""
    try:
        store.probe_models(replace(ch, timeout_s=timeout_s))
    except (urllib.error.URLError, OSError, ClickHouseError) as e:
        cause = getattr(e, "reason", None) or e
        raise RegistryUnreachable(
            f"the model registry ({ch.database}.models on ClickHouse at {ch.url}) is not reachable: "
            f"{str(cause).splitlines()[0]}. Start the local stack (bash deploy/local/up), point "
            "--clickhouse-url / --database at a migrated database, or pass --no-register to write the artifact "
            "without registering it."
        ) from None


def _now_ms(ch: ClickHouse, version: str) -> int:
    """A fresh updated_ms, strictly above the version's latest row (so the newest status always wins)."""
    return max(int(time.time() * 1000), store.model_latest_updated_ms(ch, version) + 1)


def register(
    ch: ClickHouse,
    *,
    version: str,
    model_type: str,
    artifact_uri: str,
    feature_spec_version: str,
    metrics: dict[str, Any],
    train_from_ms: int,
    train_to_ms: int,
    git_revision: str,
    status: str = "candidate",
) -> None:
    store.insert_model_rows(
        ch,
        [
            {
                "version": version,
                "model_type": model_type,
                "status": status,
                "artifact_uri": artifact_uri,
                "feature_spec_version": feature_spec_version,
                "metrics": json.dumps(metrics, default=str),
                "train_from_ms": int(train_from_ms),
                "train_to_ms": int(train_to_ms),
                "git_rev": git_revision,
                "created_at": int(time.time()),
                "updated_ms": _now_ms(ch, version),
            }
        ],
    )


def current(ch: ClickHouse) -> list[dict[str, Any]]:
    """Every version's current row, oldest first."""
    return store.models_current(ch)


def artifact_uri(ch: ClickHouse, version: str) -> str | None:
    """The registered artifact_uri of `version` (None when it is not registered)."""
    return next((str(r["artifact_uri"]) for r in current(ch) if r["version"] == version), None)


def production_version(ch: ClickHouse) -> str | None:
    """The version promoted last among those in production (None when there is none)."""
    prod = [r for r in current(ch) if r["status"] == "production"]
    return str(max(prod, key=lambda r: int(r["latest_updated_ms"]))["version"]) if prod else None


def _status_row(row: dict[str, Any], status: str, updated_ms: int) -> dict[str, Any]:
    return {
        "version": row["version"],
        "model_type": row["model_type"],
        "status": status,
        "artifact_uri": row["artifact_uri"],
        "feature_spec_version": row["feature_spec_version"],
        "metrics": row["metrics"],
        "train_from_ms": int(row["train_from_ms"]),
        "train_to_ms": int(row["train_to_ms"]),
        "git_rev": row["git_rev"],
        "created_at": int(row["created_at"]),
        "updated_ms": updated_ms,
    }


def promote(ch: ClickHouse, version: str) -> list[str]:
    """Makes `version` production and retires the previous production version(s). Returns the retired ones."""
    rows = {r["version"]: r for r in current(ch)}
    if version not in rows:
        raise KeyError(f"no model version {version!r} in {ch.database}.models")
    if rows[version]["status"] == "retired":
        pass  # a retired version may be promoted again (rollback)
    retired = [v for v, r in rows.items() if r["status"] == "production" and v != version]
    new_rows = [_status_row(rows[version], "production", _now_ms(ch, version))]
    new_rows += [_status_row(rows[v], "retired", _now_ms(ch, v)) for v in retired]
    store.insert_model_rows(ch, new_rows)
    return retired


def format_list(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no models registered"
    out = [f"{'version':<34} {'type':<8} {'status':<10} {'test AUC':>8}  created (UTC)        artifact"]
    for r in rows:
        try:
            auc = json.loads(r["metrics"] or "{}").get("test", {}).get("auc")
        except ValueError:
            auc = None
        created = datetime.fromtimestamp(int(r["created_at"]), timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        out.append(
            f"{r['version']:<34} {r['model_type']:<8} {r['status']:<10} "
            f"{(f'{auc:.4f}' if isinstance(auc, (int, float)) else '—'):>8}  {created}  {r['artifact_uri']}"
        )
    return "\n".join(out)
