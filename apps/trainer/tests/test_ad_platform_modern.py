"""The training-set SQL derived from the ad-platform repository on a modern ClickHouse (chdb, in process): its
tables created by the storage DDL `mmctr features apply` runs, the same hand-made data as
test_ad_platform_dataset, and a training set built there equal to the one built on the local server."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from mmctr_trainer.ch import ident
from mmctr_trainer.dataset import TrainSet, build_training_set

from . import test_ad_platform_dataset as ads
from .test_ad_platform_dataset import T, all_rows, fill, tiny_ad_repo
from .test_feature_repo_storage_modern import REPOS, rendered
from .test_modern_clickhouse import ChdbClickHouse, chdb_session

ad_db, ad_set = ads.ad_db, ads.ad_set  # the server-built set to compare with


@pytest.fixture(scope="module")
def chdb_ads(tmp_path_factory):
    name = f"mmctr_ads_{uuid.uuid4().hex[:8]}"
    sess = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    sess.query(f"CREATE DATABASE {ident(name)}")
    r = rendered(name)[REPOS.index("feature-repos/ad-platform")]
    for sql in r["create"] + r["evolve"]:  # an earlier version's tables, then the current one's additions
        sess.query(sql)
    db = ChdbClickHouse(sess, name)
    fill(db)
    yield db
    sess.close()


def test_the_training_set_is_the_same_on_a_modern_server(chdb_ads, ad_set, tmp_path) -> None:
    repo = tiny_ad_repo()
    build_training_set(
        chdb_ads, repo, tmp_path, train_end_ms=T + 4000, val_end_ms=T + 4500, chunk_rows=1, log=lambda _m: None
    )
    modern, server = all_rows(TrainSet(tmp_path, trim_history=False)), all_rows(ad_set[1])
    assert len(server["label"]) == 3 and modern.keys() == server.keys()
    for name, v in server.items():
        np.testing.assert_array_equal(modern[name], v, err_msg=name)
