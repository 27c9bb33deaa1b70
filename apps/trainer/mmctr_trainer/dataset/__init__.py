"""Point-in-time training sets from ClickHouse, streamed in user hash-buckets so memory stays bounded.

For every impression (events FINAL, type = impression) in [from_ms, to_ms):
- label: 1 when a click with the same request_id and item_id (and user) lands in
  [impression ts, impression ts + attribution window];
- history: the user's last L clicked items with ts strictly before the impression, newest first;
- item features (category, tags, fused multimodal vector) of the candidate and of every history item
  as of the impression time: the newest catalogue version with ts_ms <= impression ts (none -> missing);
  the vector is the item_embeddings row of that version's content_hash (zeros when absent);
- split by the impression time: train < train_end_ms <= val < val_end_ms <= test.
Users are streamed in buckets `cityHash64(user_id) % N = k` (18.16 has no window functions): each
bucket's impressions and clicks are fetched, and histories are computed with numpy searchsorted.

Modules: items (the item catalogue as of any time), splits (boundaries), assembly (one bucket's rows),
build (the builder and column files), reader (TrainSet); the SQL is in store.py.

On disk (out_dir): meta.json, items.npz (the item-version table) and, per split, raw column files
(np.memmap-able): user_fields int64 [n,U], cand_row int32 [n], cand_pos int64 [n], hist_rows int32 [n,L],
hist_age uint8 [n,L] (age bucket of each history click at the impression time), label uint8 [n], ts_ms int64 [n],
cold uint8 [n]. cand_row / hist_rows index the item-version table
(row 0 = padding); a row's features are gathered at batch time, so a history costs 4 bytes a slot.
"""

from .build import BuildResult, build_training_set
from .entities import TS_BITS, TS_MASK, EntityTable, EntityTables
from .reader import TrainSet
from .splits import SPLITS, Boundaries, compute_boundaries, read_split_meta

__all__ = [
    "SPLITS",
    "TS_BITS",
    "TS_MASK",
    "Boundaries",
    "BuildResult",
    "EntityTable",
    "EntityTables",
    "TrainSet",
    "build_training_set",
    "compute_boundaries",
    "read_split_meta",
]
