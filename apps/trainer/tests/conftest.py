"""Shared fixtures: a fresh migrated ClickHouse database per test session (real server from the local
stack, deploy/local/stack.env), dropped at the end. Torch runs on the CPU with few threads."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from mmctr_trainer.ch import ClickHouse
from mmctr_trainer.features import REPO_ROOT

os.environ.setdefault("MMCTR_DEVICE", "cpu")


@pytest.fixture(scope="session")
def ch() -> ClickHouse:
    name = f"mmctr_trainer_test_{uuid.uuid4().hex[:8]}"
    client = ClickHouse.from_env(database=name)
    try:
        client.command("SELECT 1", database="default")
    except Exception as e:  # pragma: no cover - environment problem
        pytest.fail(f"ClickHouse is not reachable at {client.url} (start it with bash deploy/local/up): {e}")
    subprocess.run(
        [str(REPO_ROOT / "bin" / "mmctr"), "migrate", "--database", name],
        check=True,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
    )
    yield client
    client.command(f"DROP DATABASE IF EXISTS {name}", database="default")


@pytest.fixture(autouse=True, scope="session")
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="module")
def chdb_template(tmp_path_factory):
    """A chdb session holding the migrated tables once per module (the migrations render through node):
    (a client for a database name, the template database's name)."""
    from .test_modern_clickhouse import ChdbClickHouse, apply_migrations, chdb_session

    sess = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    name = f"mmctr_tmpl_{uuid.uuid4().hex[:8]}"
    apply_migrations(ChdbClickHouse(sess, name), name)
    yield lambda db: ChdbClickHouse(sess, db), name
    sess.close()
