"""The families added for issue 13 train and evaluate through the ordinary trainer on a tiny demo
set; GaitGraph2 and GaitTR on the keypoints the converter wrote beside the frames."""

import re
import shutil

import numpy as np
import pytest
import torch

from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.data.packed import PackedDataset
from core.demo.writer import generate
from core.errors import ConfigError
from core.evaluate.embed import extract_embeddings
from core.evaluate.run import evaluate_run, periodic_evaluator
from core.layout import build_packed, pose_files, sequences
from core.models import build_model
from core.pose.posefile import read_pose
from core.pose.sequence import normalize_empty
from core.readers import scan
from core.train.config import preset
from core.train.trainer import Trainer, train


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("families")
    generate(base / "raw", ids=4, views=("036", "090"), frames=8, layout="casia-b-silhouette", workers=1)
    posed = base / "posed"
    res = run_conversion(plan_conversion(scan(base / "raw"), posed,
                                         ConvertOptions(split="first:2", pose="groundtruth", workers=1)))
    assert res["failed"] == 0
    bare = base / "bare"
    shutil.copytree(posed, bare)
    seqs = sequences(bare)
    for seq in (seqs[0], next(s for s in seqs if s.split != "train")):   # one training, one test sequence
        for p in pose_files(bare, seq):
            p.unlink()
    build_packed(bare)
    return {"posed": posed, "bare": bare}


def cfg_for(name, dataset, **over):
    return preset(name, dataset=str(dataset), **{"iterations": 2, "log_every": 1, **over})


POSE = {"demo-cpu-gaitgraph2", "demo-cpu-gaittr"}


@pytest.mark.parametrize("name", ["demo-cpu-gaitbase-plain", "demo-cpu-gaitpart", "demo-cpu-gln",
                                  "demo-cpu-gln-phase2", "demo-cpu-gaitgraph2", "demo-cpu-gaittr", "demo-cpu-swingait"])
def test_preset_trains_and_reports_its_protocol(demo, tmp_path, name):
    events = []
    cfg = cfg_for(name, demo["posed"], eval_every=2, **({"sampling": {"frames": 6}} if name in POSE else {}))
    res = train(cfg, tmp_path / "run", report=events.append, evaluator=periodic_evaluator(cfg))
    assert res.step == 2 and np.isfinite(res.metrics["loss"])
    ev = [e for e in events if e["type"] == "eval"]
    assert len(ev) == 1 and all(0 <= ev[0][c] <= 100 for c in ("NM", "BG", "CL"))
    if "phase2" in name:
        assert "ce" in res.metrics     # GLN's second phase trains its classifier too


def test_gaitgraph2_batches_are_the_pose_files(demo, tmp_path):
    trainer = Trainer(cfg_for("demo-cpu-gaitgraph2", demo["posed"], sampling={"frames": 6}), tmp_path / "run")
    try:
        batch = trainer.source.next()
        assert batch.x.shape == (8, 6, 17, 3) and batch.x.dtype == torch.float32
        ds = trainer.dataset
        # Every keypoint frame of the batch is one frame of some training sequence's pose files.
        rows = {tuple(np.round(k, 3).ravel()) for e in ds.entries for k in _keypoints(ds, e)}
        assert all(tuple(np.round(f.numpy(), 3).ravel()) in rows for f in batch.x.reshape(-1, 17, 3))
        assert torch.isfinite(trainer.train_step(batch)["loss"])
    finally:
        trainer.close()


def _keypoints(ds, entry):
    return normalize_empty(np.stack([read_pose(p).keypoints for p in pose_files(ds.root, entry.sequence)]))


def test_gaitgraph2_without_pose_files_says_how_to_get_them(demo, tmp_path):
    with pytest.raises(ConfigError, match="--pose") as err:
        Trainer(cfg_for("demo-cpu-gaitgraph2", demo["bare"]), tmp_path / "run")
    assert str(demo["bare"]) in str(err.value)
    model = build_model("gaitgraph2", branch=[5, 8, 8], main=[8, 16, 256], embed_dim=4)
    ds = PackedDataset(demo["bare"])
    with pytest.raises(ConfigError, match=re.escape(str(demo["bare"]))):
        extract_embeddings(model, ds, ds.indices(["gallery", "probe"]))


def test_gaitgraph2_refuses_image_augmentations(demo, tmp_path):
    with pytest.raises(ConfigError, match="augment"):
        Trainer(cfg_for("demo-cpu-gaitgraph2", demo["posed"], augment=["cut", {"type": "flip", "prob": 0.5}]),
                tmp_path / "run")


def test_gaitgraph2_evaluates_a_run(demo, tmp_path):
    cfg = cfg_for("demo-cpu-gaitgraph2", demo["posed"], sampling={"frames": 6})
    train(cfg, tmp_path / "run")
    out = evaluate_run(tmp_path / "run", demo["posed"], save_embeddings_to=False)
    assert all(0 <= out[c] <= 100 for c in ("NM", "BG", "CL")) and out["num_test_ids"] == 2


def test_gaittr_keeps_undetected_joints_gaitgraph2_fills_them(demo, tmp_path):
    from core.train.keypoints import dataset_keypoints

    ds = PackedDataset(demo["posed"])
    rows = ds.indices("train")
    raw, filled = dataset_keypoints(ds, rows, fill_empty=False), dataset_keypoints(ds, rows)
    e = ds.entries[rows[0]]
    assert np.array_equal(raw[e.start:e.start + e.length], np.stack(
        [read_pose(p).keypoints for p in pose_files(ds.root, e.sequence)]))
    assert np.array_equal(filled[e.start:e.start + e.length], _keypoints(ds, e))
