"""Point-in-time training sets from ClickHouse, for any feature repository, streamed in user hash-buckets so
memory stays bounded. What is read comes from the repository (store.EventSource): its events table, the label's
anchor and positive event types, match_on columns and attribution window, and the context attributes.

For every anchor event (the impression) in [from_ms, to_ms):
- label: 1 when a positive event sharing the match_on columns lands in [impression ts, ts + attribution window];
- context and the requester's key: the anchor event's own columns;
- sequences: per sequence feature, the requester's last L events of its event types with ts strictly before the
  impression, newest first (ages bucketed at the impression time);
- entity attributes (the candidate's, the requester's, each sequence entry's and the entities joined `via` a
  key attribute): the newest version with ts_ms <= impression ts (none -> the key and the declared defaults);
  a joined entity's key is the joining version's attribute, and its version is as of the impression too;
  the stored embedding's vector (embeddings.py: the item's fused vector is the item_embeddings row of that
  version's content_hash, another entity's the entity_embeddings row of the hash of that version's input values;
  zeros when absent); other embeddings read zeros;
- split by the impression time: train < train_end_ms <= val < val_end_ms <= test.
Requesters are streamed in buckets `cityHash64(<requester key>) % N = k` (18.16 has no window functions): each
bucket's impressions and sequence events are fetched, and sequences are computed with numpy searchsorted.

Modules: entities (entity versions as of any time, shared with the parity check), splits (boundaries), assembly
(one bucket's rows), build (the builder and column files), reader (TrainSet); the SQL is in store.py.

On disk (out_dir): meta.json, the entity-version tables (items.npz: the candidate's; entity_<name>.npz: the
others, listed in meta.json `tables`) and, per split, raw column files (np.memmap-able): row_<feature> (the row
slots: requester key and context), cand_row int32 [n], user_row int32 [n] (when the user side reads the
requester's table), <seq>_rows int32 [n, L], <seq>_age uint8 [n, L], <side>_<entity>_rows (the rows of each
entity a side joins), label uint8 [n], ts_ms int64 [n], cold uint8 [n]. Rows index the entity tables (row 0 =
padding); a row's features are gathered at batch time, so a sequence entry costs 4 bytes a slot.
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
