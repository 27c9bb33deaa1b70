"""A tiny ClickHouse HTTP client (urllib only) that works on 18.16 and modern servers.

No server-side parameters: values are rendered client-side with `literal()` (strings escaped:
backslash, quote, NUL, newline, carriage return, tab). Results stream line by line (JSONEachRow).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .features import REPO_ROOT

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ClickHouseError(RuntimeError):
    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


# ClickHouse string-literal escapes: backslash, quote, NUL and the control characters that would break a line.
_ESCAPES = str.maketrans({"\\": "\\\\", "'": "\\'", "\x00": "\\0", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def escape_string(s: str) -> str:
    return "'" + s.translate(_ESCAPES) + "'"


def literal(v: Any) -> str:
    """A SQL literal for a Python value (str, int, float, bool, None, list/tuple)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"not a finite number: {v}")
        return repr(v)
    if isinstance(v, str):
        return escape_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    raise TypeError(f"no SQL literal for {type(v).__name__}")


def ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"bad identifier {name!r}")
    return name


def stack_env() -> dict[str, str]:
    """deploy/local/stack.env overridden by the process environment."""
    env: dict[str, str] = {}
    p = REPO_ROOT / "deploy" / "local" / "stack.env"
    if p.exists():
        for line in p.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.split("=", 1)
                env[k.strip()] = v.strip()
    for k in list(env) + ["CLICKHOUSE_URL", "CLICKHOUSE_DATABASE", "CLICKHOUSE_USER", "CLICKHOUSE_PASSWORD"]:
        if k in os.environ:
            env[k] = os.environ[k]
    return env


@dataclass
class ClickHouse:
    url: str = "http://127.0.0.1:8123"
    database: str = "default"
    user: str = "default"
    password: str = ""
    timeout_s: float = 600.0

    @staticmethod
    def from_env(database: str | None = None) -> ClickHouse:
        env = stack_env()
        return ClickHouse(
            url=env.get("CLICKHOUSE_URL", "http://127.0.0.1:8123"),
            database=database or env.get("CLICKHOUSE_DATABASE", "default"),
            user=env.get("CLICKHOUSE_USER", "default"),
            password=env.get("CLICKHOUSE_PASSWORD", ""),
        )

    def _open(self, sql: str, body: bytes | None = None, database: str | None = None):
        params = {"database": database or self.database}
        if body is None:
            data = sql.encode("utf-8")
        else:
            params["query"] = sql
            data = body
        req = urllib.request.Request(
            self.url.rstrip("/") + "/?" + urllib.parse.urlencode(params), data=data, method="POST"
        )
        req.add_header("X-ClickHouse-User", self.user)
        if self.password:
            req.add_header("X-ClickHouse-Key", self.password)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout_s)
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")
            m = re.search(r"Code: (\d+)", text)
            raise ClickHouseError(
                f"ClickHouse error: {text.strip()[:2000]}\nquery: {sql[:1000]}", int(m.group(1)) if m else None
            ) from None

    def command(self, sql: str, database: str | None = None) -> str:
        with self._open(sql, database=database) as r:
            return r.read().decode("utf-8")

    def rows(self, sql: str, database: str | None = None) -> Iterator[dict[str, Any]]:
        """Streams the rows of a SELECT as dicts (JSONEachRow); 64-bit integers come back as str."""
        with self._open(sql.rstrip().rstrip(";") + "\nFORMAT JSONEachRow", database=database) as r:
            for line in r:
                if line.strip():
                    yield json.loads(line)

    def all(self, sql: str, database: str | None = None) -> list[dict[str, Any]]:
        return list(self.rows(sql, database=database))

    def insert(self, table: str, rows: Sequence[dict[str, Any]], database: str | None = None) -> None:
        if not rows:
            return
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        cols = ", ".join(ident(c) for c in rows[0].keys())
        db = ident(database or self.database)
        with self._open(f"INSERT INTO {db}.{ident(table)} ({cols}) FORMAT JSONEachRow", body=body, database=db) as r:
            r.read()

    def server_version(self) -> str:
        return self.all("SELECT version() AS v")[0]["v"]


def migrations_dir() -> Path:
    return REPO_ROOT / "migrations"
