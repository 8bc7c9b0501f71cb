import json
from dataclasses import asdict

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.data.packed import PackedDataset, write_packed
from core.errors import ConfigError
from core.evaluate.run import periodic_evaluator
from core.records import Sequence
from core.train.checkpoint import load_checkpoint
from core.train.config import TrainConfig, load_config, preset
from core.train.losses import scaled_cross_entropy, triplet_loss
from core.train.sampler import PKSampler
from core.train.trainer import train

TYPES = ("nm-01", "nm-02", "nm-03", "nm-04", "nm-05", "nm-06", "bg-01", "bg-02", "cl-01", "cl-02")
TINY = {"model_args": {"channels": [4, 8, 8, 8], "parts": 4, "embed_dim": 8}, "batch_ids": 3, "batch_seqs": 4,
        "sampling": {"frames": 4}, "optimizer": {"lr": 0.05}, "scheduler": {"milestones": [4]}, "resize_to": [16, 11],
        "log_every": 1, "checkpoint_every": 2, "keep_checkpoints": 2, "device": "cpu", "amp": "off"}


def make_packed(root, ids=5, train_ids=3, views=("000", "090"), frames=5, seed=0, short_id=None):
    """Rectangles whose size depends on the id, with a moving 'leg'; ``short_id`` gets 1 sequence only."""
    rng = np.random.default_rng(seed)
    items = []
    for sid in range(ids):
        for typ in TYPES:
            for view in views:
                if sid == short_id and (typ, view) != (TYPES[0], views[0]):
                    continue
                arr = np.zeros((frames, 64, 64), np.uint8)
                w, h = 4 + 2 * sid, 20 + 3 * (sid % 3)
                for t in range(frames):
                    x0 = 30 - w // 2 + int(rng.integers(-2, 3))
                    arr[t, 10:10 + h, x0:x0 + w] = 255
                    arr[t, 10 + h:60, x0 + (t % 3):x0 + (t % 3) + 3] = 255
                split = "train" if sid < train_ids else ("gallery" if typ in TYPES[:4] else "probe")
                items.append((Sequence(sid=f"{sid:03d}", seq=f"{typ}-{view}", split=split, condition=typ[:2],
                                       seq_type=typ, view=view, frames=frames), arr))
    write_packed(root, items)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_packed(tmp_path_factory.mktemp("packed"), ids=5, train_ids=3)


def tiny(data, **kw):
    """TINY with ``kw`` on top (a section in ``kw`` replaces TINY's)."""
    return load_config({**TINY, "dataset": str(data), **kw})


# -- losses -----------------------------------------------------------------------------------------

def test_triplet_zero_when_classes_are_separated_beyond_margin():
    emb = torch.tensor([0.0, 0.1, 5.0, 5.1])[:, None, None].repeat(1, 1, 3)
    loss, info = triplet_loss(emb, torch.tensor([0, 0, 1, 1]), margin=0.2)
    assert loss.item() == 0.0 and info["nonzero"].item() == 0.0


def test_triplet_hand_computed():
    # 1-D points: class 0 at 0 and 1, class 1 at 1.1 and 5. As OpenGait, an anchor is its own
    # positive (d=0). Violating triplets (a,p,n): (0,1,1.1): 0.1  (1,0,1.1): 1.1  (1.1,5,1): 3.0
    # (1.1,5,0): 4.0  (5,1.1,1): 0.1, and self-pairs (1,1,1.1): 0.1  (1.1,1.1,1): 0.1 -> 8.5 / 7
    emb = torch.tensor([0.0, 1.0, 1.1, 5.0])[:, None, None]
    loss, info = triplet_loss(emb, torch.tensor([0, 0, 1, 1]), margin=0.2)
    assert loss.item() == pytest.approx(8.5 / 7, abs=1e-5)
    assert info["nonzero"].item() == pytest.approx(7 / 16)


