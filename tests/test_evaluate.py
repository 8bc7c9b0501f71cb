import numpy as np
import pytest
import torch

from core.evaluate.casia_b import evaluate_casia_b
from core.evaluate.distance import part_distance
from core.evaluate.run import evaluate_run
from core.train.config import load_config
from core.train.trainer import train
from tests.test_train import TINY, make_packed

GALLERY = {"000": {"a": 0, "b": 10, "c": 20}, "090": {"a": 100, "b": 110, "c": 120}}
# probe values per (condition types, view, id): two probes each (the condition's two seq types)
PROBES = {
    ("nm", "000"): {"a": (101, 101), "b": (111, 111), "c": (121, 121)},   # 6/6 vs 090 gallery
    ("nm", "090"): {"a": (1, 1), "b": (11, 11), "c": (21, 21)},           # 6/6 vs 000
    ("bg", "000"): {"a": (101, 101), "b": (101, 111), "c": (121, 121)},   # 5/6 -> 83.33
    ("bg", "090"): {"a": (1, 11), "b": (1, 1), "c": (21, 21)},            # 3/6 -> 50.00
    ("cl", "000"): {"a": (111, 111), "b": (121, 121), "c": (121, 101)},   # 1/6 -> 16.67
    ("cl", "090"): {"a": (1, 1), "b": (11, 11), "c": (1, 1)},             # 4/6 -> 66.67
}
PROBE_TYPES = {"nm": ("nm-05", "nm-06"), "bg": ("bg-01", "bg-02"), "cl": ("cl-01", "cl-02")}


def hand_case(views=("000", "090")):
    emb, labels, types, vs = [], [], [], []
    for view in views:
        for sid, value in GALLERY[view].items():
            for t in ("nm-01", "nm-02", "nm-03", "nm-04"):
                emb.append(value), labels.append(sid), types.append(t), vs.append(view)
        for cond, ptypes in PROBE_TYPES.items():
            for sid, values in PROBES[(cond, view)].items():
                for t, value in zip(ptypes, values):
                    emb.append(value), labels.append(sid), types.append(t), vs.append(view)
    # two identical parts: the part-mean distance equals the 1-D distance
    return np.repeat(np.array(emb, np.float32)[:, None, None], 2, axis=2), labels, types, vs


def test_casia_b_hand_computed_with_rounding_and_no_diagonal():
    res = evaluate_casia_b(*hand_case())
    assert res["views"] == ["000", "090"]
    assert res["NM"] == pytest.approx(100.0)
    # (83.33 + 50.00) / 2: rounding each cell first gives 66.665, not 66.6667
    assert res["BG"] == pytest.approx(66.665, abs=1e-9)
    assert res["CL"] == pytest.approx((16.67 + 66.67) / 2, abs=1e-9)
    assert res["per_view"]["BG"] == pytest.approx({"000": 83.33, "090": 50.0})
    assert res["matrix"]["BG"] == [[None, 83.33], [50.0, None]]
    # same-view pairs would score 1/3 for NM view 000 (every probe is nearest to c=20)
    assert res["matrix"]["NM"][0][0] is None
    assert res["counts"] == {"NM": 12, "BG": 12, "CL": 12, "gallery": 24}
    assert "excluded" in res["note"]


def test_single_view_falls_back_to_same_view_pairs():
    res = evaluate_casia_b(*hand_case(views=("000",)))
    # probes of view 000 against the view-000 gallery (0/10/20): everything is nearest to c
    assert res["NM"] == pytest.approx(33.33)
    assert res["matrix"]["NM"] == [[33.33]]
    assert "same-view" in res["note"]


def test_unused_types_and_missing_conditions():
    emb, labels, types, views = hand_case()
    keep = [i for i, t in enumerate(types) if not t.startswith("cl")]
    res = evaluate_casia_b(emb[keep], [labels[i] for i in keep], [types[i] for i in keep], [views[i] for i in keep])
    assert res["CL"] is None and res["NM"] == pytest.approx(100.0)


def test_part_distances_match_manual():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(3, 4, 2)), rng.normal(size=(5, 4, 2))
    euc = np.mean([np.linalg.norm(x[:, None, :, p] - y[None, :, :, p], axis=-1) for p in range(2)], axis=0)
    xn, yn = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)
    cos = 1 - np.mean([xn[:, :, p] @ yn[:, :, p].T for p in range(2)], axis=0)
    tx, ty = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    assert np.allclose(part_distance(tx, ty, "euc", chunk=2).numpy(), euc, atol=1e-5)
    assert np.allclose(part_distance(tx, ty, "cos").numpy(), cos, atol=1e-5)


def test_evaluate_run_from_checkpoint(tmp_path):
    data = tmp_path / "data"
    make_packed(data, ids=5, train_ids=3, views=("000", "090"), frames=5)
    cfg = load_config({**TINY, "dataset": str(data), "iterations": 2})
    train(cfg, tmp_path / "run")
    res = evaluate_run(tmp_path / "run", data)
    assert res["chance"] == pytest.approx(50.0) and res["num_test_ids"] == 2
    assert res["num_gallery"] == 2 * 4 * 2 and res["num_probe"] == 2 * 6 * 2
    assert set(res["per_view"]["NM"]) == {"000", "090"} and res["step"] == 2
    same = evaluate_run(tmp_path / "run" / "checkpoints" / "ckpt-0000002.pt", data, metric="cos")
    assert same["metric"] == "cos" and 0 <= same["NM"] <= 100
