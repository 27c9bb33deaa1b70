"""mmctr-train: build training sets, train / export / register models, promote and list versions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .ch import ClickHouse
from .config import MODEL_PARAMS, ConfigError, config_names, load_config
from .registry import RegistryUnreachable


def _add_ch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database", help="ClickHouse database (default: CLICKHOUSE_DATABASE from deploy/local/stack.env)")
    p.add_argument("--clickhouse-url", help="ClickHouse HTTP URL (default: CLICKHOUSE_URL from deploy/local/stack.env)")


def _command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    fn: Callable[[argparse.Namespace], int],
    help: str,
) -> argparse.ArgumentParser:
    """A subcommand that runs `fn`, with the ClickHouse options every command takes."""
    p = sub.add_parser(name, help=help)
    _add_ch(p)
    p.set_defaults(fn=fn)
    return p


def _ch(args: argparse.Namespace) -> ClickHouse:
    ch = ClickHouse.from_env(database=args.database)
    if getattr(args, "clickhouse_url", None):
        ch.url = args.clickhouse_url
    return ch


def _add_repo(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--feature-repo", help="feature repository (folder or repo.json; default FEATURE_REPO, else feature-repos/demo)"
    )


def _add_split(p: argparse.ArgumentParser) -> None:
    _add_repo(p)
    p.add_argument("--meta", help="a data generator's meta.json with the split timestamps")
    p.add_argument("--train-end-ms", type=int)
    p.add_argument("--val-end-ms", type=int)
    p.add_argument("--from-ms", type=int)
    p.add_argument("--to-ms", type=int)
    p.add_argument("--chunk-rows", type=int, default=200_000, help="impressions per user hash-bucket (memory bound)")
    p.add_argument("--projection-version", help="item_embeddings projection version (default: the newest)")


def _build(args: argparse.Namespace, ch: ClickHouse, out: Path):
    from .dataset import build_training_set, read_split_meta
    from .schema import load_repo

    repo = load_repo(args.feature_repo)
    bounds = read_split_meta(args.meta) if args.meta else {}
    for k in ("train_end_ms", "val_end_ms", "from_ms", "to_ms"):
        if getattr(args, k) is not None:
            bounds[k] = getattr(args, k)
    return build_training_set(
        ch, repo, out, chunk_rows=args.chunk_rows, projection_version=args.projection_version, **bounds
    )


def cmd_build(args: argparse.Namespace) -> int:
    res = _build(args, _ch(args), Path(args.out))
    print(json.dumps(res.meta["splits"], indent=1))
    return 0


def cmd_export_csv(args: argparse.Namespace) -> int:
    from .export_csv import export_csv

    if not (Path(args.trainset) / "meta.json").is_file():
        print(f"mmctr-train export-csv: {args.trainset}: no meta.json (not a built training set)", file=sys.stderr)
        return 2
    print(json.dumps(export_csv(args.trainset, args.out)))
    return 0


def _models(args: argparse.Namespace) -> list[str]:
    return list(MODEL_PARAMS) if args.model == "all" else [args.model]


def _registry_ch(args: argparse.Namespace) -> ClickHouse | None:
    """The ClickHouse to register in (None with --no-register), checked reachable before any training."""
    if args.no_register:
        return None
    from .registry import check_reachable

    ch = _ch(args)
    check_reachable(ch)
    return ch


def _train_each(models: list[str], train: Callable[[str], dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Trains each model in turn; one that fails is reported and the next one still trains. Returns the results
    and the exit code (1 when a model failed)."""
    results, failed = [], []
    for m in models:
        try:
            results.append(train(m))
        except Exception as e:  # noqa: BLE001 - any failure of one model must not cost the others
            if len(models) == 1:
                raise
            print(f"[{m}] failed: {type(e).__name__}: {e}; going on with the next model", file=sys.stderr)
            failed.append(m)
    if len(results) > 1:
        from .train import metrics_table

        print("\n" + metrics_table([r["metrics"] for r in results]))
    for r in results:
        print(f"version {r['version']} -> {r['artifact']}")
    if failed:
        print(f"failed: {', '.join(failed)} ({len(results)} of {len(models)} models trained)", file=sys.stderr)
    return results, 1 if failed else 0


