"""Models: forward shapes, broadcasting of user-level tensors, QIN's exact fold, ONNX parity (>= 10k samples)
and the int8 variant."""

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from mmctr_trainer.config import load_config
from mmctr_trainer.data_source import DataSource
from mmctr_trainer.export import (
    OnnxScorer,
    batch_graph_name,
    example_inputs,
    export_batch_onnx,
    export_onnx,
    quantize_int8,
    serving_copy,
)
from mmctr_trainer.feature_repo import load_feature_repo, parse_feature_repo
from mmctr_trainer.models import MODELS, build_model
from mmctr_trainer.schema import ModelSchema, repo_document

from .helpers import tiny_repo_doc

SIZES = {"user_id": 97, "device": 7, "placement": 7, "country": 11, "hour_of_day": 25, "item_id": 211}
SIZES.update({"category": 17, "position": 33, "tags": 53})
SCHEMA = ModelSchema.from_repo(
    parse_feature_repo(
        {
            **(doc := tiny_repo_doc(L=12, D=16)),
            "features": [{**f, "buckets": SIZES[f["name"]]} if "buckets" in f else f for f in doc["features"]],
        }
    )
)
USER_INPUTS = SCHEMA.user_inputs()
CFG = load_config("tiny")
ROOT = Path(__file__).resolve().parents[3]


def _ad_platform_schema() -> ModelSchema:
    """The ad-platform repository (numeric, vocabulary, bucketize, joined and multi-categorical slots, two
    sequences, one without ages) with small tables."""
    doc = repo_document(load_feature_repo(ROOT / "feature-repos" / "ad-platform"))
    for f in doc["features"]:
        if "buckets" in f:
            f["buckets"] = min(f["buckets"], 97)
        if f["kind"] == "sequence":
            f["length"] = min(f["length"], 9)
    return ModelSchema.from_repo(parse_feature_repo(doc))


def _t(x, schema=SCHEMA):
    return [torch.from_numpy(x[n]) for n in schema.input_names]


