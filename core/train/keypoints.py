"""The 2-D keypoints of a converted dataset, row for row with its packed frames, for skeleton-only
models (GaitGraph2): the ``<frame>_2d_pose.txt`` file the converter writes beside every aligned
frame, empty joints filled in (core.pose.sequence.normalize_empty) unless the model says otherwise.

Read once per dataset object (per sequence asked for) and kept in memory: 204 bytes a frame.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from core.data.packed import PackedDataset
from core.errors import ConfigError
from core.layout import pose_files, sequence_dir
from core.pose.posefile import NUM_KEYPOINTS, read_pose
from core.pose.sequence import normalize_empty


def dataset_keypoints(dataset: PackedDataset, rows: Iterable[int], model: str = "",
                      fill_empty: bool = True) -> np.ndarray:
    """(N_frames, 17, 3) float32 aligned with ``dataset.array``, filled for the sequences ``rows``
    (others stay zero); ConfigError naming the dataset when one of them has no pose files.
    ``fill_empty=False`` leaves undetected joints at zero (GaitTR's input)."""
    cache = dataset.__dict__.setdefault("_keypoints", {}).setdefault(bool(fill_empty), {})
    if "array" not in cache:
        cache["array"], cache["rows"] = np.zeros((dataset.array.shape[0], NUM_KEYPOINTS, 3), np.float32), set()
    out, done = cache["array"], cache["rows"]
    for r in sorted(set(int(r) for r in rows) - done):
        e = dataset.entries[r]
        files = pose_files(dataset.root, e.sequence)
        if files is None or len(files) != e.length:
            where = sequence_dir(dataset.root, e.sequence)
            raise ConfigError(f"dataset {dataset.root}: model {model or 'this model'!r} reads 2-D keypoints, but "
                              f"{where} has {'no' if files is None else len(files)} pose file(s) for {e.length} frames; "
                              f"convert the dataset again with a pose option (--pose groundtruth on the demo set, "
                              f"given, or transformers:MODEL)")
        if e.length:
            kp = np.stack([read_pose(f).keypoints for f in files])
            out[e.start:e.start + e.length] = normalize_empty(kp) if fill_empty else kp
        done.add(r)
    return out
