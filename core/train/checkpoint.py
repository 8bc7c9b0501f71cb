"""Checkpoint files: atomic writes, numbered files plus latest.pt, and pruning to the last N."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_path
from core.train.files import CHECKPOINT_NAME as _NAME, checkpoint_dir


def numbered_checkpoints(run_dir: str | Path) -> list[Path]:
    d = checkpoint_dir(run_dir)
    found = [(int(m.group(1)), p) for p in d.glob("ckpt-*.pt") if (m := _NAME.match(p.name))] if d.is_dir() else []
    return [p for _, p in sorted(found)]


def save_checkpoint(run_dir: str | Path, step: int, state: dict[str, Any], keep: int = 3) -> Path:
    """Write ``ckpt-<step>.pt`` and point ``latest.pt`` at the same content; both appear atomically."""
    d = checkpoint_dir(run_dir)
    target = d / f"ckpt-{step:07d}.pt"
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    with atomic_path(d / "latest.pt") as tmp:
        # A hard link avoids writing the file twice; replacing latest.pt later only rebinds the
        # name, so the numbered file keeps its content. Copy where links are unsupported.
        tmp.unlink()
        try:
            os.link(target, tmp)
        except OSError:
            shutil.copyfile(target, tmp)
    for old in numbered_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return target


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    # weights_only: a checkpoint is data, never code, even one a user dropped in by hand.
    return torch.load(Path(path), map_location=map_location, weights_only=True)