def _warm(model, steps=20):
    """A few optimiser steps so that BatchNorm statistics and weights are not at their initial values."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for s in range(steps):
        x = example_inputs(SCHEMA, batch=64, user_batch=64, seed=100 + s)
        y = torch.from_numpy((x["cand_cat"][:, 0] % 3 == 0).astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(*_t(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.reg_loss()
    return model.eval()


@pytest.fixture(scope="module", params=sorted(MODELS))
def trained(request):
    torch.manual_seed(0)
    return request.param, _warm(build_model(request.param, SCHEMA, CFG.model(request.param)))


def test_user_tensors_broadcast(trained):
    """One user (batch 1) with B candidates == the same user repeated B times."""
    _name, model = trained
    x = example_inputs(SCHEMA, batch=9, user_batch=1, seed=3)
    rep = {k: (np.repeat(v, 9, axis=0) if k in USER_INPUTS else v) for k, v in x.items()}
    with torch.no_grad():
        a = model(*_t(x)).numpy()
        b = model(*_t(rep)).numpy()
    assert a.shape == (9,)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_qin_fold_is_exact():
    torch.manual_seed(1)
    model = _warm(build_model("qin", SCHEMA, CFG.model("qin")))
    x = example_inputs(SCHEMA, batch=256, user_batch=256, seed=5)
    with torch.no_grad():
        a = model(*_t(x)).numpy()
        folded = serving_copy(model)
        b = folded(*_t(x)).numpy()
    assert all(layer.folded is not None for layer in folded.qnn)
    assert folded.qnn[0].folded[0].shape == (folded.qnn[0].dim, folded.qnn[0].dim)
    assert np.abs(a - b).max() <= 1e-6


@pytest.mark.parametrize(
    "channels,shape,high", [(7, (64, 7), False), (7, (64, 7), True), (1, (8, 5, 3), True), (5, (8, 5, 3), False)]
)
def test_serving_prelu_is_bit_identical(channels, shape, high):
    """max(x, a*x) when every slope <= 1, relu(x) + a*min(x, 0) otherwise: both exactly nn.PReLU."""
    from mmctr_trainer.layers import ServingPReLU

    torch.manual_seed(3)
    prelu = nn.PReLU(channels)
    with torch.no_grad():
        prelu.weight.copy_(torch.rand(channels) * (3.0 if high else 0.9) - 0.4)
        if high:
            prelu.weight[0] = 2.5  # one slope above 1 forces the general form
    serving = ServingPReLU(prelu)
    assert serving.max_form is not high
    x = torch.randn(*shape)
    x[0].zero_()
    with torch.no_grad():
        assert torch.equal(serving(x), prelu(x))


def test_tag_mean_relies_on_a_zero_padding_row_that_training_keeps():
    """Embeddings.pooled sums all 5 slots (no mask multiply): exact only while tag row 0 stays zero."""
    from mmctr_trainer.layers import masked_mean

    torch.manual_seed(4)
    model = build_model("qin", SCHEMA, CFG.model("qin"))
    table = model.emb.tables["tags"]
    table.weight.data.normal_()  # every row non-zero ...
    table.weight.data[0] = 0.0  # ... except the padding row, as nn.Embedding(padding_idx=0) starts it
    model = _warm(model)
    assert torch.count_nonzero(table.weight[0]) == 0
    tags = torch.from_numpy(example_inputs(SCHEMA, batch=64, seed=8)["cand_multi"])
    tags[:, 3:] = 0
    slot = SCHEMA.candidate["multi_categorical"][0]
    with torch.no_grad():
        assert torch.equal(model.emb.pooled(slot, tags), masked_mean(table(tags), tags > 0))


def _onnx_worst_diff(model, scorer, *, batch, user_batch, seeds):
    """Largest |p_onnx - p_torch| over one example batch per seed, and how many samples were compared."""
    worst = 0.0
    for seed in seeds:
        x = example_inputs(SCHEMA, batch=batch, user_batch=user_batch, seed=seed)
        with torch.no_grad():
            p_t = model(*_t(x)).numpy()
        worst = max(worst, float(np.abs(scorer.run(x) - p_t).max()))
    return worst, batch * len(seeds)


def test_onnx_parity_and_int8(trained, tmp_path):
    name, model = trained
    path = export_onnx(model, tmp_path / "model.onnx")
    import onnx

    m = onnx.load(str(path))
    assert m.opset_import[0].version >= 17
    # PReLU is exported as max(x, a*x): onnxruntime's PRelu kernel was the slowest op of the QIN graph
    assert "PRelu" not in {n.op_type for n in m.graph.node}
    # exactly the layout's inputs, in order (LR reads no hist_age: it stays, unused)
    assert [i.name for i in m.graph.input] == SCHEMA.input_names and [o.name for o in m.graph.output] == ["ctr"]
    shapes = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in m.graph.input]
    assert shapes == [i["shape"] for i in SCHEMA.inputs]
    scorer = OnnxScorer(path)
    # offline shape: one user per row (Bu = B), 10 x 1000 samples
    worst, n = _onnx_worst_diff(model, scorer, batch=1000, user_batch=1000, seeds=range(1000, 1010))
    # serving shape: one user, 200 candidates per request, 10 requests
    worst2, n2 = _onnx_worst_diff(model, scorer, batch=200, user_batch=1, seeds=range(2000, 2010))
    worst, n = max(worst, worst2), n + n2
    assert n >= 10_000
    assert worst <= 1e-4, f"{name}: max |dp| {worst}"
    q = quantize_int8(path, tmp_path / "model.int8.onnx")
    ops = {n.op_type for n in onnx.load(str(q)).graph.node}
    # embedding tables int8, dense layers fp32 (int8 MatMuls wrecked the larger QINs' AUC)
    assert "MatMulInteger" not in ops and ("DequantizeLinear" in ops or name == "lr")
    x = example_inputs(SCHEMA, batch=500, user_batch=1, seed=9)
    p8, p32 = OnnxScorer(q).run(x), scorer.run(x)
    assert p8.shape == (500,) and np.isfinite(p8).all()
    assert float(np.abs(p8 - p32).max()) < 0.02


def test_batch_graph_scores_several_requests_as_the_serving_graph_does(trained, tmp_path):
    """The micro-batching graph: three requests (different users, 7 / 1 / 40 candidates) in one run give each
    candidate the CTR the serving graph gives it in its own request."""
    name, model = trained
    assert batch_graph_name("model.onnx") == "model.batch.onnx"
    assert batch_graph_name("model.int8.onnx") == "model.int8.batch.onnx"
    _check_batch_graph(name, model, tmp_path)


def test_batch_graph_with_qin_options(tmp_path):
    """QIN with the demo's options that touch the history: the vectors' cosine in the attention scores and a
    history cap below L."""
    torch.manual_seed(5)
    model = _warm(
        build_model("qin", SCHEMA, {**CFG.model("qin").to_json(), "mm_similarity": True, "history_length": 5})
    )
    with torch.no_grad():
        model.sim_weight["hist"].fill_(0.7)  # starts at 0: make the similarity term count
    _check_batch_graph("qin+options", model, tmp_path)


def _check_batch_graph(name, model, tmp_path):
    single = OnnxScorer(export_onnx(model, tmp_path / "model.onnx"))
    path = export_batch_onnx(model, tmp_path / "model.batch.onnx")
    import onnx

    inputs = [i.name for i in onnx.load(str(path)).graph.input]
    assert inputs[-1] == "cand_user" and inputs[:-1] == single.input_names
    requests = [example_inputs(SCHEMA, batch=b, user_batch=1, seed=300 + i) for i, b in enumerate((7, 1, 40))]
    merged = {n: np.concatenate([r[n] for r in requests]) for n in requests[0]}
    merged["cand_user"] = np.concatenate(
        [np.full(len(r["cand_cat"]), i, dtype=np.int64) for i, r in enumerate(requests)]
    )
    batched = OnnxScorer(path).run(merged)
    separate = np.concatenate([single.run(r) for r in requests])
    assert batched.shape == (48,)
    np.testing.assert_allclose(batched, separate, atol=1e-6, err_msg=name)
    q = OnnxScorer(quantize_int8(path, tmp_path / "model.int8.batch.onnx")).run(merged)
    assert float(np.abs(q - batched).max()) < 0.02


@pytest.mark.parametrize("name", sorted(MODELS))
def test_history_cap_reads_only_the_newest_slots(name, tmp_path):
    """history_length = k: the model (and its ONNX graph) ignores slots k.. of the L-slot serving tensors."""
    torch.manual_seed(2)
    model = _warm(build_model(name, SCHEMA, {**CFG.model(name).to_json(), "history_length": 5}))
    x = example_inputs(SCHEMA, batch=64, user_batch=64, seed=11)
    cut = {k: (v[:, :5] if k in SCHEMA.sequence_inputs() else v) for k, v in x.items()}
    noisy = {k: v.copy() for k, v in x.items()}
    noisy["hist_cat"][:, 5:] = 7  # anything beyond the cap must not matter
    noisy["hist_vec"][:, 5:] = 3.0
    with torch.no_grad():
        a, b, c = (model(*_t(v)).numpy() for v in (x, cut, noisy))
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
    scorer = OnnxScorer(export_onnx(model, tmp_path / "m.onnx"))
    np.testing.assert_allclose(scorer.run(x), a, atol=1e-4)
    np.testing.assert_allclose(scorer.run(cut), a, atol=1e-4)  # fewer slots than the cap: the slice clamps


@pytest.mark.parametrize("name", ["autoint", "din", "qin"])
def test_history_age_weights_live_slots_only(name):
    """history_age: a click's age bucket changes the score; the age of an empty slot does not."""
    torch.manual_seed(3)
    model = build_model(name, SCHEMA, CFG.model(name))
    gate = model.history_gates["hist"]
    with torch.no_grad():
        gate.log_age.weight.copy_(torch.linspace(0.5, -2.0, gate.log_age.num_embeddings).unsqueeze(1))
    model = _warm(model, steps=5)
    x = example_inputs(SCHEMA, batch=32, user_batch=1, seed=12)
    x["hist_cat"][0, :4, 0], x["hist_cat"][0, 4:] = [5, 6, 7, 8], 0
    x["hist_age"][0, :4], x["hist_age"][0, 4:] = 1, 0
    older, padding = ({k: v.copy() for k, v in x.items()} for _ in range(2))
    older["hist_age"][0, :4] = 15
    padding["hist_age"][0, 4:] = 9
    with torch.no_grad():
        a, b, c = (model(*_t(v)).numpy() for v in (x, older, padding))
    assert np.abs(a - b).max() > 1e-4
    np.testing.assert_allclose(a, c, atol=1e-7)


