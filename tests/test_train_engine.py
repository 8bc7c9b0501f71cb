"""The training engine's parts: frame sampling, batched augmentations, the batch source, optimisers,
OpenGait config import, torch.compile fallback, exact resume and single-process behaviour."""

import math

import cv2
import numpy as np
import pytest
import torch

from core.data.frame_sampling import sample_batch, sample_frames
from core.data.packed import PackedDataset
from core.data.transforms import Augmenter, params_to
from core.errors import ConfigError
from core.train.batches import BatchSource
from core.train.checkpoint import load_checkpoint
from core.train.config import AugmentStep, SamplingConfig, load_config
from core.train.distributed import LaunchEnv, launch_env
from core.train.optim import build_optimizer, build_scheduler
from core.train.sampler import PKSampler
from core.train.trainer import train
from tests.test_train import make_packed, tiny


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_packed(tmp_path_factory.mktemp("packed"), ids=4, train_ids=4, frames=7)


# -- frame sampling ----------------------------------------------------------------------------------

def test_fixed_unordered_draws_without_replacement_unless_short():
    rng = np.random.default_rng(0)
    cfg = SamplingConfig(frames=5)
    draws = [sample_frames(rng, cfg, 9) for _ in range(50)]
    assert all(len(set(d.tolist())) == 5 and d.min() >= 0 and d.max() < 9 for d in draws)
    assert any((np.diff(d) < 0).any() for d in draws)          # unordered: draw order is kept
    short = sample_frames(rng, cfg, 3)
    assert len(short) == 5 and set(short.tolist()) <= {0, 1, 2}


def test_ordered_picks_sorted_frames_from_one_window_and_wraps_short_sequences():
    rng = np.random.default_rng(1)
    cfg = SamplingConfig(type="fixed_ordered", frames=4, skip=2)
    for _ in range(50):
        d = sample_frames(rng, cfg, 20)
        assert (np.diff(d) > 0).all() and d[-1] - d[0] < 4 + 2
    wrapped = [sample_frames(rng, cfg, 3) for _ in range(50)]    # window of 6 over a 3-frame sequence
    assert all(len(w) == 4 and set(w.tolist()) <= {0, 1, 2} for w in wrapped)
    assert any(len(set(w.tolist())) < 4 for w in wrapped)        # positions 0..5 map back onto 3 frames


def test_unfixed_and_all_pad_by_cycling_and_report_lengths():
    rng = np.random.default_rng(2)
    cfg = SamplingConfig(type="unfixed_unordered", frames_min=2, frames_max=6)
    idx, n = sample_batch(rng, cfg, np.array([10, 10, 10, 10, 10, 10]))
    assert idx.shape == (6, n.max()) and ((n >= 2) & (n <= 6)).all() and len(set(n.tolist())) > 1
    for row, k in zip(idx, n):
        assert (row[k:] == row[np.arange(k, len(row)) % k]).all()
    idx, n = sample_batch(rng, SamplingConfig(type="all_ordered", all_limit=4), np.array([2, 7]))
    assert n.tolist() == [2, 4] and idx.tolist() == [[0, 1, 0, 1], [0, 1, 2, 3]]
    a = sample_batch(np.random.default_rng(5), cfg, np.array([8, 9]))
    b = sample_batch(np.random.default_rng(5), cfg, np.array([8, 9]))
    assert (a[0] == b[0]).all()


# -- augmentations ------------------------------------------------------------------------------------

