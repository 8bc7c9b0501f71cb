"""Training-step benchmark: how much the data path costs on top of the model's own step.

For GaitBase at OpenGait's batch (8 ids x 16 sequences x 30 frames, 64x44 input) it prints
  (a) model step: forward + backward + optimizer step on a batch already on the device;
  (b) full step through our data path (packed memmap or device-resident frames, batched
      augmentation on the device, prefetch thread on CPU);
  (c) the same model fed OpenGait's way: a torch DataLoader with W worker processes reading one
      pickle per sequence, collating in the workers, then per-sequence numpy/OpenCV transforms
      and a host-to-device copy in the training process (as OpenGait's inputs_pretreament);
and the ratios b/a (target <= 1.10 on a GPU) and c/b (target >= 2). All three use the CASIA-B
preset's augmentation (cut, rotate 0.3, erase 0.3) except (a), which reuses one finished batch.

    python -m bench.train                     # GPU: the reference batch and model
    python -m bench.train --small             # CPU: 4x4x10 frames at 32x22, narrow GaitBase
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
import math
import pickle
import random
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.utils.data as tud

from core.data.packed import write_packed
from core.records import Sequence
from core.train.batches import Batch
from core.train.config import preset
from core.train.inputs import resize_frames
from core.train.losses import triplet_index
from core.train.trainer import Trainer


# -- synthetic data, written both ways ---------------------------------------------------------------

def walker(rng: np.random.Generator, sid: int, t: int, n: int) -> np.ndarray:
    """(n, 64, 64) uint8: a body block and swinging legs whose size depends on the id."""
    out = np.zeros((n, 64, 64), np.uint8)
    w, h = 8 + sid % 7, 24 + sid % 5
    for f in range(n):
        x0 = 32 - w // 2 + int(rng.integers(-1, 2))
        out[f, 6:6 + h, x0:x0 + w] = 255
        swing = int(6 * math.sin((t + f) * 0.5))
        out[f, 6 + h:62, x0 + w // 2 + swing:x0 + w // 2 + swing + 3] = 255
        out[f, 6 + h:62, x0 + w // 2 - swing:x0 + w // 2 - swing + 3] = 255
    return out


def make_data(root: Path, ids: int, seqs: int, frames: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    items, pkl_root = [], root / "pkl"
    for sid in range(ids):
        for k in range(seqs):
            arr = walker(rng, sid, k, frames + int(rng.integers(0, frames // 2 + 1)))
            seq = Sequence(sid=f"{sid:03d}", seq=f"nm-{k:02d}-090", split="train", seq_type=f"nm-{k:02d}", view="090",
                           frames=len(arr))
            items.append((seq, arr))
            d = pkl_root / seq.sid / seq.seq_type / "090"
            d.mkdir(parents=True, exist_ok=True)
            with open(d / "090.pkl", "wb") as fh:
                pickle.dump(arr, fh)
    write_packed(root / "packed_ds", items)
    return root / "packed_ds", pkl_root


# -- OpenGait-style loading (a re-statement of its data path, for comparison) -------------------------

class PickleSequences(tud.Dataset):
    """One pickle per sequence, unpickled on every access (OpenGait's DataSet without cache)."""

    def __init__(self, root: Path):
        self.paths = sorted(root.glob("*/*/*/*.pkl"))
        self.labels = [p.parts[-4] for p in self.paths]
        self.label_set = sorted(set(self.labels))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        with open(self.paths[i], "rb") as fh:
            return pickle.load(fh), self.labels[i]


class PKBatches(tud.Sampler):
    def __init__(self, ds: PickleSequences, p: int, k: int):
        self.ds, self.p, self.k = ds, p, k
        self.by_label = {lab: [i for i, x in enumerate(ds.labels) if x == lab] for lab in ds.label_set}

    def __iter__(self):
        while True:
            batch = []
            for lab in random.sample(self.ds.label_set, self.p):
                pool = self.by_label[lab]
                batch += random.sample(pool, self.k) if len(pool) >= self.k else random.choices(pool, k=self.k)
            yield batch

    def __len__(self) -> int:
        return 1 << 30


class FixedFrames:
    """Collate as OpenGait's CollateFn does for fixed_unordered: per sequence, ``frames`` indices
    drawn with np.random.choice, the frames appended one by one to a list, then one array per
    sequence; the batch stays a list of arrays (stacked later, in the training process)."""

    def __init__(self, label_set: list[str], frames: int):
        self.label_set, self.frames = label_set, frames

    def __call__(self, batch):
        seqs = []
        for seq, _ in batch:
            idx = np.random.choice(list(range(len(seq))), self.frames, replace=len(seq) < self.frames)
            seqs.append(np.asarray([seq[j] for j in idx]))
        return seqs, np.array([self.label_set.index(lab) for _, lab in batch])


def opengait_transform(seq: np.ndarray, rng: random.Random) -> np.ndarray:
    """BaseSilCuttingTransform, RandomRotate(0.3), RandomErasing(0.3) on one (T, 64, 64) sequence."""
    c = seq.shape[-1] // 64 * 10
    x = seq[..., c:-c] / 255.0
    if rng.uniform(0, 1) < 0.3:
        _, h, w = x.shape
        m = cv2.getRotationMatrix2D((h // 2, w // 2), rng.uniform(-10, 10), 1)
        x = np.stack([cv2.warpAffine(f, m, (w, h)) for f in x])
    if rng.uniform(0, 1) < 0.3:
        _, h, w = x.shape
        for _ in range(100):
            area = rng.uniform(0.05, 0.2) * h * w
            ar = rng.uniform(0.3, 1 / 0.3)
            eh, ew = int(round(math.sqrt(area * ar))), int(round(math.sqrt(area / ar)))
            if ew < w and eh < h:
                y0, x0 = rng.randint(0, h - eh), rng.randint(0, w - ew)
                x = x.copy()
                x[:, y0:y0 + eh, x0:x0 + ew] = 0.0
                break
    return x


def opengait_batch(collated, rng: random.Random, size: tuple[int, int], dev: torch.device) -> Batch:
    """What OpenGait's inputs_pretreament makes of a collated batch: each sequence transformed in
    numpy (float64), stacked, copied to the device, then .float()."""
    seqs_np, labs = collated
    x = np.asarray([opengait_transform(s, rng) for s in seqs_np])
    x = resize_frames(torch.from_numpy(x).to(dev).float(), size)
    y = torch.from_numpy(labs).to(dev)
    return Batch(x=x, labels=y, lengths=None, loss_labels=y, tindex=triplet_index(labs))


# -- timing -------------------------------------------------------------------------------------------

def timed(fn, steps: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        fn()
    if not steps:
        return 0.0
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true", help="CPU-sized: 4x4x10 frames at 32x22, GaitBase 16/32/64/128")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement")
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (a), (b), (c); medians are printed")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers for (c)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--amp", default="auto", choices=["auto", "off", "bf16", "fp16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (all three measurements)")
    ap.add_argument("--data-on-device", default="auto", choices=["auto", "always", "never"])
    ap.add_argument("--data-only", action="store_true",
                    help="time only the data paths of (b) and (c), without the model step (any batch size on CPU)")
    args = ap.parse_args()

    steps = args.steps or (4 if args.small else 20)
    warmup = args.warmup or (3 if args.small else 10)
    rounds = args.rounds
    workers = args.workers if args.workers is not None else (2 if args.small else 8)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        ids, seqs, frames = (8, 6, 20) if args.small else (24, 20, 60)
        t0 = time.perf_counter()
        packed, pkl = make_data(Path(tmp), ids, seqs, frames)
        print(f"synthetic data: {ids} ids x {seqs} sequences, {frames}-{frames + frames // 2} frames of 64x64 "
              f"(packed + one pickle per sequence) in {time.perf_counter() - t0:.1f} s")
        over = {"dataset": str(packed), "device": args.device, "amp": args.amp, "compile": args.compile,
                "data_on_device": args.data_on_device, "iterations": 10 ** 6}
        if args.small:
            cfg = preset("demo-cpu", **over, augment=[asdict(a) for a in preset("casia-b-gaitbase").augment])
        else:
            cfg = preset("casia-b-gaitbase", **over)
        tr = Trainer(cfg, Path(tmp) / "run")
        dev = tr.device
        b, t = cfg.batch_ids * cfg.batch_seqs, cfg.sampling.frames
        h, w = cfg.model_input_size
        print(f"{'SMALL (CPU-sized) ' if args.small else ''}batch {cfg.batch_ids}x{cfg.batch_seqs}x{t} frames, model input "
              f"{h}x{w}, {sum(p.numel() for p in tr.model.parameters()):,} parameters, device {dev}, "
              f"precision {tr.prec.name}, compile {tr.compiled}, "
              f"frames {tr.source.placement}")
        tr.model.train()
        ds = PickleSequences(pkl)
        loader = tud.DataLoader(ds, batch_sampler=PKBatches(ds, cfg.batch_ids, cfg.batch_seqs),
                                collate_fn=FixedFrames(ds.label_set, t), num_workers=workers,
                                persistent_workers=workers > 0)
        rng = random.Random(0)

        step = (lambda batch: None) if args.data_only else tr.train_step

        def opengait_step() -> None:
            step(opengait_batch(next(it), rng, cfg.model_input_size, dev))

        it = None
        try:
            fixed = tr.source.next()
            it = iter(loader)
            # Warm every path up first (worker start-up, allocator, kernel choice), then time them in
            # interleaved rounds and keep each one's median, so drifting machine load hits all alike.
            for fn in (lambda: step(fixed), lambda: step(tr.source.next()), opengait_step):
                timed(fn, 0, warmup + 2 * workers, dev)
            runs: dict[str, list[float]] = {"a": [], "b": [], "c": []}
            for _ in range(rounds):
                runs["a"].append(timed(lambda: step(fixed), steps, 0, dev))
                runs["b"].append(timed(lambda: step(tr.source.next()), steps, 0, dev))
                runs["c"].append(timed(opengait_step, steps, 0, dev))
            a, bb, c = (float(np.median(runs[k])) for k in "abc")
        finally:
            tr.source.close()
            del it, loader

    print(f"median of {rounds} rounds of {steps} steps each:")
    if args.data_only:
        print(f"DATA ONLY (no model step): our path {bb * 1000:.1f} ms per batch, OpenGait-style {c * 1000:.1f} ms "
              f"per batch ({workers} workers); OpenGait-style / ours = {c / bb:.2f}")
        return
    print(f"(a) model step, batch already on the device : {a * 1000:8.1f} ms")
    print(f"(b) full step, our data path                : {bb * 1000:8.1f} ms")
    print(f"(c) full step, OpenGait-style DataLoader    : {c * 1000:8.1f} ms   ({workers} workers, one pickle per sequence)")
    print(f"b/a = {bb / a:.3f}   (target <= 1.10 on GPU)")
    print(f"c/b = {c / bb:.3f}   (target >= 2)")
    if args.small:
        print("note: --small runs a CPU-sized batch and resolution; the targets refer to the full batch on a GPU, "
              "and on CPU the data path competes with the model for the same cores")


if __name__ == "__main__":
    main()