def _opengait_triplet(emb, labels, margin):
    """A direct re-statement of OpenGait's TripletLoss forward (balanced batches), for comparison."""
    x = emb.permute(2, 0, 1).float()
    d = (x.pow(2).sum(-1)[:, :, None] + x.pow(2).sum(-1)[:, None, :] - 2 * x @ x.transpose(1, 2)).clamp_min(0).sqrt()
    same = labels[:, None] == labels[None, :]
    p, n = d.shape[0], d.shape[1]
    ap = d[:, same].view(p, n, -1, 1)
    an = d[:, ~same].view(p, n, 1, -1)
    loss = F.relu((ap - an).view(p, -1) + margin)
    num = (loss != 0).sum(-1).float()
    avg = loss.sum(-1) / (num + 1e-9)
    avg[num == 0] = 0
    return avg.mean()


def test_triplet_matches_opengait_restatement_and_hard_mining_by_loops():
    torch.manual_seed(3)
    emb, labels = torch.randn(12, 6, 3), torch.arange(4).repeat_interleave(3)
    loss, _ = triplet_loss(emb, labels, margin=0.5)
    assert loss.item() == pytest.approx(_opengait_triplet(emb, labels, 0.5).item(), rel=1e-5)
    hard, info = triplet_loss(emb, labels, margin=0.5, mining="hard")
    expect = []
    for part in range(3):
        x = emb[:, :, part]
        for a in range(12):
            dp = max((x[a] - x[j]).norm() for j in range(12) if labels[j] == labels[a])
            dn = min((x[a] - x[j]).norm() for j in range(12) if labels[j] != labels[a])
            expect.append(max(dp - dn + 0.5, 0.0))
    assert hard.item() == pytest.approx(float(np.mean(expect)), rel=1e-5)
    assert info["nonzero"].item() == pytest.approx(np.mean([e > 0 for e in expect]))


def test_triplet_handles_unbalanced_labels_and_backward():
    emb = torch.randn(7, 5, 3, requires_grad=True)
    loss, _ = triplet_loss(emb, torch.tensor([0, 0, 0, 1, 1, 2, 2]))
    loss.backward()
    assert torch.isfinite(emb.grad).all()


def test_scaled_cross_entropy_matches_manual():
    torch.manual_seed(0)
    logits, labels = torch.rand(4, 3, 2) * 2 - 1, torch.tensor([0, 2, 1, 1])
    loss, info = scaled_cross_entropy(logits, labels, scale=16, label_smoothing=0.1)
    manual = []
    for n in range(4):
        for p in range(2):
            logp = F.log_softmax(16 * logits[n, :, p], dim=0)
            q = torch.full((3,), 0.1 / 3)
            q[labels[n]] += 0.9
            manual.append(-(q * logp).sum())
    assert loss.item() == pytest.approx(torch.stack(manual).mean().item(), abs=1e-5)
    acc = (logits.argmax(1) == labels[:, None]).float().mean()
    assert info["acc"].item() == pytest.approx(acc.item())


# -- sampler ------------------------------------------------------------------------------------------

def test_sampler_pk_batches_and_resumable_state(tmp_path):
    ds = PackedDataset(make_packed(tmp_path, ids=4, train_ids=4, short_id=3))
    s = PKSampler(ds, batch_ids=3, batch_seqs=4, frames=6, seed=1)
    for _ in range(5):
        plan = s.plan()
        ids = plan.labels.reshape(3, 4)
        assert len(set(ids[:, 0])) == 3 and (ids == ids[:, :1]).all()
        for r, lab, fr in zip(plan.seq_rows, plan.labels, plan.frame_rows):
            e = ds.entries[r]
            assert s.classes[lab] == e.sequence.sid and e.sequence.split == "train"
            assert ((fr >= e.start) & (fr < e.start + e.length)).all()   # 5 frames < 6: with replacement
    frames, labels = s.next_batch()
    assert frames.shape == (12, 6, 64, 44) and frames.dtype == torch.uint8 and labels.shape == (12,)
    state = json.loads(json.dumps(s.state()))   # survives a plain-data round trip
    a = [s.plan() for _ in range(3)]
    s2 = PKSampler(ds, 3, 4, 6, seed=99)
    s2.set_state(state)
    b = [s2.plan() for _ in range(3)]
    for pa, pb in zip(a, b):
        assert (pa.seq_rows == pb.seq_rows).all() and (pa.frame_rows == pb.frame_rows).all()


