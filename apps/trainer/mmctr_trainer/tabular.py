"""Training on a user's own tabular CTR file (CSV), one row = one candidate.

The columns are described as a feature repository (`tabular_repo`: one entity `row`, an attribute and a feature per
column) and go through the repository's machinery like any other: the loader's checks, model_layout, the slot
encoders (slots.py) and the encoders the trainer fits on the training split. Column kinds:

- categorical (`--fields`): a string attribute, a hashed categorical feature (with `min_count`, its exact vocabulary
  is fitted on the training split: values seen at least min_count times get their own row, the rest share row 0);
- numeric (`--numeric`): a float attribute (default 0, the value of an empty cell), a numeric feature with the
  transform `standardize` (fitted on the training split), `log1p` or `none`;
- multi-valued (`--multi`): a string_list attribute (the cell split on `sep`), a multi_categorical feature pooled
  by `pooling` over its first max_length values.

The layout has only candidate inputs: cand_cat, cand_num and cand_multi, each when a column uses it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .data_source import DataSource
from .feature_layout import model_layout
from .feature_repo import parse_feature_repo
from .schema import ModelSchema
from .slots import empty_inputs, encode_categorical, encode_multi, encode_numeric

SPLITS = ("train", "val", "test")
# The values a split column may hold (case and surrounding blanks ignored).
SPLIT_VALUES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
NUMERIC_TRANSFORMS = ("standardize", "log1p", "none")
POOLINGS = ("mean", "sum", "max")
CLICK = ("1", "true", "yes", "click", "clicked")
NO_CLICK = ("0", "false", "no")
ENTITY = "row"


def _time_key(v: str) -> float | str:
    try:
        return float(v)
    except ValueError:
        return v  # ISO-8601 strings sort lexicographically


class _Cell:
    """Where a value came from, for the message that refuses it: file, line and column."""

    def __init__(self, path: str | Path, line: int, column: str):
        self.where = f"{path} line {line}, column {column!r}"

    def error(self, value: str, why: str) -> ValueError:
        return ValueError(f"{self.where}: {value!r} {why}")


def _label(value: str, cell: _Cell) -> float:
    """1.0 for a click (1 / true / yes / click / clicked or a number > 0), 0.0 for none (0 / false / no or a number
    <= 0); anything else is refused."""
    v = value.strip().lower()
    if v in CLICK or v in NO_CLICK:
        return 1.0 if v in CLICK else 0.0
    try:
        x = float(v)
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        click, no_click = " / ".join(CLICK), " / ".join(NO_CLICK)
        raise cell.error(
            value, f"is not a label ({click} or a number > 0 is a click; {no_click} or a number <= 0 is not)"
        )
    return 1.0 if x > 0 else 0.0


def _number(value: str, cell: _Cell) -> float | None:
    """A numeric cell: None when empty (missing: the attribute's default, 0), else a finite number."""
    v = value.strip()
    if not v:
        return None
    try:
        x = float(v)
    except ValueError:
        raise cell.error(value, "is not a number (an empty cell is a missing value)") from None
    if not math.isfinite(x):
        raise cell.error(value, "is not a finite number")
    return x


def feature_name(column: str) -> str:
    """A column's repository name: lower case, every run of other characters than a-z, 0-9 and _ one `_`, and
    `c_` in front of one that does not start with a letter (`Price ($)` -> `price`, `C1` -> `c1`, `2nd` -> `c_2nd`)."""
    name = re.sub(r"[^a-z0-9_]+", "_", column.strip().lower()).strip("_")
    if not re.match(r"[a-z]", name):
        name = f"c_{name}"
    return name[:63]


def parse_numeric(spec: str | None) -> dict[str, str]:
    """`price:log1p,age` -> {"price": "log1p", "age": "standardize"} (standardize when no transform is named)."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in (spec or "").split(",")):
        if not item:
            continue
        column, _, transform = (p.strip() for p in item.partition(":"))
        transform = transform or "standardize"
        if transform not in NUMERIC_TRANSFORMS:
            raise ValueError(
                f"--numeric {item}: unknown transform {transform!r}; one of {', '.join(NUMERIC_TRANSFORMS)}"
            )
        out[column] = transform
    return out


def parse_multi(spec: str | None) -> dict[str, int | None]:
    """`genres,tags:8` -> {"genres": None, "tags": 8}: the values kept per row (None: the longest list of the
    training split)."""
    out: dict[str, int | None] = {}
    for item in (s.strip() for s in (spec or "").split(",")):
        if not item:
            continue
        column, _, length = (p.strip() for p in item.partition(":"))
        if length and not (length.isdigit() and int(length) >= 1):
            raise ValueError(f"--multi {item}: the max length must be a whole number >= 1, not {length!r}")
        out[column] = int(length) if length else None
    return out


def _feature_names(
    label: str, fields: list[str], numeric: Mapping[str, Any], multi: Mapping[str, Any]
) -> dict[str, str]:
    """column -> feature name of every feature column; a column named twice, the label as a feature or two columns
    with the same name are refused."""
    columns = [*fields, *numeric, *multi]
    if not columns:
        raise ValueError("no feature columns: give --fields, --numeric and / or --multi")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    if twice:
        raise ValueError(f"column(s) {twice} named more than once across --fields, --numeric and --multi")
    if label in columns:
        raise ValueError(f"the label column {label!r} cannot be a feature")
    names: dict[str, str] = {}
    for c in columns:
        name = feature_name(c)
        clash = next((o for o, n in names.items() if n == name), None)
        if clash is not None:
            raise ValueError(f"columns {clash!r} and {c!r} both become the feature name {name!r}; rename one")
        names[c] = name
    return names


def tabular_repo(
    fields: list[str],
    buckets: int,
    numeric: Mapping[str, str] | None = None,
    multi: Mapping[str, int] | None = None,
    pooling: str = "mean",
    min_count: int | None = None,
) -> dict[str, Any]:
    """The feature repository document of a table: entity `row` with an attribute per column, a feature per column
    (hashed categorical, numeric with its transform, multi_categorical with its max length), impression / click
    events naming `row` as requester and candidate. `multi` gives each multi-valued column's max length; `min_count`
    makes the categorical features' vocabularies fitted (fit.min_count)."""
    numeric, multi = dict(numeric or {}), dict(multi or {})
    names = _feature_names("", fields, numeric, multi)
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; one of {', '.join(POOLINGS)}")
    kinds = (
        [(c, "string", "") for c in fields]
        + [(c, "float", 0) for c in numeric]
        + [(c, "string_list", []) for c in multi]
    )
    attributes = [
        {"name": names[c], "type": t, "default": d, **({"description": f"column {c!r}"} if names[c] != c else {})}
        for c, t, d in kinds
    ]
    key = next(k for k in (f"row_key{'_' * i}" for i in range(len(names) + 1)) if k not in names.values())

    fit = {"fit": {"min_count": min_count}} if min_count is not None else {}

    def feature(column: str, kind: str, **spec: Any) -> dict[str, Any]:
        return {"name": names[column], "kind": kind, "source": f"{ENTITY}.{names[column]}", **spec}

    features = [
        *(feature(c, "categorical", encoding="hash", buckets=buckets, **fit) for c in fields),
        *(feature(c, "numeric", transform=t) for c, t in numeric.items()),
        *(feature(c, "multi_categorical", buckets=buckets, max_length=n, pooling=pooling) for c, n in multi.items()),
    ]
    digest = hashlib.sha256(json.dumps(features, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    return {
        "format": "mmctr.feature-repo/v1",
        "name": "tabular",
        "version": f"tabular-{digest}",
        "description": "A CSV table imported by mmctr-train import: one row is one candidate.",
        "unknown_attributes": "reject",
        "entities": [{"name": ENTITY, "key": key, "attributes": attributes}],
        "event_types": [{"name": n, "entities": [ENTITY, ENTITY]} for n in ("impression", "click")],
        "context": {"recorded_on": "impression", "attributes": []},
        "features": features,
        "label": {"anchor": "impression", "positive": "click", "attribution_window_ms": 1},
    }


def tabular_schema(doc: Mapping[str, Any]) -> ModelSchema:
    """The model schema of a tabular repository document (checked by the repository loader)."""
    return ModelSchema.from_repo(parse_feature_repo(doc, "the imported table's feature repository"))


def tabular_layout(
    fields: list[str],
    buckets: int,
    numeric: Mapping[str, str] | None = None,
    multi: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The layout of an imported table (tabular_repo's document through model_layout)."""
    doc = tabular_repo(fields, buckets, numeric, multi)
    return model_layout(parse_feature_repo(doc, "the imported table's feature repository"))


class _Table:
    """The parsed cells of one or more CSV files: labels, each feature column's values (str, float | None or a
    list of str) and the raw `extra` columns (time, split)."""

    def __init__(self, fields: list[str], numeric: Mapping[str, str], multi: Mapping[str, Any], sep: str):
        self.fields, self.numeric, self.multi, self.sep = fields, list(numeric), list(multi), sep
        self.labels: list[float] = []
        self.values: dict[str, list[Any]] = {c: [] for c in [*fields, *numeric, *multi]}

    def read(self, path: str | Path, label: str, extra: list[str]) -> dict[str, list[str]]:
        extras: dict[str, list[str]] = {c: [] for c in extra}
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in [label, *self.values, *extra] if c not in header]
            if missing:
                raise ValueError(f"{path}: no column(s) {missing}; columns are {header}")
            for row in reader:
                if None in row or None in row.values():
                    got = len(header) + len(row.get(None) or ()) - sum(v is None for v in row.values())
                    raise ValueError(f"{path} line {reader.line_num}: {got} values, the header has {len(header)}")
                line = reader.line_num
                self.labels.append(_label(row[label], _Cell(path, line, label)))
                for c in self.fields:
                    self.values[c].append(row[c])
                for c in self.numeric:
                    self.values[c].append(_number(row[c], _Cell(path, line, c)))
                for c in self.multi:
                    self.values[c].append([t for t in (v.strip() for v in row[c].split(self.sep)) if t])
                for c in extra:
                    extras[c].append(row[c])
        return extras


def _column_split(values: list[str], column: str) -> dict[str, np.ndarray]:
    """Row indices per split from a split column's values (train / val / valid / validation / test)."""
    named = [SPLIT_VALUES.get(v.strip().lower()) for v in values]
    bad = sorted({v for v, n in zip(values, named, strict=True) if n is None})
    if bad:
        raise ValueError(
            f"split column {column!r} holds {bad[:5]} ({sum(n is None for n in named)} rows); "
            f"allowed: {', '.join(SPLIT_VALUES)}"
        )
    return {s: np.asarray([i for i, n in enumerate(named) if n == s], dtype=np.int64) for s in SPLITS}


class TabularSet(DataSource):
    """`path` is one CSV split by `split` (random | time on `time_col` | column on `split_col`), or a mapping
    {"train": csv, "val": csv, "test": csv} of predefined splits (files with the same columns). `fields` are the
    hashed categorical columns, `numeric` maps numeric columns to their transform, `multi` multi-valued columns to
    their max length (None: the longest list of the training split), their cells split on `multi_sep`; `min_count`
    fits the categorical columns' vocabularies on the training split (None: hashing only)."""

    def __init__(
        self,
        path: str | Path | Mapping[str, str | Path],
        label: str,
        fields: list[str],
        buckets: int = 65536,
        split: str = "random",
        time_col: str | None = None,
        fractions: tuple[float, float] = (0.8, 0.9),
        seed: int = 42,
        split_col: str | None = None,
        numeric: Mapping[str, str] | None = None,
        multi: Mapping[str, int | None] | None = None,
        multi_sep: str = "|",
        pooling: str = "mean",
        min_count: int | None = None,
    ):
        numeric, multi = dict(numeric or {}), dict(multi or {})
        bad = [t for t in numeric.values() if t not in NUMERIC_TRANSFORMS]
        if bad:
            raise ValueError(f"unknown numeric transform(s) {bad}; one of {', '.join(NUMERIC_TRANSFORMS)}")
        if multi and not multi_sep:
            raise ValueError("the separator of multi-valued cells is empty")
        names = _feature_names(label, fields, numeric, multi)  # refuses bad column lists before any file is read
        self.fields, self.buckets = fields, buckets
        table = _Table(fields, numeric, multi, multi_sep)
        if isinstance(path, Mapping):
            split, source = "files", self._read_files(path, label, table)
        else:
            source = self._read_one(path, label, table, split, time_col, split_col, fractions, seed)
        empty = [s for s in SPLITS if not len(self.index[s])]
        if empty:
            raise ValueError(f"{source}: no rows in the {', '.join(empty)} split(s)")
        train = self.index["train"]
        lengths = {c: n or max([len(table.values[c][i]) for i in train] + [1]) for c, n in multi.items()}
        self.repo_doc = tabular_repo(fields, buckets, numeric, lengths, pooling, min_count)
        self.schema = tabular_schema(self.repo_doc)
        self.label = np.asarray(table.labels, dtype=np.float32)
        self.inputs = self._encode(table, names)
        self.meta: dict[str, Any] = {
            "source": source,
            "rows": int(len(self.label)),
            "fields": fields,
            "numeric": numeric,
            "multi": lengths,
            **({"multi_sep": multi_sep, "pooling": pooling} if multi else {}),
            "min_count": min_count,
            "features": names,
            "label": label,
            "split": split,
            "time_col": time_col,
            "split_col": split_col,
            "buckets": buckets,
            "splits": {
                s: {"rows": int(len(self.index[s])), "positives": int(self.label[self.index[s]].sum())} for s in SPLITS
            },
        }

    def _encode(self, table: _Table, names: Mapping[str, str]) -> dict[str, np.ndarray]:
        """The candidate inputs of every row, a column at a time, by the slot encoders every other path uses
        (the same arrays as slots.encode_request on the rows; tests/test_import_columns.py checks it)."""
        out = empty_inputs(self.schema, {"B": len(table.labels)})
        column = {f"{ENTITY}.{name}": c for c, name in names.items()}
        cand = self.schema.candidate

        def cells(slot: Mapping[str, Any]) -> list[Any]:
            return table.values[column[slot["source"]]]

        for i, slot in enumerate(cand["categorical"]):
            out["cand_cat"][:, i] = [encode_categorical(slot, v) for v in cells(slot)]
        for i, slot in enumerate(cand["numeric"]):
            default = self.schema.defaults.get(slot["feature"], 0.0)
            out["cand_num"][:, i] = [encode_numeric(slot, v, default) for v in cells(slot)]
        for slot in cand["multi_categorical"]:
            span = slice(slot["offset"], slot["offset"] + slot["max_length"])
            out["cand_multi"][:, span] = np.asarray([encode_multi(slot, v) for v in cells(slot)], dtype=np.int64)
        return out

    def _read_files(self, paths: Mapping[str, str | Path], label: str, table: _Table) -> Any:
        missing = [s for s in SPLITS if s not in paths]
        if missing:
            raise ValueError(f"predefined splits need a file for each of {SPLITS}; missing {missing}")
        self.index = {}
        for s in SPLITS:
            start = len(table.labels)
            table.read(paths[s], label, [])
            self.index[s] = np.arange(start, len(table.labels), dtype=np.int64)
        return {s: str(paths[s]) for s in SPLITS}

    def _read_one(
        self,
        path: str | Path,
        label: str,
        table: _Table,
        split: str,
        time_col: str | None,
        split_col: str | None,
        fractions: tuple[float, float],
        seed: int,
    ) -> str:
        if split not in ("random", "time", "column"):
            raise ValueError(f"unknown split {split!r}; one of random, time, column")
        if split == "time" and not time_col:
            raise ValueError("--split time needs --time-col")
        if split == "column" and not split_col:
            raise ValueError("--split column needs --split-col")
        extra = [c for c in (time_col if split == "time" else None, split_col if split == "column" else None) if c]
        extras = table.read(path, label, extra)
        n = len(table.labels)
        if n < 3:
            raise ValueError(f"{path}: needs at least 3 rows, got {n}")
        if split == "column":
            self.index = _column_split(extras[str(split_col)], str(split_col))
            return str(path)
        if split == "time":
            times = [_time_key(v) for v in extras[str(time_col)]]
            order = np.asarray(sorted(range(n), key=lambda i: times[i]))
        else:
            order = np.random.default_rng(seed).permutation(n)
        a, b = int(n * fractions[0]), int(n * fractions[1])
        self.index = {"train": order[:a], "val": order[a:b], "test": order[b:]}
        return str(path)

    def rows(self, split: str) -> int:
        return int(len(self.index[split]))

    def labels(self, split: str) -> np.ndarray:
        return self.label[self.index[split]]

    def cold(self, split: str) -> np.ndarray:
        return np.zeros(self.rows(split), dtype=np.uint8)

    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        rows = self.index[split][idx]
        return {**{name: x[rows] for name, x in self.inputs.items()}, "label": self.label[rows]}