def _train_models(args: argparse.Namespace, **run: Any) -> int:
    """Trains, exports and (when `run` has a `ch`) registers each --model: `run` holds the schema, data, config,
    repo_json, data_range and ch arguments of train_export_register. Returns _train_each's exit code."""
    from .pipeline import train_export_register

    def train(m: str) -> dict[str, Any]:
        return train_export_register(
            model_name=m, registry=args.registry, out=args.out, max_epochs=args.max_epochs, **run
        )

    return _train_each(_models(args), train)[1]


def cmd_train(args: argparse.Namespace) -> int:
    from .dataset import TrainSet
    from .pipeline import WithoutVectors

    config = load_config(args.config)  # a bad config fails before the training set is built
    ch = _ch(args)
    reg_ch = _registry_ch(args)
    if args.trainset and (Path(args.trainset) / "meta.json").exists() and not args.rebuild:
        ts = TrainSet(args.trainset)
        print(f"[build] reusing {args.trainset} (repository {ts.repo.name} {ts.repo.version})")
    else:
        folder = Path(args.trainset or Path(".local") / "trainsets" / ch.database)
        _build(args, ch, folder)
        ts = TrainSet(folder)
    data = WithoutVectors(ts) if args.no_mm else ts
    b = ts.meta["boundaries"]
    data_range = {
        "database": ch.database,
        "from_ms": b["from_ms"],
        "to_ms": b["to_ms"],
        "train_end_ms": b["train_end_ms"],
        "val_end_ms": b["val_end_ms"],
        "splits": ts.meta["splits"],
        "projection_version": ts.meta.get("projection_version"),
        "multimodal": not args.no_mm,
    }
    return _train_models(
        args,
        schema=ts.schema,
        data=data,
        config=config,
        repo_json=ts.meta["feature_repo"],
        data_range=data_range,
        ch=reg_ch,
    )


def _import_source(args: argparse.Namespace) -> str | dict[str, str]:
    """--csv, or the predefined split files --train / --valid / --test (all three)."""
    files = {"train": args.train, "val": args.valid, "test": args.test}
    given = [f"--{'valid' if s == 'val' else s}" for s, f in files.items() if f]
    if args.csv and given:
        raise ValueError(f"give either --csv or the split files, not both (--csv with {', '.join(given)})")
    if not args.csv and len(given) < 3:
        raise ValueError(f"give --csv FILE, or all of --train, --valid and --test (got {', '.join(given) or 'none'})")
    if args.csv:
        return str(args.csv)
    if args.split or args.time_col or args.split_col:
        raise ValueError("--split / --time-col / --split-col split one --csv; the split files are the splits already")
    return files


def _csv_split(args: argparse.Namespace) -> str:
    """--split, implied by --time-col (time) or --split-col (column) when not given; a contradiction is an error."""
    flags = {"time": ("--time-col", args.time_col), "column": ("--split-col", args.split_col)}
    implied = [s for s, (_flag, col) in flags.items() if col]
    if len(implied) > 1:
        raise ValueError("give --time-col (--split time) or --split-col (--split column), not both")
    if implied and args.split not in (None, implied[0]):
        raise ValueError(f"{flags[implied[0]][0]} goes with --split {implied[0]}, not --split {args.split}")
    return args.split or (implied[0] if implied else "random")


def _min_count(n: int) -> int | None:
    """--min-count: N >= 1 fits the categorical vocabularies, 0 keeps every hash bucket (None: no fit)."""
    if n < 0:
        raise ValueError(f"--min-count must be >= 0 (0: every hash bucket has a row), not {n}")
    return n or None


