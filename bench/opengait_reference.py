"""Oracle for alignment tests and ``bench/convert.py``: OpenGait's ``datasets/pretreatment.py``
per-frame steps re-stated in our own words, loop for loop, including its slow parts (the Python
loop that re-sums the image for every column), because the benchmark compares against exactly that.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def opengait_reference(img: np.ndarray, img_size: int = 64):
    """One silhouette -> aligned (img_size x img_size) uint8, or None where OpenGait skips the frame."""
    if img.sum() <= 10000:
        return None
    y_sum = img.sum(axis=1)
    y_top = (y_sum != 0).argmax(axis=0)
    y_btm = (y_sum != 0).cumsum(axis=0).argmax(axis=0)
    img = img[y_top:y_btm + 1, :]
    ratio = img.shape[1] / img.shape[0]
    img = cv2.resize(img, (int(img_size * ratio), img_size), interpolation=cv2.INTER_CUBIC)
    x_csum = img.sum(axis=0).cumsum()
    x_center = None
    for idx, csum in enumerate(x_csum):
        if csum > img.sum() / 2:
            x_center = idx
            break
    if not x_center:
        return None
    half = img_size // 2
    left, right = x_center - half, x_center + half
    if left <= 0 or right >= img.shape[1]:
        left += half
        right += half
        pad = np.zeros((img.shape[0], half))
        img = np.concatenate([pad, img, pad], axis=1)
    return img[:, left:right].astype("uint8")


def opengait_sequence(folder: str | Path, img_size: int = 64) -> tuple[np.ndarray, list[str]]:
    """A sequence folder as OpenGait's pretreatment reads it: sorted files, cv2.imread grey, frames
    it cannot align left out. Returns (T x img_size x img_size array, names of the kept files)."""
    kept, names = [], []
    for path in sorted(Path(folder).iterdir()):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            continue
        out = opengait_reference(img, img_size)
        if out is not None:
            kept.append(out)
            names.append(path.name)
    return (np.stack(kept) if kept else np.zeros((0, img_size, img_size), np.uint8)), names
