"""The storage DDL that `mmctr features apply` derives from the feature repositories (demo and ad-platform),
run on a modern ClickHouse (chdb, in process) and on the local server (18.16): the tables an empty database
gets, the columns and event type value a later version adds (rows written before read the defaults), and the
cluster rendering's syntax. The statements come from libs/feature-repo/src/storage/render-storage.cli.ts,
which uses the same functions as apply."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mmctr_trainer.ch import ClickHouse, ident
from mmctr_trainer.features import REPO_ROOT

chdb = pytest.importorskip("chdb", reason="chdb-core is in the trainer's dev extra: bash scripts/setup-python.sh")
from chdb import session as chdb_session  # noqa: E402

REPOS = ["feature-repos/demo", "feature-repos/ad-platform"]
ADD_COLUMN = re.compile(r"ADD COLUMN `(\w+)` (.+) DEFAULT (.+)$")

Run = Callable[[str], None]
Rows = Callable[[str], list[dict[str, Any]]]


def rendered(database: str, cluster: str | None = None) -> list[dict[str, Any]]:
    args = ["--database", database] + (["--cluster", cluster] if cluster else []) + REPOS
    out = subprocess.run(
        ["node", "-r", "./scripts/register.js", "libs/feature-repo/src/storage/render-storage.cli.ts", *args],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["repos"]


@pytest.fixture(params=["chdb", "server"])
def backend(request, tmp_path) -> Iterator[tuple[str, Run, Rows]]:
    name = f"mmctr_storage_{uuid.uuid4().hex[:8]}"
    if request.param == "chdb":
        sess = chdb_session.Session(str(tmp_path / "chdb"))

        def chdb_rows(sql: str) -> list[dict[str, Any]]:
            out = sess.query(sql, "JSONEachRow").bytes().decode("utf-8")
            return [json.loads(line) for line in out.splitlines() if line.strip()]

        sess.query(f"CREATE DATABASE {ident(name)}")
        yield name, lambda sql: sess.query(sql), chdb_rows
        sess.close()
        return
    ch = ClickHouse.from_env(database=name)
    ch.command(f"CREATE DATABASE {ident(name)}", database="default")
    try:
        yield name, lambda sql: ch.command(sql, database="default"), lambda sql: ch.all(sql, database="default")
    finally:
        ch.command(f"DROP DATABASE IF EXISTS {ident(name)}", database="default")


@pytest.mark.parametrize("repo", range(len(REPOS)))
def test_repository_storage_ddl_creates_and_evolves_the_tables(backend, repo: int) -> None:
    database, run, rows = backend
    r = rendered(database)[repo]
    db = ident(database)
    for sql in r["create"]:
        run(sql)
    # One row per table before the evolution: every column but the first reads its default.
    for table, cols in r["columns"].items():
        run(f"INSERT INTO {db}.{ident(table)} ({ident(cols[0]['name'])}) VALUES ('old')")
    assert r["evolve"], "the earlier version lacks columns and an event type"
    for sql in r["evolve"]:
        run(sql)

    for table, cols in r["columns"].items():
        described = rows(f"DESCRIBE TABLE {db}.{ident(table)}")
        # ADD COLUMN appends: the order differs from a table created whole, the columns do not.
        assert sorted((c["name"], c["type"]) for c in described) == sorted((c["name"], c["type"]) for c in cols), table
    for sql in r["evolve"]:
        added = ADD_COLUMN.search(sql)
        if not added:
            continue
        column, type_, default = added.groups()
        table = re.search(r"\.(\w+) ADD COLUMN", sql).group(1)
        old = rows(f"SELECT {ident(column)} AS v FROM {db}.{ident(table)}")
        expected = rows(f"SELECT CAST({default} AS {type_}) AS v")
        assert old == expected, sql

    events, newest = ident(r["events_table"]), r["event_types"][-1]
    run(f"INSERT INTO {db}.{events} (event_id, type) VALUES ('new', '{newest}')")
    assert rows(f"SELECT toString(type) AS t FROM {db}.{events} WHERE event_id = 'new'") == [{"t": newest}]


def test_cluster_storage_ddl_parses_on_a_modern_server() -> None:
    """Cluster rendering of the storage DDL (ON CLUSTER, Replicated*, Distributed sharded by the table's key; a
    column change drops and recreates the Distributed table) is valid modern ClickHouse syntax; EXPLAIN AST
    executes nothing."""
    sess = chdb_session.Session()
    try:
        statements = [s for r in rendered("mmctr", cluster="ctr_cluster") for s in r["create"] + r["evolve"]]
        assert any("Distributed(ctr_cluster, 'mmctr', 'ad_events_local', cityHash64(user_id))" in s for s in statements)
        for s in statements:
            assert "ON CLUSTER ctr_cluster" in s
            ast = str(sess.query("EXPLAIN AST " + s, "TSV"))
            assert re.match(r"(CreateQuery|AlterQuery|DropQuery) mmctr ", ast), ast[:200]
    finally:
        sess.close()