def test_history_rank_weights_slots_by_recency():
    """history_rank: a per-slot weight (newest click, the one before, ...) on top of the age gate; exact in ONNX."""
    torch.manual_seed(4)
    model = build_model("qin", SCHEMA, {**CFG.model("qin").to_json(), "history_rank": True})
    gate = model.history_gates["hist"]
    assert gate.log_rank is not None
    with torch.no_grad():
        gate.log_rank.copy_(torch.linspace(0.0, -3.0, SCHEMA.sequences[0]["length"]))
    model = _warm(model, steps=5)
    x = example_inputs(SCHEMA, batch=32, user_batch=1, seed=13)
    x["hist_cat"][0, :4, 0], x["hist_cat"][0, 4:] = [5, 6, 7, 8], 0
    swapped = {k: v.copy() for k, v in x.items()}
    for k in SCHEMA.sequence_inputs():
        swapped[k][0, [0, 3]] = swapped[k][0, [3, 0]]  # same clicks, other order
    with torch.no_grad():
        a, b = (model(*_t(v)).numpy() for v in (x, swapped))
    assert np.abs(a - b).max() > 1e-4


class _ToyData(DataSource):
    """A DataSource of random serving tensors (train 400 rows; val / test 100)."""

    def __init__(self):
        self.x = {
            s: example_inputs(SCHEMA, batch=n, user_batch=n, seed=i)
            for i, (s, n) in enumerate((("train", 400), ("val", 100), ("test", 100)))
        }
        self.y = {s: (v["cand_cat"][:, 0] % 3 == 0).astype(np.float32) for s, v in self.x.items()}

    def rows(self, split):
        return len(self.y[split])

    def labels(self, split):
        return self.y[split]

    def cold(self, split):
        return np.zeros(len(self.y[split]), dtype=np.uint8)

    def gather(self, split, idx):
        return {**{k: v[idx] for k, v in self.x[split].items()}, "label": self.y[split][idx]}