def test_sampler_repeats_sequences_of_an_id_with_fewer_than_k(tmp_path):
    ds = PackedDataset(make_packed(tmp_path, ids=2, train_ids=2, short_id=1))
    s = PKSampler(ds, batch_ids=2, batch_seqs=4, frames=2, seed=0)
    plan = s.plan()
    short = plan.seq_rows[plan.labels == s.classes.index("001")]
    assert len(short) == 4 and len(set(short.tolist())) == 1


def test_model_input_cuts_and_area_resizes():
    from core.train.inputs import cut_frames, to_model_input

    frames = np.zeros((1, 2, 64, 64), np.uint8)
    frames[..., :32, 10:32] = 255                    # left half of the kept 44 columns, top half
    cut = cut_frames(frames)
    assert cut.shape == (1, 2, 64, 44)
    x = to_model_input(torch.from_numpy(np.ascontiguousarray(cut)), (2, 2))
    assert x.shape == (1, 2, 2, 2) and torch.allclose(x[0, 0], torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


# -- config ---------------------------------------------------------------------------------------------

def test_config_rejects_unknown_keys_and_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="'learning_rate'"):
        load_config({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="amp"):
        load_config({"amp": "fp8"})
    with pytest.raises(ConfigError, match="batch_ids"):
        load_config({"batch_ids": 0})
    with pytest.raises(ConfigError, match="chanels"):
        load_config({"model_args": {"chanels": [1, 2, 3, 4]}})
    with pytest.raises(ConfigError, match="preset"):
        preset("nope")
    path = tmp_path / "c.yaml"
    path.write_text("preset: demo-cpu\ndataset: /x\niterations: 7\nresize_to: [16, 11]\n")
    cfg = load_config(path)
    assert cfg.iterations == 7 and cfg.resize_to == (16, 11) and cfg.model_args == preset("demo-cpu").model_args
    ref = preset("casia-b-gaitbase")
    assert (ref.batch_ids, ref.batch_seqs, ref.frames, ref.iterations, ref.scheduler.milestones) == \
        (8, 16, 30, 60000, (20000, 40000, 50000))
    assert (ref.optimizer.name, ref.optimizer.lr, ref.loss.ce_scale, ref.loss.triplet_margin) == ("sgd", 0.1, 16.0, 0.2)
    assert [(a.type, a.prob) for a in ref.augment] == [("cut", 0.5), ("rotate", 0.3), ("erase", 0.3)]
    assert load_config(ref.to_dict()) == ref and isinstance(ref, TrainConfig)
    assert load_config(asdict(ref)) == ref                       # the form the catalog stores


def test_config_sections_merge_and_strict_section_checks():
    cfg = load_config({"preset": "casia-b-gaitbase", "optimizer": {"name": "adamw", "lr": 1e-3},
                       "scheduler": {"name": "cosine", "eta_min": 1e-5}, "sampling": {"type": "unfixed_ordered",
                       "frames_min": 5, "frames_max": 9, "skip": 2}, "loss": {"triplet_mining": "hard"},
                       "augment": ["perspective", "cut", {"type": "erase", "per_frame": True}]})
    assert cfg.optimizer.weight_decay == 5e-4 and cfg.optimizer.name == "adamw"      # untouched keys kept
    assert cfg.frames == 9 and cfg.sampling.skip == 2 and cfg.augment[2].per_frame
    assert load_config(cfg.to_dict()) == cfg
    bad = [({"optimizer": {"name": "adam", "momentum": 0.5}}, "momentum: applies to sgd"),
           ({"optimizer": {"lr": 0.1, "betas": [0.9]}}, "betas"),
           ({"optimizer": {"nam": "sgd"}}, "did you mean 'name'"),
           ({"optimizer": "sgd"}, "optimizer: expected a mapping"),
           ({"scheduler": {"t_max": 5}}, "t_max: applies to cosine"),
           ({"scheduler": {"name": "step"}}, "scheduler.name"),
           ({"loss": {"triplet_mining": "semi"}}, "triplet_mining"),
           ({"loss": {"triplet_weight": 0, "ce_weight": 0}}, "nothing would be trained"),
           ({"sampling": {"type": "unfixed_unordered", "frames_min": 9, "frames_max": 5}}, "frames_min"),
           ({"sampling": {"type": "all_ordered", "frames": 5}}, "sampling.frames: applies to"),
           ({"augment": ["flip"]}, "exactly one 'cut'"),
           ({"augment": ["cut", {"type": "flip", "degree": 3}]}, r"augment\[1\].degree"),
           ({"augment": ["cut", {"type": "rotate", "prob": 1.5}]}, r"augment\[1\].prob"),
           ({"augment": ["cut", "blur"]}, "augment\\[1\\].type"),
           ({"lr": 0.1, "optimizer": {"lr": 0.2}}, "given both"),
           ({"compile": "yes"}, "compile: expected true or false"),
           ({"data_on_device": "gpu"}, "data_on_device")]
    for data, msg in bad:
        with pytest.raises(ConfigError, match=msg):
            load_config(data)


def test_legacy_flat_config_still_loads():
    old = {"model": "gaitbase", "lr": 0.05, "momentum": 0.8, "milestones": [9, 3], "gamma": 0.5, "frames": 12,
           "triplet_margin": 0.3, "ce_scale": 8, "label_smoothing": 0.0, "ce_weight": 0.5, "triplet_weight": 2}
    cfg = load_config(old)
    assert (cfg.optimizer.lr, cfg.optimizer.momentum, cfg.scheduler.milestones, cfg.scheduler.gamma) == (0.05, 0.8, (3, 9), 0.5)
    assert (cfg.sampling.frames, cfg.loss.triplet_margin, cfg.loss.ce_scale, cfg.loss.ce_weight) == (12, 0.3, 8.0, 0.5)
    assert preset("demo-cpu", lr=0.2, frames=7).optimizer.lr == 0.2


def test_presets_name_their_model_and_opengait_files_are_recognised(tmp_path):
    from core.train.config import PRESETS, available_presets

    assert {"demo-cpu", "casia-b-gaitbase", "ccvid-gaitbase", "grew-gaitbase"} <= set(available_presets())
    for name in PRESETS:
        model = PRESETS[name]().model
        if name in available_presets():
            assert preset(name).model == model
        else:   # a preset whose model is not registered fails naming the model
            with pytest.raises(ConfigError, match=f"unknown model '{model}'"):
                preset(name)
    grew = preset("grew-gaitbase")
    assert grew.sampling.type == "unfixed_unordered" and grew.augment[0].type == "perspective"
    y = tmp_path / "og.yaml"
    y.write_text("model_cfg: {model: Baseline}\ntrainer_cfg: {total_iter: 5}\n")
    with pytest.raises(ConfigError, match="OpenGait config.*import_opengait"):
        load_config(y)


# -- training ---------------------------------------------------------------------------------------------

def test_training_reduces_loss_and_writes_checkpoints(data, tmp_path):
    events = []
    cfg = tiny(data, iterations=24, optimizer={"lr": 0.1}, scheduler={"milestones": [100]}, eval_every=12)
    res = train(cfg, tmp_path / "run", report=events.append, evaluator=periodic_evaluator(cfg))
    losses = [e["loss"] for e in events if e["type"] == "metrics"]
    assert len(losses) == 24 and np.mean(losses[-6:]) < np.mean(losses[:6])
    m = next(e for e in events if e["type"] == "metrics")
    assert {"loss", "triplet", "ce", "acc", "lr", "nonzero", "sec_per_step"} <= set(m)
    assert res.step == 24 and not res.stopped
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [12, 24] and all(0 <= e["NM"] <= 100 for e in evals)
    assert any(e["type"] == "progress" and e["step"] == e["total"] == 24 for e in events)
    ck = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ck.glob("ckpt-*.pt")) == ["ckpt-0000022.pt", "ckpt-0000024.pt"]   # keep 2
    assert (ck / "latest.pt").is_file() and json.loads((tmp_path / "run" / "config.json").read_text())["iterations"] == 24
    state = load_checkpoint(ck / "latest.pt")
    assert state["step"] == 24 and {"model", "optimizer", "scheduler", "scaler", "sampler", "torch_rng",
                                    "numpy_rng", "config"} <= set(state)


