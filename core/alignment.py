"""Silhouette alignment into fixed-size frames, and the geometry it applied.

``opengait`` follows OpenGait's pretreatment: keep the rows that hold foreground, resize to the
target height keeping the aspect ratio (bicubic), find the column where the cumulative foreground
mass first exceeds half the total, and cut a window of the target size centred there (zero padded
when it runs off an edge). Frames whose pixel sum is at most 10000 (about 40 white pixels), or
whose centre column is 0, are dropped, exactly as OpenGait drops them.
``letterbox`` (the HybridGait scripts' choice) fits the foreground bounding box into the square.

Each alignment also returns its :class:`Transform`, the map from raw-frame pixels to aligned
pixels, computed from the very numbers that cut and scaled the frame. Anything placed on the
aligned frame after the fact (pose heatmaps registered to the silhouette) maps its points through
that transform, so it cannot drift from the pixels. This module sits below both the converter and
the pose code, which is why it imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_PIXEL_SUM = 10000
METHODS = ("opengait", "letterbox")


@dataclass(frozen=True)
class Transform:
    """``x' = sx * x + tx``, ``y' = sy * y + ty``, with pixel centres at integer coordinates on both
    sides (OpenCV's resize maps centre to centre: ``x' = (x + 0.5) * s - 0.5``)."""

    sx: float
    sy: float
    tx: float
    ty: float

    def apply(self, xy: np.ndarray) -> np.ndarray:
        """Points (..., 2) x, y in raw-frame pixels -> the same points in the aligned frame."""
        xy = np.asarray(xy)
        if not np.issubdtype(xy.dtype, np.floating):
            xy = xy.astype(np.float64)
        return np.stack([xy[..., 0] * self.sx + self.tx, xy[..., 1] * self.sy + self.ty], -1)

    def __iter__(self):   # (sx, sy, tx, ty), the tuple form callers used before this class
        return iter((self.sx, self.sy, self.tx, self.ty))

    def __getitem__(self, i: int) -> float:
        return (self.sx, self.sy, self.tx, self.ty)[i]


def _crop_scale(sx: float, sy: float, x0: float, y0: float, ox: float, oy: float) -> Transform:
    """Cut at (x0, y0) in the raw frame, resize by (sx, sy), place the result's origin at (ox, oy)."""
    return Transform(sx, sy, 0.5 * sx - 0.5 + ox - sx * x0, 0.5 * sy - 0.5 + oy - sy * y0)


Aligned = tuple["np.ndarray | None", str, "Transform | None"]


def align_opengait(img: np.ndarray, size: int = 64) -> Aligned:
    """(aligned size x size uint8, '', transform) or (None, reason the frame was dropped, None).

    Same arithmetic as OpenGait's per-frame code, done with OpenCV reductions instead of numpy
    passes and a Python loop over columns: about 3-4x its throughput (``bench/convert.py``)."""
    if img.dtype != np.uint8 or img.ndim != 2:
        img = np.ascontiguousarray(img, dtype=np.uint8).reshape(img.shape[0], -1)
    total = int(cv2.sumElems(img)[0])
    if total <= MIN_PIXEL_SUM:
        return None, f"foreground sum {total} <= {MIN_PIXEL_SUM} (empty frame)", None
    # Rows holding foreground: the bounding box's rows (columns are all kept, as OpenGait keeps them).
    _, top, _, height = cv2.boundingRect(img)
    img = img[top:top + height]
    raw_w = img.shape[1]
    width = int(size * (raw_w / img.shape[0]))
    img = cv2.resize(img, (width, size), interpolation=cv2.INTER_CUBIC)
    csum = cv2.reduce(img, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().cumsum()
    # First column whose cumulative mass exceeds half the total (strictly, as OpenGait tests it).
    x_center = int(np.searchsorted(csum, csum[-1] / 2, side="right")) if len(csum) else 0
    if x_center == 0 or x_center >= len(csum):
        return None, "no horizontal centre (foreground vanished after resizing)", None
    half = size // 2
    left, right = x_center - half, x_center + half
    # Padding both sides first moves nothing relative to the window, so the map is the same either way.
    tf = _crop_scale(width / raw_w, size / height, 0, top, -left, 0)
    if left <= 0 or right >= img.shape[1]:
        img = cv2.copyMakeBorder(img, 0, 0, half, half, cv2.BORDER_CONSTANT, value=0)
        left, right = left + half, right + half
    return np.ascontiguousarray(img[:, left:right]), "", tf


def align_letterbox(img: np.ndarray, size: int = 64) -> Aligned:
    total = int(img.sum(dtype=np.int64))
    if total <= MIN_PIXEL_SUM:
        return None, f"foreground sum {total} <= {MIN_PIXEL_SUM} (empty frame)", None
    ys, xs = np.nonzero(img)
    y_min, x_min = int(ys.min()), int(xs.min())
    crop = img[y_min:ys.max() + 1, x_min:xs.max() + 1]
    h, w = crop.shape
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    crop = cv2.resize(crop, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size), np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = crop
    return out, "", _crop_scale(nw / w, nh / h, x_min, y_min, x0, y0)


def align_frame(img: np.ndarray, method: str = "opengait", size: int = 64) -> Aligned:
    """(aligned frame, '', transform), or (None, why it was dropped, None)."""
    if method == "opengait":
        return align_opengait(img, size)
    if method == "letterbox":
        return align_letterbox(img, size)
    raise ValueError(f"unknown alignment {method!r}; choose one of {', '.join(METHODS)}")
