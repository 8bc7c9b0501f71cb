"""Where a run's checkpoints live, without importing torch: the Runs page and a run's status read
these paths on every open, and torch's import alone costs about 2 s on a busy 2-core machine."""

from __future__ import annotations

import re
from pathlib import Path

CHECKPOINT_NAME = re.compile(r"^ckpt-(\d{7,})\.pt$")


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    p = checkpoint_dir(run_dir) / "latest.pt"
    return p if p.is_file() else None
