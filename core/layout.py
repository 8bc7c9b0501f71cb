"""Reading the GREW-style layout we write (docs/contracts.md, "Output layout") and deriving its packed training form."""

from __future__ import annotations

import json
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from core.data.packed import write_packed
from core.errors import InputError
from core.records import Sequence

# unsplit: sequences of a conversion with --split none, beside (never inside) train/ and test/,
# so no reader of the GREW layout takes them for training or test material
SPLIT_DIRS = {"train": "train", "gallery": "test/gallery", "probe": "test/probe", "unsplit": "unsplit"}
POSE_SUFFIX = "_2d_pose.txt"            # core.pose.posefile.SUFFIX, without importing the pose package here
# SkeletonGait's pretreatment draws with sigma 8 on a 128-pixel canvas for 64-pixel frames; the
# canvas is always twice the frame height, so sigma scales with it to keep the maps' look.
HEATMAP_SIGMA_AT_64 = 8.0
# Heatmaps cost ~4 ms a frame; below this many frames a process pool's start-up is not worth it.
PARALLEL_FRAMES = 4000


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise InputError(path, "missing: this folder is not a converted dataset")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc


def require_split(root: str | Path, purpose: str) -> None:
    """Refuse an extraction-only dataset (converted with --split none) for ``purpose`` ('train', 'evaluate')."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        return      # not a converted layout: its own reader says what is wrong
    try:
        spec = (json.loads(path.read_text()).get("split") or {}).get("spec")
    except (json.JSONDecodeError, AttributeError):
        return
    if spec == "none":
        raise InputError(Path(root), "was converted with --split none (extraction only): choose a split "
                                     f"(official, first:K, random:F or a partition file) and convert it again to {purpose}")


def sequences(root: str | Path) -> list[Sequence]:
    return [Sequence.from_dict(r) for r in read_manifest(root)["sequences"]]


def sequence_dir(root: str | Path, seq: Sequence) -> Path:
    return Path(root) / SPLIT_DIRS[seq.split] / seq.sid / seq.seq


def gei_path(root: str | Path, seq: Sequence) -> Path:
    return Path(root) / SPLIT_DIRS[seq.split] / seq.sid / f"{seq.sid}_{seq.seq}_gei.png"


def frame_files(root: str | Path, seq: Sequence) -> list[Path]:
    """The sequence's aligned frames, in order (``<frame:05d>.png``)."""
    return sorted(sequence_dir(root, seq).glob("*.png"))


def pose_files(root: str | Path, seq: Sequence) -> list[Path] | None:
    """The pose file beside each frame (GREW's ``<frame>_2d_pose.txt``), or None if any frame lacks one."""
    files = frame_files(root, seq)
    poses = [f.with_name(f.stem + POSE_SUFFIX) for f in files]
    return poses if files and all(p.is_file() for p in poses) else None


def read_frames(root: str | Path, seq: Sequence) -> np.ndarray:
    folder = sequence_dir(root, seq)
    files = frame_files(root, seq)
    if not files:
        raise InputError(folder, "sequence folder has no frames")
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise InputError(f, "unreadable image")
        frames.append(img)
    return np.stack(frames)


def heatmap_sigma(height: int) -> float:
    return HEATMAP_SIGMA_AT_64 * height / 64.0


def read_heatmaps(root: str | Path, seq: Sequence, size: tuple[int, int]) -> np.ndarray:
    """(T, 2, H, W) uint8 limb and joint heatmaps of the sequence's pose files, drawn the way
    SkeletonGait's pretreatment draws them (centred on the hip, scaled to the frame height)."""
    from core.pose.heatmaps import pose_heatmaps
    from core.pose.posefile import read_poses

    poses = pose_files(root, seq)
    if poses is None:
        raise InputError(sequence_dir(root, seq), f"not every frame has its {POSE_SUFFIX} file")
    return pose_heatmaps(read_poses(poses), size=size, sigma=heatmap_sigma(size[0]), align="skeleton")


