"""SkeletonGait++ on the demo set: pose heatmaps packed beside the silhouettes, carried through the
training batches (consistent augmentation) and evaluation, and the clear error without pose."""

import json
import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.data.packed import PackedDataset
from core.data.transforms import Augmenter, params_to
from core.demo.writer import generate
from core.errors import ConfigError, InputError
from core.evaluate.embed import extract_embeddings
from core.evaluate.run import evaluate_run, load_model, periodic_evaluator
from core.layout import build_packed, pose_files, sequences
from core.models import build_model
from core.pose.heatmaps import pose_heatmaps
from core.pose.posefile import read_poses
from core.readers import scan
from core.train.batches import BatchSource
from core.train.config import AugmentStep, preset
from core.train.sampler import PKSampler
from core.train.trainer import Trainer, train

SIZE = 64            # the converter's frame size
CUT = 10             # side_cut(64)


@pytest.fixture(autouse=True, scope="module")
def one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A tiny demo set converted with ground-truth pose, and a copy whose layout lacks one
    sequence's pose files (so its packed form has no heatmaps)."""
    base = tmp_path_factory.mktemp("skeleton")
    generate(base / "raw", ids=4, views=("036", "090"), frames=8, layout="casia-b-silhouette", workers=1)
    posed = base / "posed"
    res = run_conversion(plan_conversion(scan(base / "raw"), posed,
                                         ConvertOptions(split="first:2", pose="groundtruth", workers=1)))
    assert res["failed"] == 0 and res["train_ids"] == 2 and res["test_ids"] == 2
    bare = base / "bare"
    shutil.copytree(posed, bare)
    first = sequences(bare)[0]
    for p in pose_files(bare, first):
        p.unlink()
    build_packed(bare)
    return {"posed": posed, "bare": bare, "first": first}


def skeleton_cfg(dataset, **over):
    return preset("demo-cpu-skeletongait++", dataset=str(dataset), **{"iterations": 3, "log_every": 1, **over})


# -- the packed form --------------------------------------------------------------------------------------

