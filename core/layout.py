"""Reading the GREW-style layout we write (SPEC §2) and deriving its packed training form."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from core.data.packed import write_packed
from core.errors import InputError
from core.records import Sequence

SPLIT_DIRS = {"train": "train", "gallery": "test/gallery", "probe": "test/probe"}


def read_manifest(root: str | Path) -> dict:
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise InputError(path, "missing: this folder is not a converted dataset")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc})") from exc


def sequences(root: str | Path) -> list[Sequence]:
    return [Sequence.from_dict(r) for r in read_manifest(root)["sequences"]]


def sequence_dir(root: str | Path, seq: Sequence) -> Path:
    return Path(root) / SPLIT_DIRS[seq.split] / seq.sid / seq.seq


def gei_path(root: str | Path, seq: Sequence) -> Path:
    return Path(root) / SPLIT_DIRS[seq.split] / seq.sid / f"{seq.sid}_{seq.seq}_gei.png"


def read_frames(root: str | Path, seq: Sequence) -> np.ndarray:
    folder = sequence_dir(root, seq)
    files = sorted(p for p in folder.glob("*.png"))
    if not files:
        raise InputError(folder, "sequence folder has no frames")
    frames = []
    for f in files:
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise InputError(f, "unreadable image")
        frames.append(img)
    return np.stack(frames)


def build_packed(root: str | Path) -> Path:
    """(Re)build ``packed/`` from the layout; the layout stays the source of truth."""
    root = Path(root)
    seqs = sequences(root)

    def items():
        for s in seqs:
            arr = read_frames(root, s)
            yield s, arr

    shape = (64, 64)
    if seqs:
        shape = read_frames(root, seqs[0]).shape[1:]
    return write_packed(root, items(), frame_shape=tuple(shape))