def cmd_import(args: argparse.Namespace) -> int:
    from .tabular import TabularSet, parse_multi, parse_numeric

    config = load_config(args.config)
    fields = [f.strip() for f in (args.fields or "").split(",") if f.strip()]
    try:
        source = _import_source(args)
        split = _csv_split(args)
        data = TabularSet(
            source,
            args.label,
            fields,
            buckets=args.buckets,
            split=split,
            time_col=args.time_col,
            split_col=args.split_col,
            numeric=parse_numeric(args.numeric),
            multi=parse_multi(args.multi),
            multi_sep=args.multi_sep,
            pooling=args.multi_pooling,
            min_count=_min_count(args.min_count),
        )
    except (ValueError, OSError) as e:
        print(f"mmctr-train import: {e}", file=sys.stderr)
        return 2
    kinds = {"fields": fields, "numeric": data.meta["numeric"], "multi": data.meta["multi"]}
    print(
        f"[import] {data.meta['rows']} rows, "
        + ", ".join(f"{k} {v if k == 'fields' else dict(v)}" for k, v in kinds.items() if v)
        + ": "
        + ", ".join(f"{s} {v['rows']}" for s, v in data.meta["splits"].items())
    )
    ch = _registry_ch(args)
    return _train_models(
        args, schema=data.schema, data=data, config=config, repo_json=data.repo_doc, data_range=data.meta, ch=ch
    )


def cmd_load_jsonl(args: argparse.Namespace) -> int:
    from .loadjsonl import load_jsonl
    from .schema import load_repo

    entities = dict(e.split("=", 1) for e in args.entity if "=" in e)
    if len(entities) != len(args.entity):
        print("load-jsonl: --entity takes NAME=FILE", file=sys.stderr)
        return 2
    if args.items:
        entities["item"] = args.items
    if not args.events and not entities:
        print("load-jsonl: give --events and/or --entity NAME=FILE (or --items)", file=sys.stderr)
        return 2
    repo = load_repo(args.feature_repo)
    stats = load_jsonl(_ch(args), repo, events=args.events, entities=entities, batch_rows=args.batch_rows)
    return 1 if any(s.invalid for s in stats) and args.strict else 0


def cmd_promote(args: argparse.Namespace) -> int:
    from .registry import promote

    retired = promote(_ch(args), args.version)
    print(f"{args.version}: production" + (f"; retired {', '.join(retired)}" if retired else ""))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_registered

    versions = None if args.all_registered else args.versions
    if not versions and not args.all_registered:
        print("evaluate: give VERSION ... or --all-registered", file=sys.stderr)
        return 2
    ch = _ch(args)
    res = evaluate_registered(
        ch,
        versions=versions,
        meta=args.meta,
        chunk_rows=args.chunk_rows,
        feature_repo=args.feature_repo,
        trainset_dir=args.trainset or Path(".local") / "trainsets" / f"{ch.database}-eval",
    )
    text = json.dumps(res, indent=1)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    for m in res["models"]:
        t = m["test"]
        print(
            f"{m['version']:<40} {m['status']:<10} test AUC {t['auc']}  log-loss {t['logloss']}  "
            f"cold-start AUC {t.get('cold_auc')}  ({t['rows']} rows)"
        )
    for m in res["skipped"]:
        print(f"{m['version']:<40} skipped: {m['reason']}")
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from .score_log_parity import ParityError, ParityOptions, format_result, progress_to_stderr, run_parity

    opts = ParityOptions(
        model_version=args.model_version,
        since_ms=args.since_ms,
        until_ms=args.until_ms,
        limit=args.limit,
        tolerance=args.tolerance,
        chunk_rows=args.chunk_rows,
        include_degraded=args.include_degraded,
        registry=args.registry,
        artifact=args.artifact,
        model_root=args.model_root,
        model_file=args.model_file,
        projection_version=args.projection_version,
        threads=args.threads,
        prior_ctr=args.prior_ctr,
    )
    try:
        res = run_parity(_ch(args), opts, progress=None if args.quiet else progress_to_stderr)
    except ParityError as e:
        print(f"parity: {e}", file=sys.stderr)
        return 2
    text = json.dumps(res, indent=1)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    print(text if args.json else format_result(res))
    if res["rows_checked"] == 0:
        return 2
    return 0 if res["ok"] else 1