def test_resume_matches_uninterrupted_run_and_should_stop_checkpoints(data, tmp_path):
    cfg = tiny(data, iterations=6, checkpoint_every=100)    # milestone at 4 crosses the split
    train(cfg, tmp_path / "straight")
    polls = []

    def stop_after_three():
        polls.append(1)
        return len(polls) > 3

    first = train(cfg, tmp_path / "split", should_stop=stop_after_three)
    assert first.stopped and first.step == 3
    assert load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")["step"] == 3
    second = train(cfg, tmp_path / "split")
    assert second.resumed_from == 3 and second.step == 6 and not second.stopped
    a = load_checkpoint(tmp_path / "straight" / "checkpoints" / "latest.pt")
    b = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), rtol=0, atol=1e-6), k
    assert a["sampler"] == b["sampler"]
    again = train(cfg, tmp_path / "split")   # already finished: nothing to do
    assert again.step == 6 and again.resumed_from == 6


def test_one_reading_of_device_and_dtype_settings_for_every_stage():
    from core.device import device_name, resolve_device, resolve_dtype, resolve_placement, resolve_precision

    cpu = torch.device("cpu")
    assert resolve_device(" CPU ") == cpu and resolve_device(cpu) is cpu
    assert resolve_device(None).type == resolve_device("auto").type in ("cpu", "cuda")
    assert device_name(None) == "auto" and device_name("cuda:1") == "cuda:1" and device_name("mps") == "mps"
    with pytest.raises(ConfigError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    for names, dtype in ((("fp32", "float32", "float"), torch.float32), (("fp16", "float16", "half"), torch.float16),
                         (("bf16", "bfloat16", "BF16"), torch.bfloat16)):
        for name in names:
            assert resolve_dtype(cpu, name) is dtype, name
    assert resolve_dtype(cpu) is resolve_dtype(cpu, "auto") is torch.float32    # half precision only on CUDA
    assert resolve_placement("cpu", None, prefer="bfloat16") == (cpu, torch.float32)
    with pytest.raises(ConfigError, match="unknown dtype 'fp8'"):
        resolve_dtype(cpu, "fp8")
    for amp in ("auto", "off", "bf16", "fp16", "float16", "bfloat16", "fp32"):
        assert resolve_precision(amp, cpu).dtype is None, amp                   # AMP only on CUDA
    with pytest.raises(ConfigError, match="amp"):
        resolve_precision("fp8", cpu)
    if not torch.cuda.is_available():
        for name in ("cuda", "cuda:0"):
            with pytest.raises(ConfigError, match="no CUDA device"):
                resolve_device(name)


def test_training_device_is_spelt_as_core_device_spells_it():
    # Only the spelling is checked: a config may name a GPU this machine lacks.
    for name, normal in (("cuda:1", "cuda:1"), ("mps", "mps"), (" CPU ", "cpu"), ("auto", "auto")):
        assert load_config({"device": name}).device == normal
    for bad in ("gpu", "cuda:x", 3):
        with pytest.raises(ConfigError, match="device"):
            load_config({"device": bad})