def test_epoch_rows_samples_that_many_rows_per_epoch():
    from mmctr_trainer.train import train_model

    cfg = CFG.with_training(batch_size=32, epoch_rows=64, max_epochs=2, patience=5, log_every=1, threads=1)
    lines: list[str] = []
    res = train_model("lr", SCHEMA, _ToyData(), cfg, log=lines.append)
    steps = [line for line in lines if " step " in line]
    assert len(steps) == 4 and "epoch 1 step 2/2" in steps[1] and "epoch 2 step 2/2" in steps[3]  # 2 x 64 of 400 rows
    assert res.metrics["epochs"] == 2 and "64 sampled per epoch" in lines[0]


def test_restarts_train_on_the_initialisation_with_the_best_first_epoch():
    from mmctr_trainer.train import train_model

    def train(restarts, seed=42):
        cfg = CFG.with_training(batch_size=32, max_epochs=3, patience=5, threads=1, seed=seed, restarts=restarts)
        lines: list[str] = []
        return train_model("qin", SCHEMA, _ToyData(), cfg, log=lines.append), lines

    res, lines = train(3)
    tried = res.metrics["restarts"]
    assert [t["seed"] for t in tried] == [42, 43, 44]
    best = max(tried, key=lambda t: t["val_auc"])
    assert res.metrics["seed"] == best["seed"] and res.history[0]["val_auc"] == best["val_auc"]
    assert res.metrics["epochs"] == 3 and sum("restart " in line for line in lines) == 2
    # the chosen run goes on exactly as a run started from that seed alone would
    alone, _ = train(1, seed=best["seed"])
    assert [h["val_auc"] for h in alone.history] == [h["val_auc"] for h in res.history]
    assert alone.metrics["restarts"] == [{"seed": best["seed"], "val_auc": best["val_auc"]}]


# Options behind the multimodal fix (docs/model-quality.md): LayerNorm on the projected vector, item-id dropout,
# QIN without the user-id embedding and with the vectors' cosine added to its attention scores.
VARIANTS = {
    "qin": {"mm_norm": "layer", "item_id_dropout": 0.2, "user_id": False, "mm_similarity": True},
    "autoint": {"mm_norm": "layer", "item_id_dropout": 0.2},
    "din": {"mm_norm": "layer", "item_id_dropout": 0.2},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request):
    torch.manual_seed(4)
    name = request.param
    model = build_model(name, SCHEMA, {**CFG.model(name).to_json(), **VARIANTS[name]})
    for w in getattr(model, "sim_weight", {}).values():
        with torch.no_grad():
            w.fill_(0.5)  # non-zero, so that parity covers the similarity term
    return name, _warm(model)