def cmd_list(args: argparse.Namespace) -> int:
    from .registry import current, format_list

    rows = current(_ch(args))
    print(json.dumps(rows, indent=1) if args.json else format_list(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="mmctr-train", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = _command(sub, "build", cmd_build, "build a point-in-time training set from ClickHouse into a folder")
    _add_split(p)
    p.add_argument("--out", required=True)

    p = sub.add_parser("export-csv", help="write a built training set as train/valid/test CSV files (bench/quality)")
    p.set_defaults(fn=cmd_export_csv)
    p.add_argument("--trainset", required=True, help="the training set folder (mmctr-train build --out)")
    p.add_argument("--out", required=True, help="folder for train.csv, valid.csv, test.csv")

    def train_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--model",
            default="qin",
            choices=[*MODEL_PARAMS, "all"],
            help="the model to train (default qin); all: each in turn, going on after one that fails",
        )
        p.add_argument(
            "--config",
            help="training config: a JSON file, or the name of one in apps/trainer/configs "
            f"({', '.join(config_names())}; default: default)",
        )
        p.add_argument("--out", help="artifact root (default: --registry, MMCTR_REGISTRY or .local/registry)")
        p.add_argument("--registry", help="artifact root, the artifact is <registry>/<version> (as --out)")
        p.add_argument("--max-epochs", type=int, help="the epoch cap (default: the config's max_epochs)")
        p.add_argument(
            "--no-register",
            action="store_true",
            help="write the artifact but no row in ClickHouse `models` (no ClickHouse needed for import)",
        )

    p = _command(sub, "train", cmd_train, "train on ClickHouse data, export ONNX (+ int8), register a candidate")
    _add_split(p)
    train_opts(p)
    p.add_argument("--trainset", help="training-set folder (reused when it exists; default .local/trainsets/<db>)")
    p.add_argument("--rebuild", action="store_true", help="rebuild the training set even if --trainset exists")
    p.add_argument("--no-mm", action="store_true", help="zero the multimodal vectors (ablation)")

    p = _command(sub, "import", cmd_import, "train the same models on your own tabular CSV")
    p.description = (
        "Train, export and (unless --no-register) register models on your own tabular CTR data: --fields are "
        "hashed categorical columns, --numeric numeric ones, --multi multi-valued ones, --label the click. "
        "The data is one --csv split 80/10/10 (randomly, by --time-col, or by a --split-col naming each row's "
        "split), or predefined split files --train / --valid / --test with the same columns. "
        "The registry is checked before training starts."
    )
    train_opts(p)
    p.add_argument("--csv", help="one CSV file with a header row, split by --split")
    p.add_argument("--train", help="predefined splits: the training CSV (with --valid and --test, instead of --csv)")
    p.add_argument("--valid", help="predefined splits: the validation CSV (early stopping, calibration)")
    p.add_argument("--test", help="predefined splits: the test CSV (the reported test metrics)")
    p.add_argument(
        "--label",
        required=True,
        help="the click column: 1 / true / yes / click / clicked or a number > 0 is a click; 0 / false / no or a "
        "number <= 0 is not; any other value is refused",
    )
    p.add_argument(
        "--fields",
        metavar="COL,...",
        help="comma-separated categorical columns: an exact vocabulary per column (--min-count), or each value hashed "
        "into --buckets (--min-count 0)",
    )
    p.add_argument(
        "--numeric",
        metavar="COL[:TRANSFORM],...",
        help="comma-separated numeric columns, each with its transform: standardize (the default; mean and std "
        "fitted on the training rows), log1p or none (e.g. price:log1p,age); an empty cell is missing and counts as 0",
    )
    p.add_argument(
        "--multi",
        metavar="COL[:MAX],...",
        help="comma-separated multi-valued columns (a cell holds values split by --multi-sep), each value hashed, "
        "the first MAX of a row pooled (default MAX: the longest list in the training rows; e.g. genres,tags:8)",
    )
    p.add_argument("--multi-sep", default="|", help="the separator of the values in a --multi cell (default |)")
    p.add_argument(
        "--multi-pooling",
        choices=["mean", "sum", "max"],
        default="mean",
        help="how a --multi column's value embeddings are pooled (default mean)",
    )
    p.add_argument(
        "--split",
        choices=["random", "time", "column"],
        help="how --csv is split: random 80/10/10 (the default), time (oldest 80%% train, newest 10%% test, "
        "by --time-col; implied by it), column (each row's split named in --split-col; implied by it)",
    )
    p.add_argument("--time-col", help="the column --split time orders by (numbers, or ISO-8601 text)")
    p.add_argument(
        "--split-col",
        help="the column naming each row's split: train, val / valid / validation or test (implies --split column)",
    )
    p.add_argument(
        "--buckets",
        type=int,
        default=65536,
        help="hash buckets per --multi column, and per --fields column with --min-count 0 (default 65536)",
    )
    p.add_argument(
        "--min-count",
        type=int,
        default=1,
        metavar="N",
        help="fit each --fields column's exact vocabulary on the training rows: values seen at least N times get "
        "their own embedding row, the rest share the out-of-vocabulary row (default 1; 0: no vocabulary, the values "
        "are hashed into --buckets rows, for unbounded ids)",
    )

    p = _command(
        sub,
        "load-jsonl",
        cmd_load_jsonl,
        "insert JSONL events / entity snapshots into the feature repository's tables as ingest would (no Kafka)",
    )
    _add_repo(p)
    p.add_argument("--events", help="behaviour events JSONL, one v1 event a line (e.g. mmctr synth's events.jsonl)")
    p.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="snapshots of the snapshot entity NAME, JSONL (repeatable)",
    )
    p.add_argument("--items", help="the same as --entity item=FILE (e.g. mmctr synth's items.jsonl)")
    p.add_argument("--batch-rows", type=int, default=50_000, help="rows per INSERT (JSONEachRow over HTTP)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a line was skipped as invalid")

    p = _command(sub, "promote", cmd_promote, "make VERSION production (the previous production version is retired)")
    p.add_argument("version")

    p = _command(
        sub,
        "evaluate",
        cmd_evaluate,
        "rebuild the point-in-time set and score its test split with registered "
        "ONNX artifacts (e.g. after the test period was replayed)",
    )
    p.add_argument("versions", nargs="*")
    p.add_argument("--all-registered", action="store_true", help="every version in the database's registry")
    p.add_argument("--meta", help="generator meta.json with the split boundaries")
    p.add_argument("--trainset", help="folder for the rebuilt set (default .local/trainsets/<db>-eval)")
    p.add_argument("--chunk-rows", type=int, default=200_000)
    p.add_argument("--json-out", help="write the results JSON here")
    _add_repo(p)

    p = _command(
        sub,
        "parity",
        cmd_parity,
        "recompute served CTRs from the logged features in score_log (item features "
        "as of each request) and compare; exit 1 above --tolerance, 2 if nothing checked",
    )
    p.add_argument("--model-version", help="the model_version of the rows to check (default: the production version)")
    p.add_argument("--since-ms", type=int, help="only rows with ts_ms >= this")
    p.add_argument("--until-ms", type=int, help="only rows with ts_ms < this")
    p.add_argument("--limit", type=int, help="at most this many rows (in ts_ms order)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |served - recomputed| CTR (default 1e-4)")
    p.add_argument(
        "--registry",
        help="artifact root: the artifact is <registry>/<version> (default: the models row's "
        "artifact_uri, else MMCTR_REGISTRY or .local/registry)",
    )
    p.add_argument("--artifact", help="the artifact folder itself")
    p.add_argument("--model-root", help="base of a relative artifact_uri (default SCORER_MODEL_ROOT or the cwd)")
    p.add_argument("--model-file", help="graph in the artifact (default SCORER_MODEL_FILE or model.onnx)")
    p.add_argument(
        "--projection-version",
        help="item_embeddings projection (default SCORER_PROJECTION_VERSION, else the newest)",
    )
    p.add_argument("--prior-ctr", type=float, help="the scorer's SCORER_PRIOR_CTR (default: that variable or 0.02)")
    p.add_argument(
        "--include-degraded",
        action="store_true",
        help="also check degraded rows (their reason is not logged: a failed item fetch makes them differ)",
    )
    p.add_argument("--chunk-rows", type=int, default=2000, help="rows per score_log window (memory bound)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.add_argument("--json", action="store_true", help="print the result as JSON (progress goes to stderr)")
    p.add_argument("--json-out", help="also write the result JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    p = _command(sub, "list", cmd_list, "list registered model versions")
    p.add_argument("--json", action="store_true")

    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except ConfigError as e:
        print(f"mmctr-train: bad config: {e}", file=sys.stderr)
        return 2
    except RegistryUnreachable as e:
        print(f"mmctr-train {args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
