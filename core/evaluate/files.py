"""Where a run's evaluation outputs live, without importing torch (see core/train/files.py)."""

from __future__ import annotations

from pathlib import Path

EMBEDDINGS_FILE = Path("eval") / "embeddings.npz"
OPENGAIT_EXPORT_FILE = Path("export") / "opengait.pt"


def embeddings_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / EMBEDDINGS_FILE
