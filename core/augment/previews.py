"""Playable previews for the grouped review: a small looping GIF of a source sequence or of one of
its variants, made on first request and cached under the workspace (a source dataset is never
written to). The cache key is the frames' folder, count and newest modification time, so a
rewritten folder gets a fresh preview and an unchanged one is never encoded twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from core.augment.rgb_source import load_rgb_sequence
from core.errors import InputError
from core.imaging import write_animation
from core.indices import spread_indices
from core.layout import frame_files
from core.records import Sequence as Seq
from core.variants import ANIMATION, RGB, silhouette_files

FRAMES = 16        # enough for a step cycle at a glance; few enough to encode in a few milliseconds
SIDE = 96


def _key(files: Sequence[Path], what: str) -> str:
    newest = max(f.stat().st_mtime_ns for f in files)
    return hashlib.sha1(f"{what}|{files[0].parent.resolve()}|{len(files)}|{newest}".encode()).hexdigest()[:20]


def _read(files: Sequence[Path]) -> np.ndarray:
    picked = [files[i] for i in spread_indices(len(files), min(FRAMES, len(files)))]
    frames = [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in picked]
    frames = [f for f in frames if f is not None]
    if not frames:
        raise InputError(files[0].parent, "no readable frame to preview")
    h, w = frames[0].shape[:2]
    return np.stack([cv2.cvtColor(cv2.resize(f, (w, h)) if f.shape[:2] != (h, w) else f, cv2.COLOR_BGR2RGB)
                     for f in frames])


def _cached(cache: Path, files: Sequence[Path], what: str) -> Path | None:
    if not files:
        return None
    target = cache / f"{_key(files, what)}.gif"
    if not target.is_file():
        write_animation(target, _read(files), fps=8, max_side=SIDE)
    return target


def variant_preview(cache: str | Path, variant: dict[str, Any]) -> Path | None:
    """The variant walking: the animation its job wrote, else one from its colour frames, else from
    its silhouettes; None when the folder has none of them."""
    folder = Path(variant["path"])
    if (folder / ANIMATION).is_file():
        return folder / ANIMATION
    rgb = sorted((folder / RGB).glob("*.png"))
    return _cached(Path(cache), rgb, "rgb") if rgb else _cached(Path(cache), silhouette_files(folder), "sil")


def original_preview(cache: str | Path, dataset_root: str | Path, record: dict[str, Any] | None,
                     parameters: dict[str, Any] | None = None) -> tuple[Path | None, str]:
    """(preview, what it shows) of a source sequence: its colour frames where the layout can get them
    back (what the variants are compared on), else its aligned silhouettes."""
    if record is None:
        return None, "not in the dataset"
    cache, root = Path(cache), Path(dataset_root)
    seq = Seq.from_dict(record)
    files = frame_files(root, seq)
    if not files:
        return None, "no frames"
    target = cache / f"{_key(files, 'orig-rgb')}.gif"
    if target.is_file():
        return target, "colour"
    try:
        src = load_rgb_sequence(root, record, parameters, sample=FRAMES)
    except InputError:       # a silhouette-only source: the silhouettes are all there is
        return _cached(cache, files, "orig-sil"), "silhouettes"
    write_animation(target, src.rgb, fps=8, max_side=SIDE)
    return target, "colour"
