"""Evaluating a training run or a checkpoint file on a packed dataset's test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from core.data.packed import PackedDataset
from core.errors import ConfigError, InputError
from core.evaluate import protocols
from core.evaluate.embed import extract_embeddings
from core.models import build_model
from core.train.checkpoint import checkpoint_dir, load_checkpoint
from core.train.config import load_config
from core.train.device import resolve_device, resolve_precision

PROTOCOLS = protocols.PROTOCOLS


def resolve_checkpoint(target: str | Path) -> Path:
    """A run folder, its checkpoints folder, or a checkpoint file -> the checkpoint file."""
    p = Path(target)
    if p.is_file():
        return p
    for cand in (checkpoint_dir(p) / "latest.pt", p / "latest.pt"):
        if cand.is_file():
            return cand
    raise InputError(p, "no checkpoint here (expected a .pt file or a run folder with checkpoints/latest.pt)")


def load_model(checkpoint: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint was trained with (its config is stored inside) and load its weights."""
    ckpt = load_checkpoint(checkpoint)
    if "model" not in ckpt or "model_args" not in ckpt:
        raise InputError(checkpoint, "not a HybridGait training checkpoint (no model weights or model_args)")
    model = build_model(ckpt.get("model_name", "gaitbase"), **ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), ckpt


def evaluate_run(run_dir_or_checkpoint: str | Path, dataset_root: str | Path, protocol: str = "casia-b",
                 metric: str | None = None, progress: Callable[[int, int, str], Any] | None = None,
                 device: str = "auto", submission: str | Path | None = None) -> dict[str, Any]:
    """Results of a checkpoint on the gallery/probe split under ``protocol``, plus chance level.

    ``metric`` None takes the protocol's own (CASIA-B and GREW Euclidean, CCVID cosine)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol: unknown protocol {protocol!r}; available: {list(PROTOCOLS)}")
    path = resolve_checkpoint(run_dir_or_checkpoint)
    dev = resolve_device(device)
    model, ckpt = load_model(path, dev)
    cfg = load_config(ckpt["config"])
    dataset = PackedDataset(dataset_root)
    rows = dataset.indices(["gallery", "probe"])
    if not rows:
        raise InputError(dataset.root, "no gallery/probe sequences to evaluate on")
    prec = resolve_precision(cfg.amp, dev)
    cb = (lambda d, t: progress(d, t, f"embedding {d}/{t} test sequences")) if progress else None
    emb = extract_embeddings(model, dataset, rows, dev, resize_to=cfg.model_input_size, autocast_dtype=prec.dtype,
                             progress=cb)
    res = protocols.evaluate(protocol, metric=metric, device=dev, submission=submission,
                             **{k: emb[k] for k in protocols.REQUIRED[protocol]})
    if protocol == "casia-b":   # the other protocols report their own set sizes
        res["num_probe"] = sum(res["counts"][c] for c in ("NM", "BG", "CL"))
        res["num_gallery"] = res["counts"]["gallery"]
    ids = set(emb["labels"].tolist())
    res.update({
        "chance": 100.0 / len(ids) if ids else None,
        "num_test_ids": len(ids),
        "step": int(ckpt.get("step", 0)),
        "checkpoint": str(path),
        "protocol": protocol,
    })
    return res