def test_packed_heatmaps_are_the_frames_rows_and_lie_on_the_person(demo):
    ds = PackedDataset(demo["posed"])
    n = ds.array.shape[0]
    assert ds.heatmaps is not None and ds.heatmaps.shape == (n, 2, SIZE, SIZE) and ds.heatmaps.dtype == np.uint8
    index = json.loads((demo["posed"] / "packed" / "index.json").read_text())
    info = index["heatmaps"]
    assert info["align"] == "skeleton" and info["channels"] == ["limbs", "joints"] and info["pose"] == "groundtruth"
    assert info["shape"] == [n, 2, SIZE, SIZE] and ds.heatmap_channels == 2

    # Row for row the maps of each sequence's own pose files, drawn the SkeletonGait way.
    for i in (0, len(ds) // 2, len(ds) - 1):
        seq = ds.entries[i].sequence
        want = pose_heatmaps(read_poses(pose_files(demo["posed"], seq)), size=(SIZE, SIZE), sigma=8.0,
                             align="skeleton")
        assert np.array_equal(ds.heatmap_frames(i), want)

    # Peaks where the skeleton is: the joint blobs sit on the aligned silhouette of the same frame,
    # and would not if the rows were mismatched (the control pairs every frame with a shifted one).
    sils = np.asarray(ds.array) > 127
    near = np.stack([cv2.dilate(s.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0 for s in sils])
    joints = np.asarray(ds.heatmaps[:, 1], np.float64)
    assert joints.max() >= 250 and (joints.reshape(n, -1).max(1) > 200).mean() > 0.95
    on_person = (joints * near).sum((1, 2)) / joints.sum((1, 2))
    assert np.median(on_person) > 0.85
    shifted = np.roll(near, 16, axis=2)
    assert np.median((joints * shifted).sum((1, 2)) / joints.sum((1, 2))) < 0.6
    peaks = joints.reshape(n, -1).argmax(1)
    assert near.reshape(n, -1)[np.arange(n), peaks].mean() > 0.9


def test_layout_without_every_pose_file_packs_no_heatmaps(demo):
    ds = PackedDataset(demo["bare"])
    assert ds.heatmaps is None and ds.heatmap_channels == 0
    assert not (demo["bare"] / "packed" / "heatmaps.npy").exists()          # the rebuild dropped it
    assert f"{demo['first'].sid}/{demo['first'].seq}" in ds.heatmap_note and "1 of" in ds.heatmap_note
    assert not [p for p in demo["bare"].iterdir() if p.name.startswith(".packed")]   # no leftovers
    with pytest.raises(InputError, match="lack _2d_pose.txt"):
        build_packed(demo["bare"], heatmaps=True)
    assert np.array_equal(ds.array, PackedDataset(demo["posed"]).array)     # same silhouettes either way


# -- batches ------------------------------------------------------------------------------------------------

def test_batches_stack_heatmaps_and_augment_them_with_the_silhouette(demo):
    ds = PackedDataset(demo["posed"])
    steps = (AugmentStep("perspective", prob=1.0), AugmentStep("cut"), AugmentStep("flip", prob=1.0),
             AugmentStep("rotate", prob=1.0), AugmentStep("erase", prob=1.0))
    aug = Augmenter(steps, ds.frame_shape)
    sampler = PKSampler(ds, 2, 2, frames=5, seed=3, augmenter=aug)
    plan = sampler.plan()
    both, _ = sampler.load(plan, heatmaps=True)
    sil, _ = sampler.load(plan)
    assert both.shape == (4, 5, 3, SIZE, SIZE) and sil.shape == (4, 5, SIZE, SIZE)   # perspective needs full width
    assert np.array_equal(both[:, :, 0], sil)
    assert np.array_equal(both[:, :, 1:], ds.heatmaps[plan.frame_rows])

    params = params_to(plan.aug, torch.device("cpu"))
    x = torch.from_numpy(both).float() / 255
    out = aug.apply(x, params, host=plan.aug, erase_channels=1)
    assert out.shape == (4, 5, 3, SIZE, SIZE - 2 * CUT)
    # The silhouette channel is exactly a silhouette-only batch; the heatmaps get the same warps and
    # flip but no erasing.
    assert torch.equal(out[:, :, 0], aug.apply(x[:, :, 0], params, host=plan.aug))
    unerased = aug.apply(x, params, host=plan.aug, erase_channels=0)
    assert torch.equal(out[:, :, 1:], unerased[:, :, 1:])
    assert (out[:, :, 0] != unerased[:, :, 0]).any()               # erasing did act, on the silhouette


def test_resident_and_read_batches_agree_with_heatmaps(demo):
    ds = PackedDataset(demo["posed"])
    xs = []
    for mode in ("never", "always"):
        sampler = PKSampler(ds, 2, 2, frames=4, seed=5, augmenter=Augmenter((AugmentStep("cut"),), ds.frame_shape))
        src = BatchSource(sampler, torch.device("cpu"), (32, 22), mode, heatmaps=True)
        try:
            assert src.resident == (mode == "always")
            xs.append(src.next().x)
        finally:
            src.close()
    assert xs[0].shape == (4, 4, 3, 32, 22) and torch.equal(xs[0], xs[1])
    assert xs[0][:, :, 1:].amax() > 0.5                              # the heatmaps are really there


def test_batch_source_erases_the_silhouette_only(demo):
    ds = PackedDataset(demo["posed"])
    aug = Augmenter((AugmentStep("cut"), AugmentStep("erase", prob=1.0, sl=0.2, sh=0.3)), ds.frame_shape)
    seed = 7
    plan = PKSampler(ds, 2, 2, frames=4, seed=seed, augmenter=aug).plan()       # what the source will draw
    src = BatchSource(PKSampler(ds, 2, 2, frames=4, seed=seed, augmenter=aug), torch.device("cpu"), None, "never",
                      heatmaps=True)
    try:
        x = src.next().x
    finally:
        src.close()
    rows = plan.frame_rows
    sil = torch.from_numpy(ds.array[rows][..., CUT:SIZE - CUT] / 255.0).float()
    maps = torch.from_numpy(ds.heatmaps[rows][..., CUT:SIZE - CUT] / 255.0).float()
    assert torch.equal(x[:, :, 1:], maps)                                       # heatmaps whole
    assert torch.equal(x[:, :, 0], x[:, :, 0] * (x[:, :, 0] == sil))            # silhouette only loses pixels
    assert (x[:, :, 0] != sil).any()                                            # ... and does lose some


# -- training and evaluation --------------------------------------------------------------------------

def test_skeletongait_trains_and_evaluates_on_the_demo_set(demo, tmp_path):
    events = []
    cfg = skeleton_cfg(demo["posed"], eval_every=3,
                       augment=["cut", {"type": "flip", "prob": 0.5}, {"type": "erase", "prob": 0.5}])
    res = train(cfg, tmp_path / "run", report=events.append, evaluator=periodic_evaluator(cfg))
    assert res.step == 3 and np.isfinite(res.metrics["loss"])
    ev = [e for e in events if e["type"] == "eval"]
    assert len(ev) == 1 and all(isinstance(ev[0][c], float) and 0 <= ev[0][c] <= 100 for c in ("NM", "BG", "CL"))

    out = evaluate_run(tmp_path / "run", demo["posed"], save_embeddings_to=False)
    assert all(0 <= out[c] <= 100 for c in ("NM", "BG", "CL")) and out["num_test_ids"] == 2
    assert out["views"] == ["036", "090"] and out["counts"]["gallery"] == 2 * 4 * 2


def test_trainer_batches_carry_three_channels(demo, tmp_path):
    trainer = Trainer(skeleton_cfg(demo["posed"]), tmp_path / "run")
    try:
        batch = trainer.source.next()
        assert batch.x.shape == (8, 10, 3, 32, 22)          # P = 2 train ids x K = 4
        stats = trainer.train_step(batch)
        assert torch.isfinite(stats["loss"])
    finally:
        trainer.close()


def test_dataset_without_pose_gives_a_clear_error(demo, tmp_path):
    with pytest.raises(ConfigError, match="--pose") as err:
        Trainer(skeleton_cfg(demo["bare"]), tmp_path / "run")
    assert str(demo["bare"]) in str(err.value) and "skeletongait++" in str(err.value)
    model = build_model("skeletongait++", num_classes=2, channels=(4, 8, 8, 8), layers=(1, 1, 1, 1), parts=4)
    ds = PackedDataset(demo["bare"])
    with pytest.raises(ConfigError, match=re.escape(str(demo["bare"]))):
        extract_embeddings(model, ds, ds.indices(["gallery", "probe"]))


def test_gaitbase_batches_are_unchanged_by_heatmaps(demo, tmp_path):
    xs = []
    for name in ("posed", "bare"):
        trainer = Trainer(preset("demo-cpu", dataset=str(demo[name]), iterations=1), tmp_path / name)
        try:
            assert not trainer.source.heatmaps
            batch = trainer.source.next()
            xs.append(batch.x)
            if name == "posed":
                assert torch.isfinite(trainer.train_step(batch)["loss"])
        finally:
            trainer.close()
    assert xs[0].shape == (8, 10, 32, 22) and torch.equal(xs[0], xs[1])


def test_skeletongait_on_heatmaps_alone_trains_and_evaluates(demo, tmp_path):
    # OpenGait's SkeletonGait: DeepGaitV2 fed the two heatmaps only, tested on its normalised BNNeck output.
    args = {"channels": [8, 16, 32, 64], "parts": 8, "in_channels": 2, "heatmap_channels": 2,
            "eval_bn_embeddings": True}
    cfg = skeleton_cfg(demo["posed"], model="deepgaitv2", model_args=args)
    res = train(cfg, tmp_path / "run")
    assert res.step == 3 and np.isfinite(res.metrics["loss"])
    out = evaluate_run(tmp_path / "run", demo["posed"], save_embeddings_to=False)
    assert all(0 <= out[c] <= 100 for c in ("NM", "BG", "CL")) and out["num_test_ids"] == 2
    model, _ = load_model(tmp_path / "run" / "checkpoints" / "latest.pt")
    ds = PackedDataset(demo["posed"])
    rows = ds.indices(["gallery", "probe"])[:3]
    emb = extract_embeddings(model, ds, rows)["embeddings"]
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)     # per-part unit vectors (use_emb2)
    with pytest.raises(ConfigError, match="--pose"):
        Trainer(skeleton_cfg(demo["bare"], model="deepgaitv2", model_args=args), tmp_path / "bare")
