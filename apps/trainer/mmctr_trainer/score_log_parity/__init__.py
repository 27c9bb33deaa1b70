"""Serving/training parity: recompute the scorer's answers from `score_log` with the trainer's own code.

For every logged request of one model version (score_log FINAL) the inputs of the artifact's layout (its
feature_repo.json) are rebuilt in Python with the trainer's slot encodings (slots.py): request slots from the
logged row (hour_of_day from the logged ts_ms), the logged history ids (≤ L, newest first) and candidate ids
with their logged positions, and the item slots as of the request time, taken from ClickHouse by the
training-set builder's own `EntityTables` (newest `items` version with ts_ms <= t, the vector of that version's
content_hash; an item without a version then is out of vocabulary: its key only, other slots 0, zero vector,
exactly what the scorer feeds for an unknown item). The registered artifact's `model.onnx` runs on
onnxruntime's Python API with the serving shapes (user inputs batch 1, all candidates in one batch); the
artifact holds no torch weights, so the trainer's torch model cannot be rebuilt from it. The recomputed CTRs are
compared with the served ones.

Rows are read in ts_ms windows of about `chunk_rows` rows (primary-key ranges of score_log), so memory is
bounded by one window plus the item catalogue (which the training-set builder holds in memory too).

Degraded rows: the scorer does not log why a response was degraded (history timeout, failed Redis item
fetch, inference error). After a failed item fetch some candidates were scored as unknown although
ClickHouse knows them, so the logged features do not fully describe what was served: degraded rows are
skipped and counted unless `include_degraded` (then answers where every CTR is the scorer's prior,
SCORER_PRIOR_CTR, i.e. inference failed, are still skipped: no model produced them).

Modules: artifact (folder and graph), query (score_log windows), assembly (logged row -> model inputs),
checker, report (statistics and output), run (the command).
"""

from .artifact import OnnxRunner, ParityError, production_version, resolve_artifact
from .assembly import ItemLookup, LoggedEncoder, LoggedRow
from .checker import ParityChecker, is_prior_answer
from .query import plan_windows, read_rows
from .report import ParityStats, format_result, progress_to_stderr
from .run import ParityOptions, run_parity

__all__ = [
    "ItemLookup",
    "LoggedEncoder",
    "LoggedRow",
    "OnnxRunner",
    "ParityChecker",
    "ParityError",
    "ParityOptions",
    "ParityStats",
    "format_result",
    "is_prior_answer",
    "plan_windows",
    "production_version",
    "progress_to_stderr",
    "read_rows",
    "resolve_artifact",
    "run_parity",
]
