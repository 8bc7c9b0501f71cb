"""The GPU suite (issue 16): one command, one table, one JSON, the targets met or missed.

Rows, measured side by side in one process:
- GaitBase at OpenGait's batch (8 ids x 16 sequences x 30 frames, 64x44): (a) pure step on a
  batch already on the device, (b) full step through our data path, (c) full step through an
  OpenGait-style DataLoader (bench.train's), for fp16 autocast, bf16, bf16 + channels_last,
  + torch.compile, + CUDA graphs; host synchronisations per step (CUDA's sync debug mode) and peak
  GPU memory per variant;
- SkeletonGait++ (OpenGait's GREW config: 32 x 4 x 30, silhouette + 2 heatmap channels) full step;
- SD 1.5 inpainting's architecture with random weights (bench.generate.sd15_pipeline, no download)
  at 512x512, 25 steps, guidance on: one frame at a time in fp32, our batched path, and the floor
  (the UNet's own 25 x 2 forward passes per batch, nothing else);
- the projected time of OpenGait's 60,000-iteration schedule at (b).
Where a target is missed on CUDA, a torch.profiler summary of the step's top kernels follows.

    python -m bench.gpu_suite                       # on the GPU machine (needs no gradio; diffusers optional)
    python -m bench.gpu_suite --tiny                # CPU: tiny sizes, fp32 only, a couple of minutes
    python -m bench.gpu_suite --json out.json --skip-sd

Nothing from app/ is imported, and diffusers only when the SD rows run (they are skipped, with a
line saying so, when it is not installed).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import random
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data as tud

from bench.train import FixedFrames, PickleSequences, PKBatches, make_data, opengait_batch, timed
from core.data.packed import write_packed
from core.records import Sequence
from core.train.config import load_config, preset
from core.train.trainer import Trainer

SCHEDULE = 60000                 # OpenGait's GaitBase iterations on CASIA-B
TARGETS = {"b_ms": 90.0, "b_over_a": 1.10, "c_over_b": 4.0, "sd_s_per_frame": 0.19, "sd_over_floor": 1.15,
           "sd_speedup": 7.0}
# (label, amp, channels_last, compile, cuda_graphs); CPU runs the first fp32 row only.
GPU_VARIANTS = [("fp16", "fp16", False, False, False), ("bf16", "bf16", False, False, False),
                ("bf16+cl", "bf16", True, False, False), ("bf16+cl+compile", "bf16", True, True, False),
                ("bf16+cl+compile+graphs", "bf16", True, True, True)]
CPU_VARIANTS = [("fp32", "off", False, False, False)]

# Public dataset sizes (docs/contracts.md and the datasets' papers); frame counts are estimates.
DATASETS = {
    "CASIA-B": dict(frames=124 * 110 * 100, note="124 ids x 110 sequences x ~100 frames (estimate)"),
    "CCVID": dict(frames=347_833, note="226 ids, 2,856 sequences, 347,833 frames (the paper's count)"),
    "GREW": dict(frames=128_671 * 100, note="128,671 sequences x ~100 frames (estimate; no official frame count)"),
}


def dataset_memory() -> list[dict[str, Any]]:
    """uint8 bytes of each dataset's packed frames: stored (64x64), after the side cut (64x44, what
    stays resident), and with SkeletonGait++'s 2 heatmap channels (3 x 64x44)."""
    out = []
    for name, d in DATASETS.items():
        n = d["frames"]
        out.append({"dataset": name, "frames": n, "note": d["note"], "packed_64x64_gb": n * 64 * 64 / 1e9,
                    "resident_64x44_gb": n * 64 * 44 / 1e9, "with_heatmaps_gb": n * 3 * 64 * 44 / 1e9})
    return out


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


_BASELINE = [0]