def _missing_pose(root: Path, seqs: list[Sequence]) -> str:
    """Why the layout cannot give heatmaps ('' when every frame of every sequence has a pose file)."""
    lacking = [s for s in seqs if pose_files(root, s) is None]
    if not lacking:
        return ""
    first = sequence_dir(root, lacking[0]).relative_to(root)
    return f"{len(lacking)} of {len(seqs)} sequences lack {POSE_SUFFIX} files beside their frames, first {first}"


def _load(task: tuple[str, dict[str, Any], tuple[int, int] | None]) -> tuple[np.ndarray, np.ndarray | None]:
    """One sequence's frames and (with a size) heatmaps; module-level so pool workers can run it."""
    root, rec, size = task
    seq = Sequence.from_dict(rec)
    frames = read_frames(root, seq)
    return frames, (read_heatmaps(root, seq, size) if size else None)


def _loaded(root: Path, seqs: list[Sequence], size: tuple[int, int] | None,
            workers: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    tasks = [(str(root), s.to_dict(), size) for s in seqs]
    if workers <= 1:
        yield from map(_load, tasks)
        return
    from core.procpool import worker_pool

    # A window of pending sequences keeps the workers busy while memory stays bounded.
    with worker_pool(workers) as pool:
        window: list[Future] = []
        for task in tasks:
            window.append(pool.submit(_load, task))
            if len(window) >= 4 * workers:
                yield window.pop(0).result()
        for fut in window:
            yield fut.result()


def build_packed(root: str | Path, *, heatmaps: bool | None = None, workers: int | None = None,
                 progress: Callable[[int, int, str], Any] | None = None) -> Path:
    """(Re)build ``packed/`` from the layout; the layout stays the source of truth.

    ``heatmaps``: None (default) adds ``packed/heatmaps.npy`` when every frame of every sequence
    has a pose file beside it; True requires that (InputError otherwise); False never adds them.
    ``workers``: processes drawing heatmaps for large layouts (default: one per CPU).
    ``progress(done, total, message)`` is called as sequences are packed (heatmaps take ~4 ms a
    frame, about a minute for the demo set on two cores).
    """
    root = Path(root)
    manifest = read_manifest(root)
    seqs = [Sequence.from_dict(r) for r in manifest["sequences"]]
    shape = (64, 64)
    if seqs:
        shape = tuple(read_frames(root, seqs[0]).shape[1:])
    if heatmaps is False:
        note = "the packed form was built without heatmaps on request"
    elif not seqs:
        note = "the layout has no sequences"
    else:
        note = _missing_pose(root, seqs)
    if heatmaps and note:
        raise InputError(root, f"cannot build pose heatmaps: {note}")
    size = None if note else shape
    info = None
    if size:
        info = {"channels": ["limbs", "joints"], "align": "skeleton", "sigma": heatmap_sigma(shape[0]),
                "canvas": 2 * shape[0], "min_conf": 1e-3, "source": f"<frame>{POSE_SUFFIX} beside each frame",
                "pose": (manifest.get("parameters") or {}).get("pose", ""),
                "maker": "core.pose.heatmaps.pose_heatmaps(align='skeleton')"}
    total = sum(len(frame_files(root, s)) for s in seqs) if size else 0
    n_workers = int(workers or os.cpu_count() or 1) if total >= PARALLEL_FRAMES else 1
    what = "frames and pose heatmaps" if size else "frames"

    def items():
        for k, (s, (frames, maps)) in enumerate(zip(seqs, _loaded(root, seqs, size, n_workers))):
            yield (s, frames, maps) if size else (s, frames)
            if progress:
                progress(k + 1, len(seqs), f"packing {what}: {k + 1}/{len(seqs)} sequences")

    return write_packed(root, items(), frame_shape=shape, heatmaps=info, heatmaps_note="" if info else note)
