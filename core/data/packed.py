"""The packed training form: every aligned frame of a dataset in one memory-mappable array.

``<dataset>/packed/frames.npy`` holds uint8 silhouettes (N_frames x H x W, 0/255) and
``<dataset>/packed/index.json`` lists the sequences with their slice ``[start, start+length)``.
When the layout has a pose file for every frame, ``packed/heatmaps.npy`` (N_frames x C x H x W
uint8, C = 2 for SkeletonGait's limb and joint maps) holds the pose heatmaps of the same frames,
row for row, and ``index.json``'s ``heatmaps`` entry says how they were made (else it is null and
``heatmaps_note`` says why there are none).
It is derived from the GREW-style layout and can always be rebuilt; reading it needs no pickle.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from core.atomic import atomic_dir, write_json
from core.errors import ConfigError, InputError
from core.records import Sequence

FORMAT_VERSION = 2          # 2 added the optional heatmaps; version 1 indexes still read (no heatmaps)
FRAMES_FILE = "frames.npy"
HEATMAPS_FILE = "heatmaps.npy"
INDEX_FILE = "index.json"
COPY_ROWS = 65536           # frames per copy step from the raw stream into the .npy


@dataclass
class PackedEntry:
    sequence: Sequence
    start: int
    length: int


class PackedDataset:
    """Read-only view of a packed dataset; ``frames(i)`` is a zero-copy memmap slice.

    ``heatmaps`` is the (N_frames, C, H, W) uint8 memmap of pose heatmaps, or None when the
    packed form has none (``heatmap_info`` then None too, ``heatmap_note`` the reason).
    """

    def __init__(self, root: str | Path):
        self.root = Path(root)
        packed = self.root / "packed" if (self.root / "packed").is_dir() else self.root
        index_path = packed / INDEX_FILE
        frames_path = packed / FRAMES_FILE
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
        self.heatmap_info: dict[str, Any] | None = index.get("heatmaps") or None
        self.heatmap_note: str = index.get("heatmaps_note") or (
            "" if self.heatmap_info else "its packed form was built without pose heatmaps")
        self.heatmaps: np.ndarray | None = None
        if self.heatmap_info:
            self.heatmaps = self._load_heatmaps(packed / self.heatmap_info.get("file", HEATMAPS_FILE))

    def _load_heatmaps(self, path: Path) -> np.ndarray:
        if not path.is_file():
            raise InputError(path, "index.json lists pose heatmaps but the file is missing; rebuild the packed form")
        maps = np.load(path, mmap_mode="r", allow_pickle=False)
        n, h, w = self.array.shape
        if maps.ndim != 4 or maps.shape[0] != n or maps.shape[2:] != (h, w) or maps.dtype != np.uint8:
            raise InputError(path, f"heatmaps {maps.shape} {maps.dtype} do not match the frames ({n}, C, {h}, {w}) "
                                   f"uint8 of frames.npy; rebuild the packed form")
        return maps

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def sequences(self) -> list[Sequence]:
        return [e.sequence for e in self.entries]

    @property
    def frame_shape(self) -> tuple[int, int]:
        return tuple(self.array.shape[1:3])  # type: ignore[return-value]

    @property
    def heatmap_channels(self) -> int:
        return 0 if self.heatmaps is None else int(self.heatmaps.shape[1])

    def frames(self, i: int) -> np.ndarray:
        e = self.entries[i]
        return self.array[e.start:e.start + e.length]

    def heatmap_frames(self, i: int) -> np.ndarray:
        """(T, C, H, W) uint8 heatmaps of sequence ``i`` (a memmap slice); needs ``heatmaps``."""
        if self.heatmaps is None:
            raise InputError(self.root, f"no pose heatmaps: {self.heatmap_note}")
        e = self.entries[i]
        return self.heatmaps[e.start:e.start + e.length]

    def require_heatmaps(self, channels: int, model: str) -> None:
        """ConfigError naming this dataset unless it carries ``channels`` heatmap channels for ``model``."""
        if self.heatmaps is None:
            raise ConfigError(
                f"dataset {self.root}: model {model!r} needs pose heatmaps beside the silhouettes, but this dataset "
                f"has none ({self.heatmap_note}). Convert the dataset again with a pose option (--pose groundtruth "
                f"on a demo set, --pose given when the source ships pose files, --pose transformers:MODEL "
                f"otherwise); its packed form then includes packed/{HEATMAPS_FILE}.")
        if self.heatmap_channels != channels:
            raise ConfigError(f"dataset {self.root}: model {model!r} takes {channels} heatmap channels, the dataset's "
                              f"packed heatmaps have {self.heatmap_channels}")

    def indices(self, split: str | Iterable[str]) -> list[int]:
        splits = {split} if isinstance(split, str) else set(split)
        return [i for i, e in enumerate(self.entries) if e.sequence.split in splits]


def _raw_to_npy(raw: Path, target: Path, shape: tuple[int, ...]) -> None:
    """Copy a headerless uint8 stream into a .npy of ``shape`` in bounded steps (flat memory)."""
    out = np.lib.format.open_memmap(target, mode="w+", dtype=np.uint8, shape=shape)
    if shape[0]:
        src = np.memmap(raw, dtype=np.uint8, mode="r", shape=shape)
        for s in range(0, shape[0], COPY_ROWS):
            out[s:s + COPY_ROWS] = src[s:s + COPY_ROWS]
        del src
    out.flush()
    del out


def write_packed(root: str | Path, items: Iterable[tuple], frame_shape=(64, 64),
                 heatmaps: dict[str, Any] | None = None, heatmaps_note: str = "") -> Path:
    """Write ``items`` as a packed dataset under ``root/packed``.

    Items are ``(sequence, frames)`` with frames T x H x W uint8, or, when ``heatmaps`` (what
    index.json records about how they were made; needs ``channels``, a list of names) is given,
    ``(sequence, frames, maps)`` with maps T x C x H x W uint8 of the same frames.
    Frames stream through temporary files, so memory stays flat for large datasets, and the whole
    folder is built under a temporary name and swapped in at the end: a reader sees the old
    packed form or the new one, never frames of one with the index or heatmaps of the other.
    """
    frame_shape = tuple(int(v) for v in frame_shape)
    channels = len(heatmaps["channels"]) if heatmaps else 0
    if heatmaps is not None and not channels:
        raise ValueError("heatmaps: needs a non-empty 'channels' list")
    target = Path(root) / "packed"
    with atomic_dir(target) as tmp:
        entries, total = [], 0
        raw_frames, raw_maps = tmp / ".frames.raw", tmp / ".heatmaps.raw"
        with open(raw_frames, "wb") as fh, (open(raw_maps, "wb") if channels else contextlib.nullcontext()) as mh:
            for item in items:
                seq, arr = item[0], np.ascontiguousarray(item[1], dtype=np.uint8)
                if arr.ndim != 3 or tuple(arr.shape[1:]) != frame_shape:
                    raise ValueError(f"{seq.sid}/{seq.seq}: frames must be T x {frame_shape}, got {arr.shape}")
                if channels:
                    maps = np.ascontiguousarray(item[2], dtype=np.uint8) if len(item) > 2 else None
                    want = (len(arr), channels, *frame_shape)
                    if maps is None or maps.shape != want:
                        raise ValueError(f"{seq.sid}/{seq.seq}: heatmaps must be {want}, "
                                         f"got {None if maps is None else maps.shape}")
                    mh.write(maps.tobytes())
                fh.write(arr.tobytes())
                entries.append({"sequence": seq.to_dict(), "start": total, "length": int(arr.shape[0])})
                total += int(arr.shape[0])
        _raw_to_npy(raw_frames, tmp / FRAMES_FILE, (total, *frame_shape))
        raw_frames.unlink()
        index: dict[str, Any] = {"version": FORMAT_VERSION, "frame_shape": list(frame_shape), "frames": total}
        if channels:
            _raw_to_npy(raw_maps, tmp / HEATMAPS_FILE, (total, channels, *frame_shape))
            raw_maps.unlink()
            index["heatmaps"] = {"file": HEATMAPS_FILE, "shape": [total, channels, *frame_shape], **heatmaps}
        else:
            index["heatmaps"] = None
            index["heatmaps_note"] = heatmaps_note or "no pose heatmaps were given when the packed form was built"
        index["sequences"] = entries
        write_json(tmp / INDEX_FILE, index)
    return target
