"""Ground truth the demo generator stores beside every sequence: ``<root>/_groundtruth/<key>.npz``.

Each file holds ``parts`` (T, H, W uint8 part labels), ``keypoints`` (T, 17, 3 float32 COCO-17),
``palette`` (NUM_LABELS, 3 uint8) and ``seed`` (the render seed). RGB frames are not stored: they
are re-rendered from the parts exactly as the generator rendered them.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InputError

GT_DIR = "_groundtruth"
FIELDS = ("parts", "keypoints", "palette", "seed")


@dataclass
class GroundTruth:
    parts: np.ndarray       # (T, H, W) uint8
    keypoints: np.ndarray   # (T, 17, 3) float32
    palette: np.ndarray     # (NUM_LABELS, 3) uint8
    seed: int

    def __len__(self) -> int:
        return int(self.parts.shape[0])

    def rgb(self, i: int) -> np.ndarray:
        """Frame ``i`` as RGB (H, W, 3 uint8), identical to what the generator rendered."""
        from core.demo.render import render_rgb

        return render_rgb(self.parts[i], self.palette, i, self.seed)

    def rgb_all(self) -> np.ndarray:
        if len(self) == 0:
            return np.zeros((0, *self.parts.shape[1:], 3), np.uint8)
        return np.stack([self.rgb(i) for i in range(len(self))])

    def silhouettes(self) -> np.ndarray:
        """(T, H, W) uint8 with 255 where any body part or garment is, 0 elsewhere."""
        return (self.parts > 0).astype(np.uint8) * np.uint8(255)


def load_groundtruth(path: str | Path) -> GroundTruth:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "ground-truth file does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in FIELDS if k not in z.files]
            if missing:
                raise InputError(path, f"ground-truth file lacks {', '.join(missing)}")
            parts, kps, pal, seed = z["parts"], z["keypoints"], z["palette"], int(z["seed"])
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"unreadable ground-truth file ({exc})") from exc
    if parts.ndim != 3 or parts.dtype != np.uint8:
        raise InputError(path, f"parts must be (T, H, W) uint8, got {parts.shape} {parts.dtype}")
    if kps.shape != (parts.shape[0], 17, 3):
        raise InputError(path, f"keypoints must be ({parts.shape[0]}, 17, 3), got {kps.shape}")
    return GroundTruth(parts=parts, keypoints=kps.astype(np.float32, copy=False),
                       palette=pal.astype(np.uint8, copy=False), seed=seed)


def groundtruth_name(key: str) -> str:
    """File name for a sequence key (``001-nm-01-090``; a CCVID ``session1/001_01`` becomes ``session1_001_01``)."""
    return key.replace("/", "_").replace("\\", "_") + ".npz"


def find_groundtruth(dataset_root: str | Path, key: str) -> Path | None:
    p = Path(dataset_root) / GT_DIR / groundtruth_name(key)
    return p if p.is_file() else None
