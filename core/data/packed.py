"""The packed training form: every aligned frame of a dataset in one memory-mappable array.

``<dataset>/packed/frames.npy`` holds uint8 silhouettes (N_frames x H x W, 0/255) and
``<dataset>/packed/index.json`` lists the sequences with their slice ``[start, start+length)``.
It is derived from the GREW-style layout and can always be rebuilt; reading it needs no pickle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from core.atomic import atomic_path, write_json
from core.errors import InputError
from core.records import Sequence

FORMAT_VERSION = 1


@dataclass
class PackedEntry:
    sequence: Sequence
    start: int
    length: int


class PackedDataset:
    """Read-only view of a packed dataset; ``frames(i)`` is a zero-copy memmap slice."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        packed = self.root / "packed" if (self.root / "packed").is_dir() else self.root
        index_path = packed / "index.json"
        frames_path = packed / "frames.npy"
        if not index_path.is_file() or not frames_path.is_file():
            raise InputError(packed, "no packed dataset here (expected index.json and frames.npy); "
                                     "convert the dataset first or rebuild its packed form")
        try:
            index = json.loads(index_path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(index_path, f"not valid JSON ({exc})") from exc
        self.array = np.load(frames_path, mmap_mode="r", allow_pickle=False)
        self.entries = [PackedEntry(Sequence.from_dict(e["sequence"]), int(e["start"]), int(e["length"]))
                        for e in index["sequences"]]
        if self.entries:
            end = max(e.start + e.length for e in self.entries)
            if end > self.array.shape[0]:
                raise InputError(frames_path, f"index points past the end of the array ({end} > {self.array.shape[0]})")

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def sequences(self) -> list[Sequence]:
        return [e.sequence for e in self.entries]

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(self.array.shape[1:3])  # type: ignore[return-value]

    def frames(self, i: int) -> np.ndarray:
        e = self.entries[i]
        return self.array[e.start:e.start + e.length]

    def indices(self, split: str | Iterable[str]) -> list[int]:
        splits = {split} if isinstance(split, str) else set(split)
        return [i for i, e in enumerate(self.entries) if e.sequence.split in splits]


def write_packed(root: str | Path, items: Iterable[tuple[Sequence, np.ndarray]], frame_shape=(64, 64)) -> Path:
    """Write ``items`` (sequence, T x H x W uint8) as a packed dataset under ``root/packed``.

    Frames are streamed to a temporary file first, so memory stays flat for large datasets,
    and both files appear only once complete.
    """
    packed = Path(root) / "packed"
    packed.mkdir(parents=True, exist_ok=True)
    entries, chunks_path = [], packed / ".frames.raw.tmp"
    total = 0
    with open(chunks_path, "wb") as fh:
        for seq, arr in items:
            arr = np.ascontiguousarray(arr, dtype=np.uint8)
            if arr.ndim != 3 or tuple(arr.shape[1:]) != tuple(frame_shape):
                raise ValueError(f"{seq.sid}/{seq.seq}: frames must be T x {frame_shape}, got {arr.shape}")
            fh.write(arr.tobytes())
            entries.append({"sequence": seq.to_dict(), "start": total, "length": int(arr.shape[0])})
            total += int(arr.shape[0])
    try:
        raw = np.memmap(chunks_path, dtype=np.uint8, mode="r", shape=(total, *frame_shape)) if total else \
            np.zeros((0, *frame_shape), np.uint8)
        with atomic_path(packed / "frames.npy") as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, *frame_shape))
            step = 65536
            for s in range(0, total, step):
                out[s:s + step] = raw[s:s + step]
            out.flush()
            del out
        del raw
    finally:
        chunks_path.unlink(missing_ok=True)
    write_json(packed / "index.json", {"version": FORMAT_VERSION, "frame_shape": list(frame_shape),
                                       "sequences": entries})
    return packed