def _frames(b=3, t=4, h=64, w=44, seed=0):
    g = np.random.default_rng(seed)
    x = np.zeros((b, t, h, w), np.float32)
    for i in range(b):
        for j in range(t):
            top, left = g.integers(2, 20), g.integers(2, w // 2)
            x[i, j, top:top + 30, left:left + 12] = 1.0
            x[i, j, top + 30:h - 2, left + 3:left + 6] = 0.5
    return x


def _apply(steps, x, seed=0, shape=None):
    aug = Augmenter(steps, shape or x.shape[-2:])
    params = aug.draw(np.random.default_rng(seed), x.shape[0], x.shape[1])
    return aug, params, aug.apply(torch.from_numpy(x), params_to(params, torch.device("cpu"))).numpy()


def test_rotate_matches_opencv_and_is_shared_by_all_frames_of_a_sequence():
    x = _frames()
    aug, params, out = _apply([AugmentStep("cut"), AugmentStep("rotate", prob=1.0)], x)
    fwd = np.linalg.inv(params["post0.inv"].astype(np.float64))
    for i in range(x.shape[0]):
        angle = math.degrees(math.atan2(fwd[i, 0, 1], fwd[i, 0, 0]))
        assert 0 < abs(angle) <= 10
        # OpenGait passes (dh // 2, dw // 2) as the (x, y) centre.
        m = cv2.getRotationMatrix2D((64 // 2, 44 // 2), angle, 1)
        for j in range(x.shape[1]):
            ref = cv2.warpAffine(x[i, j], m, (44, 64))
            assert np.abs(out[i, j] - ref).max() < 0.05     # OpenCV interpolates in 1/32 pixel steps


def test_perspective_before_cut_matches_opencv_with_opengait_corner_ranges():
    x = _frames(w=64)
    aug, params, out = _apply([AugmentStep("perspective", prob=1.0), AugmentStep("cut")], x)
    assert aug.read_cut == 0 and out.shape[-1] == 44
    canvas = np.array([[0, 0, 1], [64, 0, 1], [64, 64, 1], [0, 64, 1]], float).T
    for i in range(x.shape[0]):
        src = params["pre0.inv"][i].astype(np.float64) @ canvas
        src = (src[:2] / src[2]).T                                  # TL, TR, BR, BL
        assert np.allclose(src[:, 1], [0, 0, 64, 64], atol=1e-3)
        assert (src[[0, 3], 0] >= 0).all() and (src[[0, 3], 0] < 10).all()      # 64 // 44 * 10 = 10
        assert (src[[1, 2], 0] >= 54).all() and (src[[1, 2], 0] < 64).all()
        m = cv2.getPerspectiveTransform(src.astype(np.float32), canvas[:2].T.astype(np.float32))
        for j in range(x.shape[1]):
            ref = cv2.warpPerspective(x[i, j], m, (64, 64))[:, 10:54]
            assert np.abs(out[i, j] - ref).max() < 0.05


def test_erase_flip_probabilities_and_per_frame():
    x = np.ones((400, 3, 64, 44), np.float32)
    _, params, out = _apply([AugmentStep("cut"), AugmentStep("erase", prob=0.3)], x, shape=(64, 64))
    erased = (out == 0).any(axis=(1, 2, 3))
    assert abs(erased.mean() - 0.3) < 0.08
    frac = (out[erased] == 0).mean(axis=(2, 3))                   # (n, T): same hole in every frame
    assert (frac == frac[:, :1]).all() and (frac >= 0.04).all() and (frac <= 0.21).all()
    _, _, out = _apply([AugmentStep("cut"), AugmentStep("erase", prob=1.0, per_frame=True)], x[:20], shape=(64, 64))
    holes = (out == 0)
    assert holes.any(axis=(2, 3)).all() and not all((h == h[0]).all() for h in holes)
    y = _frames(b=200)
    _, params, out = _apply([AugmentStep("cut"), AugmentStep("flip", prob=0.5)], y, shape=(64, 64))
    on = params["post0.on"]
    assert np.array_equal(out[on], y[on][..., ::-1]) and np.array_equal(out[~on], y[~on])
    assert 0.4 < on.mean() < 0.6


def test_host_choices_select_the_same_sequences_as_device_masks():
    x = _frames(b=12, w=64)
    steps = [AugmentStep("perspective", prob=0.4), AugmentStep("cut"), AugmentStep("flip", prob=0.5),
             AugmentStep("rotate", prob=0.3), AugmentStep("erase", prob=0.5)]
    aug = Augmenter(steps, (64, 64))
    params = aug.draw(np.random.default_rng(4), 12, x.shape[1])
    dev = params_to(params, torch.device("cpu"))
    masked = aug.apply(torch.from_numpy(x), dev)
    subset = aug.apply(torch.from_numpy(x), dev, host=params)
    assert torch.allclose(masked, subset, atol=1e-6) and masked.shape[-1] == 44


def test_extra_channels_get_the_same_transform():
    x = _frames(b=2, t=3)
    five = np.stack([x, 1 - x], axis=2)                              # (B, T, 2, H, W)
    steps = [AugmentStep("cut"), AugmentStep("rotate", prob=1.0), AugmentStep("flip", prob=1.0)]
    _, _, out4 = _apply(steps, x, shape=(64, 64))
    _, _, out5 = _apply(steps, five, shape=(64, 64))
    assert out5.shape == (2, 3, 2, 64, 44) and np.allclose(out5[:, :, 0], out4)


# -- batch source -------------------------------------------------------------------------------------

def _source(ds, mode, seed=3):
    aug = Augmenter([AugmentStep("perspective", prob=0.5), AugmentStep("cut"), AugmentStep("rotate"),
                     AugmentStep("erase")], ds.frame_shape)
    s = PKSampler(ds, 2, 3, seed=seed, augmenter=aug,
                  sampling=SamplingConfig(type="unfixed_unordered", frames_min=2, frames_max=9))
    return BatchSource(s, torch.device("cpu"), (32, 22), on_device=mode)


def test_resident_and_read_paths_give_identical_batches(data):
    ds = PackedDataset(data)
    a, b = _source(ds, "always"), _source(ds, "never")
    assert a.resident and not b.resident
    try:
        for _ in range(3):
            before = a.state()
            assert before == b.state()
            ba, bb = a.next(), b.next()
            assert before != a.state()       # the next plan was drawn
            assert ba.x.shape[-2:] == (32, 22) and ba.lengths is not None
            assert torch.equal(ba.x, bb.x) and torch.equal(ba.labels, bb.labels) and torch.equal(ba.lengths, bb.lengths)
    finally:
        a.close(), b.close()


def test_plan_shards_interleave_and_gathered_labels_follow_rank_order(data):
    s = PKSampler(PackedDataset(data), 3, 4, frames=2, seed=0)
    plan = s.plan()
    shards = [plan.shard(r, 2) for r in range(2)]
    assert sorted(np.concatenate([p.seq_rows for p in shards]).tolist()) == sorted(plan.seq_rows.tolist())
    assert (plan.gathered_labels(2) == np.concatenate([p.labels for p in shards])).all()
    assert (shards[1].frame_rows == plan.frame_rows[1::2]).all()


# -- optimisation -------------------------------------------------------------------------------------

def test_optimizers_and_cosine_schedule():
    m = torch.nn.Linear(3, 2)
    cfg = load_config({"optimizer": {"name": "adamw", "lr": 0.01, "betas": [0.8, 0.9], "weight_decay": 0.1},
                       "scheduler": {"name": "cosine", "eta_min": 0.001}, "iterations": 10})
    opt = build_optimizer(cfg.optimizer, m.parameters())
    assert isinstance(opt, torch.optim.AdamW) and opt.param_groups[0]["betas"] == (0.8, 0.9)
    sched = build_scheduler(cfg.scheduler, opt, cfg.iterations)
    for t in range(1, 11):
        opt.step(), sched.step()
        want = 0.001 + (0.01 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2
        assert opt.param_groups[0]["lr"] == pytest.approx(want)
    sgd = build_optimizer(load_config({"optimizer": {"nesterov": True}}).optimizer, m.parameters())
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["nesterov"]
    assert isinstance(build_optimizer(load_config({"optimizer": {"name": "adam"}}).optimizer, m.parameters()),
                      torch.optim.Adam)


# OpenGait import: tests/test_opengait_import.py (rules) and tests/test_opengait_reference.py (networks).


# -- training behaviour ---------------------------------------------------------------------------------

RESUME = {"iterations": 20, "checkpoint_every": 100, "optimizer": {"name": "adamw", "lr": 0.01},
          "scheduler": {"name": "cosine"}, "sampling": {"type": "unfixed_ordered", "frames_min": 3, "frames_max": 6,
                                                        "skip": 1},
          "augment": [{"type": "perspective", "prob": 0.5}, "cut", {"type": "flip", "prob": 0.5},
                      {"type": "rotate", "prob": 0.5}, {"type": "erase", "prob": 0.5}]}


def test_exact_resume_20_straight_equals_10_plus_10(data, tmp_path):
    cfg = tiny(data, **RESUME)
    train(cfg, tmp_path / "straight")
    polls = []
    first = train(cfg, tmp_path / "split", should_stop=lambda: polls.append(1) or len(polls) > 10)
    assert first.stopped and first.step == 10
    second = train(cfg, tmp_path / "split")
    assert second.resumed_from == 10 and second.step == 20
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), rtol=0, atol=1e-6), k
    assert a["sampler"] == b["sampler"] and a["python_rng"] == b["python_rng"]
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    assert a["scheduler"]["last_epoch"] == 20 and {"cuda_rng", "scaler", "numpy_rng", "torch_rng"} <= set(a)


def test_compile_flag_falls_back_to_eager_when_compiling_fails(data, tmp_path, monkeypatch):
    cfg = tiny(data, iterations=3, checkpoint_every=100)
    train(cfg, tmp_path / "eager")

    def broken_compile(model, **kw):
        def call(*a, **k):
            raise RuntimeError("no compiler here")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    events = []
    res = train(load_config({**cfg.to_dict(), "compile": True}), tmp_path / "compiled", report=events.append)
    assert res.step == 3 and not res.compiled
    assert any(e["type"] == "warning" and "torch.compile failed" in e["message"] for e in events)
    a = load_checkpoint(tmp_path / "eager" / "checkpoints" / "latest.pt")["model"]
    b = load_checkpoint(tmp_path / "compiled" / "checkpoints" / "latest.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)

    monkeypatch.setattr(torch, "compile", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("unsupported")))
    res = train(load_config({**cfg.to_dict(), "compile": True}), tmp_path / "compiled2")
    assert res.step == 3 and not res.compiled


def test_hard_mining_and_triplet_only_training_run(data, tmp_path):
    res = train(tiny(data, iterations=3, loss={"triplet_mining": "hard", "ce_weight": 0}), tmp_path / "r")
    assert res.step == 3 and "ce" not in res.metrics and np.isfinite(res.metrics["triplet"])


def test_single_process_never_initialises_a_process_group(data, tmp_path, monkeypatch):
    import torch.distributed as dist

    def forbidden(*a, **k):
        raise AssertionError("init_process_group called in a single process")

    monkeypatch.setattr(dist, "init_process_group", forbidden)
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}.items():   # torchrun --nproc_per_node=1
        monkeypatch.setenv(k, v)
    res = train(tiny(data, iterations=2), tmp_path / "r")
    assert res.step == 2 and res.world_size == 1 and not dist.is_initialized()
    assert launch_env({}) == LaunchEnv(0, 1, 0) and launch_env({"RANK": "1", "WORLD_SIZE": "2"}).rank == 1
    with pytest.raises(ConfigError, match="RANK"):
        launch_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="WORLD_SIZE"):
        launch_env({"WORLD_SIZE": "two"})