def _reset_memory(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
        _BASELINE[0] = torch.cuda.memory_allocated(dev)   # what earlier rows still hold (the kept trainer)


def _peak_gb(dev: torch.device) -> float | None:
    """Peak GPU memory of the current row, beyond what was allocated when it started."""
    return (torch.cuda.max_memory_allocated(dev) - _BASELINE[0]) / 1e9 if dev.type == "cuda" else None


def host_syncs(fn, dev: torch.device, steps: int = 3) -> int | None:
    """Host synchronisations per call of ``fn``, counted by CUDA's sync debug mode (None off CUDA)."""
    if dev.type != "cuda":
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            for _ in range(steps):
                fn()
            _sync(dev)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return round(sum("synchroniz" in str(w.message) for w in caught) / steps)


def profile_summary(fn, dev: torch.device, steps: int = 5, rows: int = 12) -> str:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            fn()
        _sync(dev)
    key = "cuda_time_total" if dev.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


# -- GaitBase ---------------------------------------------------------------------------------------

def gaitbase_rows(args, tmp: Path, dev: torch.device) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ids, seqs, frames = (8, 6, 20) if args.tiny else (24, 20, 60)
    packed, pkl = make_data(tmp, ids, seqs, frames)
    if args.tiny:
        base = preset("demo-cpu", augment=[asdict(a) for a in preset("casia-b-gaitbase").augment]).to_dict()
    else:
        base = preset("casia-b-gaitbase").to_dict()
    base.update(dataset=str(packed), device=str(dev.type), iterations=10 ** 6, threads=args.threads)
    p, k, t = base["batch_ids"], base["batch_seqs"], base["sampling"]["frames"]
    ds = PickleSequences(pkl)
    workers = args.workers if args.workers is not None else (2 if args.tiny else 8)
    loader = tud.DataLoader(ds, batch_sampler=PKBatches(ds, p, k), collate_fn=FixedFrames(ds.label_set, t),
                            num_workers=workers, persistent_workers=workers > 0)
    it = iter(loader)
    rng = random.Random(0)
    rows, keep = [], {}
    try:
        for label, amp, cl, comp, graphs in (CPU_VARIANTS if dev.type == "cpu" else GPU_VARIANTS):
            _reset_memory(dev)
            cfg = {**base, "amp": amp, "channels_last": cl, "compile": comp, "cuda_graphs": graphs}
            tr = Trainer(load_config(cfg), tmp / f"run-{label}", report=lambda ev: print("   ", ev.get("message", ev)) if
                         ev.get("type") == "warning" else None)
            tr.model.train()
            fixed = tr.source.next()
            pure, ours, theirs = _steps(tr, fixed, it, rng, dev)
            t0 = time.perf_counter()
            for fn in (pure, ours, theirs):
                timed(fn, 0, args.warmup, dev)
            warm_s = time.perf_counter() - t0
            runs: dict[str, list[float]] = {"a": [], "b": [], "c": []}
            for _ in range(args.rounds):
                runs["a"].append(timed(pure, args.steps, 0, dev))
                runs["b"].append(timed(ours, args.steps, 0, dev))
                runs["c"].append(timed(theirs, args.steps, 0, dev))
            a, b, c = (float(np.median(runs[x])) for x in "abc")
            row = {"model": "gaitbase", "variant": label, "batch": f"{p}x{k}x{t}",
                   "input": "x".join(map(str, tr.cfg.model_input_size)), "precision": tr.prec.name,
                   "channels_last": cl and dev.type == "cuda", "compiled": tr.compiled, "cuda_graphs": graphs and
                   tr.compiled, "data": tr.source.placement, "a_ms": a * 1e3, "b_ms": b * 1e3, "c_ms": c * 1e3,
                   "b_over_a": b / a, "c_over_b": c / b, "host_syncs_per_step": host_syncs(ours, dev),
                   "peak_gb": _peak_gb(dev), "warmup_s": warm_s, "schedule_h": SCHEDULE * b / 3600}
            rows.append(row)
            print(_row_line(row), flush=True)
            if not keep or b < keep["b_ms"] / 1e3:
                keep = {"b_ms": b * 1e3, "variant": label, "trainer": tr, "ours": ours, "pure": pure}
            else:
                tr.close()
    finally:
        del it
    return rows, keep


def _steps(tr: Trainer, fixed, it, rng: random.Random, dev: torch.device):
    """(a), (b) and (c) of one trainer, bound to it (the caller keeps the fastest one's)."""
    return (lambda: tr.train_step(fixed), lambda: tr.train_step(tr.source.next()),
            lambda: tr.train_step(opengait_batch(next(it), rng, tr.cfg.model_input_size, dev)))


def _row_line(r: dict[str, Any]) -> str:
    peak = f"{r['peak_gb']:6.2f}" if r.get("peak_gb") is not None else "     -"
    syncs = "-" if r.get("host_syncs_per_step") is None else str(r["host_syncs_per_step"])
    return (f"  {r['variant']:24s} a {r['a_ms']:8.1f}  b {r['b_ms']:8.1f}  c {r['c_ms']:8.1f} ms   "
            f"b/a {r['b_over_a']:5.2f}  c/b {r['c_over_b']:5.2f}  syncs/step {syncs:>2s}  peak {peak} GB  "
            f"[{r['precision']}, data {r['data']}, compiled {r['compiled']}]")


# -- SkeletonGait++ -------------------------------------------------------------------------------------

def skeleton_row(args, tmp: Path, dev: torch.device) -> dict[str, Any]:
    ids, seqs, frames = (6, 4, 14) if args.tiny else (40, 6, 40)
    rng = np.random.default_rng(1)
    items = []
    for sid in range(ids):
        for kk in range(seqs):
            n = frames + int(rng.integers(0, frames // 2 + 1))
            sil = (rng.random((n, 64, 64)) > 0.6).astype(np.uint8) * 255
            maps = rng.integers(0, 256, (n, 2, 64, 64), dtype=np.uint8)
            items.append((Sequence(sid=f"{sid:04d}", seq=f"{kk:02d}", split="train", frames=n), sil, maps))
    root = write_packed(tmp / "skel", items, heatmaps={"channels": ["limb", "joint"], "source": "random"}).parent
    if args.tiny:
        cfg = preset("demo-cpu-skeletongait++", dataset=str(root), iterations=10 ** 6, device="cpu",
                     threads=args.threads)
    else:   # OpenGait's skeletongait++_GREW.yaml: 32 x 4 x 30 at 64x44, its default (GREW) widths
        cfg = preset("grew-gaitbase", model="skeletongait++", model_args={}, dataset=str(root), iterations=10 ** 6,
                     sampling={"type": "fixed_unordered", "frames": 30}, augment=["cut"], device="cuda")
    _reset_memory(dev)
    tr = Trainer(cfg, tmp / "run-skel")
    try:
        tr.model.train()
        ours = lambda: tr.train_step(tr.source.next())   # noqa: E731
        timed(ours, 0, args.warmup, dev)
        b = float(np.median([timed(ours, args.steps, 0, dev) for _ in range(args.rounds)]))
        row = {"model": "skeletongait++", "variant": "GREW config" if not args.tiny else "demo-cpu-skeletongait++",
               "batch": f"{cfg.batch_ids}x{cfg.batch_seqs}x{cfg.sampling.frames}", "precision": tr.prec.name,
               "compiled": tr.compiled, "data": tr.source.placement, "b_ms": b * 1e3, "peak_gb": _peak_gb(dev),
               "params_m": sum(q.numel() for q in tr.model.parameters()) / 1e6}
    finally:
        tr.close()
    peak = "-" if row["peak_gb"] is None else f"{row['peak_gb']:.2f}"
    print(f"  skeletongait++ {row['variant']:16s} b {row['b_ms']:8.1f} ms  peak "
          f"{peak} GB  [{row['precision']}, {row['batch']}, "
          f"{row['params_m']:.1f} M parameters, compiled {row['compiled']}]", flush=True)
    return row


# -- SD 1.5 inpainting --------------------------------------------------------------------------------

def sd_rows(args, tmp: Path, dev: torch.device) -> dict[str, Any] | None:
    missing = [m for m in ("diffusers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"  SD inpainting rows skipped: {' and '.join(missing)} not installed here (carry the wheels to run them)")
        return None
    import diffusers
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    from bench.generate import demo_frames, naive_loop, sd15_pipeline
    from core.dlcr.inpaint import InpaintConfig, Inpainter
    from core.dlcr.prompts import Garment, choose_outfits

    sd15 = dev.type == "cuda"
    steps = 25 if sd15 else 4
    size = dict(height=512, width=512) if sd15 else dict(height=64, width=32)
    batch = 8 if sd15 else 4
    n_ours, n_naive = (16, 4) if sd15 else (4, 2)
    if sd15:
        pipe = sd15_pipeline().to(dev, torch.float32)
    else:
        from diffusers import StableDiffusionInpaintPipeline

        from bench.tiny_models import write_tiny_sd_inpaint
        pipe = StableDiffusionInpaintPipeline.from_pretrained(write_tiny_sd_inpaint(tmp / "sd"), safety_checker=None,
                                                              requires_safety_checker=False).to(dev)
    pipe.set_progress_bar_config(disable=True)
    config, naive_cfg = InpaintConfig(steps=steps, batch_size=batch, **size), InpaintConfig(steps=steps, batch_size=1,
                                                                                            **size)
    outfit = choose_outfits({"001": [Garment("upper", "t-shirt", "red")], "002": [Garment("lower", "jeans", "blue")]},
                            "001", 1, seed=0, seq="nm-01-090")[0]
    frames, masks = demo_frames(max(n_ours, n_naive))
    naive_loop(pipe, frames[:1], masks[:1], naive_cfg, outfit, dev)
    naive = naive_loop(pipe, frames[:n_naive], masks[:n_naive], naive_cfg, outfit, dev) / n_naive
    ours_inp = Inpainter.from_pipeline(pipe, config=config, device=dev, label="sd15 random weights")
    ours_inp.inpaint_sequence(frames[:batch], masks[:batch], outfit)
    _sync(dev)
    t0 = time.perf_counter()
    ours_inp.inpaint_sequence(frames[:n_ours], masks[:n_ours], outfit)
    _sync(dev)
    ours = (time.perf_counter() - t0) / n_ours
    # The floor: only the UNet's forward passes of one batch (2 x batch latents with guidance), per frame.
    unet = ours_inp.pipe.unet
    lat = torch.randn(2 * batch, unet.config.in_channels, size["height"] // 8, size["width"] // 8, device=dev,
                      dtype=unet.dtype)
    ctx = torch.randn(2 * batch, 77, unet.config.cross_attention_dim, device=dev, dtype=unet.dtype)
    with torch.inference_mode():
        unet(lat, 500, encoder_hidden_states=ctx)
        _sync(dev)
        t0 = time.perf_counter()
        for i in range(steps):
            unet(lat, 999 - 40 * i, encoder_hidden_states=ctx)
        _sync(dev)
    floor = (time.perf_counter() - t0) / batch
    row = {"model": "sd15-inpainting (random weights)" if sd15 else "tiny inpainting pipeline",
           "canvas": f"{size['height']}x{size['width']}", "steps": steps, "batch": batch,
           "dtype": str(ours_inp.dtype).replace("torch.", ""),
           "unet_params_m": sum(q.numel() for q in unet.parameters()) / 1e6, "naive_s_per_frame": naive,
           "ours_s_per_frame": ours, "unet_floor_s_per_frame": floor, "ours_over_floor": ours / floor,
           "speedup_vs_naive": naive / ours, "peak_gb": _peak_gb(dev)}
    print(f"  {row['model']}: {row['canvas']}, {steps} steps, UNet {row['unet_params_m']:.1f} M: naive fp32 1 frame "
          f"{naive:.3f} s/frame, ours {row['dtype']} batch {batch} {ours:.3f} s/frame, UNet floor {floor:.3f} "
          f"s/frame -> ours/floor {ours / floor:.2f}, {naive / ours:.2f}x naive", flush=True)
    return row


# -- targets -------------------------------------------------------------------------------------------

def targets(best: dict[str, Any] | None, sd: dict[str, Any] | None, cuda: bool) -> list[dict[str, Any]]:
    checks = []

    def check(name: str, value: float | None, limit: float, upper: bool) -> None:
        if value is None:
            status = "unmeasured"
        else:
            met = value <= limit if upper else value >= limit
            status = ("met" if met else "missed") if cuda else ("met*" if met else "missed*")
        checks.append({"target": name, "value": value, "limit": limit, "status": status})

    b = best or {}
    check("(b) full step <= 90 ms", b.get("b_ms"), TARGETS["b_ms"], True)
    check("(b)/(a) <= 1.10", b.get("b_over_a"), TARGETS["b_over_a"], True)
    check("(c)/(b) >= 4", b.get("c_over_b"), TARGETS["c_over_b"], False)
    sd = sd or {}
    check("inpainting <= 0.19 s/frame", sd.get("ours_s_per_frame"), TARGETS["sd_s_per_frame"], True)
    check("inpainting <= 1.15x UNet floor", sd.get("ours_over_floor"), TARGETS["sd_over_floor"], True)
    check("inpainting >= 7x naive", sd.get("speedup_vs_naive"), TARGETS["sd_speedup"], False)
    return checks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="CPU sizes: demo-cpu GaitBase, tiny inpainting pipeline")
    ap.add_argument("--json", default=None, help="where to write the JSON (default gpu_suite-<cpu|cuda>.json)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20; tiny 4)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 15; tiny 2)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds, medians kept (default 2)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers of (c) (default 8; tiny 2)")
    ap.add_argument("--skip-sd", action="store_true", help="leave out the inpainting rows")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (tiny default 1: on a small busy machine two OpenMP teams spin on each other)")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        sys.exit("no CUDA device here: run with --tiny for the CPU-sized suite")
    args.threads = args.threads or (1 if args.tiny else 0)
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if cuda and not args.tiny else "cpu")
    args.steps = args.steps or (4 if args.tiny else 20)
    args.warmup = args.warmup or (2 if args.tiny else 15)
    args.rounds = args.rounds or 2
    machine = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU ({platform.processor() or 'unknown'}, " \
        f"{os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    print(f"gpu_suite on {machine}; torch {torch.__version__}; python {platform.python_version()}"
          f"{'; TINY CPU sizes: the targets are stated for the full batch on an H100/H200 GPU' if args.tiny else ''}")
    print("dataset memory, uint8 (resident = 64x44 after the side cut, what the training split would keep on the GPU):")
    mem = dataset_memory()
    for m in mem:
        print(f"  {m['dataset']:8s} {m['frames']:>11,} frames  64x64 {m['packed_64x64_gb']:6.1f} GB  64x44 "
              f"{m['resident_64x44_gb']:6.1f} GB  +2 heatmaps {m['with_heatmaps_gb']:6.1f} GB   ({m['note']})")
    t_all = time.perf_counter()
    result: dict[str, Any] = {"machine": machine, "device": dev.type, "tiny": args.tiny, "torch": torch.__version__,
                              "dataset_memory": mem}
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
        tmp_path = Path(tmp)
        print("GaitBase, (a) pure step / (b) our data path / (c) OpenGait-style DataLoader:")
        rows, keep = gaitbase_rows(args, tmp_path / "gaitbase", dev)
        best = min(rows, key=lambda r: r["b_ms"])
        result["gaitbase"], result["best_variant"] = rows, best["variant"]
        print(f"  projected OpenGait schedule ({SCHEDULE:,} iterations) at (b) of {best['variant']}: "
              f"{best['schedule_h']:.2f} h" + (" (CPU tiny batch: not the reference batch)" if args.tiny else ""))
        print("SkeletonGait++:")
        result["skeletongait"] = skeleton_row(args, tmp_path / "skel", dev)
        result["inpainting"] = None
        if args.skip_sd:
            print("SD inpainting rows skipped (--skip-sd)")
        else:
            print("Inpainting:")
            result["inpainting"] = sd_rows(args, tmp_path / "sd", dev)
        checks = targets(best, result["inpainting"], dev.type == "cuda")
        result["targets"] = checks
        print("targets" + ("" if dev.type == "cuda" else " (* = CPU tiny sizes: indicative only, the targets are "
                                                         "for the full batch on one H100/H200 GPU)") + ":")
        for c in checks:
            v = "-" if c["value"] is None else f"{c['value']:.3f}"
            print(f"  {c['target']:34s} {v:>9s}  {c['status']}")
        missed = [c for c in checks[:3] if c["status"] == "missed"]
        if missed and keep.get("trainer") is not None:
            print(f"profile of the full step (b), {keep['variant']}, top kernels (target missed):")
            summary = profile_summary(keep["ours"], dev)
            print(summary)
            result["profile"] = summary
        if keep.get("trainer") is not None:
            keep["trainer"].close()
    result["seconds"] = time.perf_counter() - t_all
    out = Path(args.json or f"gpu_suite-{dev.type}.json")
    out.write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote {out} ({result['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