def test_variant_broadcast_and_onnx_parity(variant, tmp_path):
    name, model = variant
    scorer = OnnxScorer(export_onnx(model, tmp_path / "model.onnx"))
    worst, n = _onnx_worst_diff(model, scorer, batch=1000, user_batch=1000, seeds=range(3000, 3010))
    x = example_inputs(SCHEMA, batch=9, user_batch=1, seed=3)
    rep = {k: (np.repeat(v, 9, axis=0) if k in USER_INPUTS else v) for k, v in x.items()}
    with torch.no_grad():
        a, b = model(*_t(x)).numpy(), model(*_t(rep)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(scorer.run(x), a, atol=1e-4)  # serving shape, Bu = 1
    assert n >= 10_000 and worst <= 1e-4, f"{name}: max |dp| {worst}"


def test_variant_qin_fold_is_exact():
    torch.manual_seed(5)
    model = _warm(build_model("qin", SCHEMA, {**CFG.model("qin").to_json(), **VARIANTS["qin"]}))
    x = example_inputs(SCHEMA, batch=256, user_batch=256, seed=6)
    with torch.no_grad():
        a = model(*_t(x)).numpy()
        b = serving_copy(model)(*_t(x)).numpy()
    assert np.abs(a - b).max() <= 1e-6


def test_mm_norm_keeps_a_zero_vector_zero_and_normalises_the_rest():
    from mmctr_trainer.layers import Embeddings

    torch.manual_seed(6)
    emb = Embeddings(SCHEMA, 8, mm_norm="layer").eval()
    D = SCHEMA.candidate["vector"][0]["width"]
    with torch.no_grad():
        v = emb.vector("item_vec", torch.cat([torch.zeros(1, D), torch.randn(2, D), 10 * torch.randn(2, D)]))
    assert torch.equal(v[0], torch.zeros(8))  # absent vector / --no-mm: the same input as a model without it
    np.testing.assert_allclose(v[1:].std(-1, unbiased=False).numpy(), 1.0, atol=1e-2)  # unit scale per item
    with pytest.raises(ValueError):
        Embeddings(SCHEMA, 8, mm_norm="batch")


def test_item_id_dropout_only_in_training():
    from mmctr_trainer.layers import Embeddings

    torch.manual_seed(7)
    emb = Embeddings(SCHEMA, 8, item_id_dropout=0.5)
    ids = torch.arange(1, 201)
    emb.train()
    dropped = (emb.lookup("item_id", ids).abs().sum(-1) == 0).float().mean().item()
    assert 0.35 < dropped < 0.65
    assert torch.equal(emb.lookup("category", ids[:16]), emb.tables["category"](ids[:16]))  # the candidate key only
    emb.eval()
    assert torch.equal(emb.lookup("item_id", ids), emb.tables["item_id"](ids))


def test_qin_without_user_id_ignores_it():
    torch.manual_seed(8)
    model = _warm(build_model("qin", SCHEMA, {**CFG.model("qin").to_json(), "user_id": False}))
    x = example_inputs(SCHEMA, batch=32, user_batch=32, seed=12)
    y = {k: v.copy() for k, v in x.items()}
    y["user_cat"][:, 0] = (y["user_cat"][:, 0] + 5) % SIZES["user_id"]
    with torch.no_grad():
        np.testing.assert_allclose(model(*_t(x)).numpy(), model(*_t(y)).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_ad_platform_layout_broadcast_and_onnx_parity(name, tmp_path):
    """Every model on a layout with every slot kind and two sequences: broadcast, ONNX parity, the batch graph."""
    schema = _ad_platform_schema()
    torch.manual_seed(9)
    params = {**CFG.model(name).to_json(), **({"history_age": True} if name != "lr" else {})}
    model = build_model(name, schema, {**params, **({"mm_similarity": True} if name == "qin" else {})})
    for w in getattr(model, "sim_weight", {}).values():
        with torch.no_grad():
            w.fill_(0.5)
    model.eval()
    x = example_inputs(schema, batch=9, user_batch=1, seed=21)
    rep = {k: (np.repeat(v, 9, axis=0) if k in schema.user_inputs() else v) for k, v in x.items()}
    with torch.no_grad():
        a, b = model(*_t(x, schema)).numpy(), model(*_t(rep, schema)).numpy()
    np.testing.assert_allclose(a, b, atol=1e-6)
    path = export_onnx(model, tmp_path / "model.onnx")
    scorer = OnnxScorer(path)
    assert scorer.input_names == schema.input_names
    np.testing.assert_allclose(scorer.run(x), a, atol=1e-5)
    y = example_inputs(schema, batch=300, user_batch=300, seed=22)
    with torch.no_grad():
        np.testing.assert_allclose(scorer.run(y), model(*_t(y, schema)).numpy(), atol=1e-5)
    batch = OnnxScorer(export_batch_onnx(model, tmp_path / "model.batch.onnx"))
    requests = [example_inputs(schema, batch=n, user_batch=1, seed=30 + n) for n in (4, 2)]
    merged = {k: np.concatenate([r[k] for r in requests]) for k in schema.input_names}
    merged["cand_user"] = np.array([0, 0, 0, 0, 1, 1])
    np.testing.assert_allclose(batch.run(merged), np.concatenate([scorer.run(r) for r in requests]), atol=1e-6)
