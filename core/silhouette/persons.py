"""Person boxes in every frame of a street video, for footage with several walkers.

Two detectors, both without a learned model of ours:

* ``bgsub``: the moving foreground of a static camera (:meth:`BackgroundSubtraction.foreground`),
  one box per connected blob tall enough to be a person. Fast; two walkers side by side are one blob.
* ``hog``: OpenCV's built-in HOG people detector (Dalal-Triggs, its default SVM ships inside
  OpenCV), run on the frame upscaled so that a 60-100 px walker meets its 64x128 window. Works
  with a moving camera; slower, and it misses people seen from the side at small scale.

Boxes are ``x0, y0, x1, y1`` float32 in frame pixels, x1/y1 exclusive.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.errors import ConfigError

DETECTORS = ("bgsub", "hog")
MIN_HEIGHT = 0.08      # a person's blob is at least this fraction of the frame's height ...
MIN_ASPECT = 0.9       # ... and at least this much taller than wide (height / width)
HOG_SCALE = 1.5        # upscale before HOG: small walkers reach its 128 px window


def blob_boxes(mask: np.ndarray, min_height: float = MIN_HEIGHT, min_aspect: float = MIN_ASPECT) -> np.ndarray:
    """Boxes (N, 4) of the person-shaped connected components of one foreground mask."""
    h = mask.shape[0]
    # close vertical gaps first: a walker's legs, torso and head often come apart in the raw mask
    joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 15)))
    n, _, stats, _ = cv2.connectedComponentsWithStats((joined > 0).astype(np.uint8), connectivity=8)
    out = []
    for x, y, bw, bh, _area in stats[1:n]:
        if bh >= min_height * h and bh >= min_aspect * bw:
            out.append((x, y, x + bw, y + bh))
    return np.asarray(out, np.float32).reshape(-1, 4)


def _hog_boxes(frame: np.ndarray, hog: cv2.HOGDescriptor) -> np.ndarray:
    big = cv2.resize(frame, None, fx=HOG_SCALE, fy=HOG_SCALE, interpolation=cv2.INTER_LINEAR)
    rects, weights = hog.detectMultiScale(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY), winStride=(8, 8),
                                          padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return np.zeros((0, 4), np.float32)
    keep = np.asarray(weights).reshape(-1) > 0.3
    r = np.asarray(rects, np.float32)[keep] / HOG_SCALE
    boxes = np.stack([r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]], 1)
    return non_max_suppression(boxes, 0.4)


def non_max_suppression(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Boxes left after dropping each one that overlaps a larger kept box by more than ``iou``."""
    from core.silhouette.tracker import iou_matrix

    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    kept: list[int] = []
    for i in order:
        if not kept or iou_matrix(boxes[i:i + 1], boxes[kept]).max() <= iou:
            kept.append(int(i))
    return boxes[sorted(kept)]


def person_boxes(frames: np.ndarray, detector: str = "bgsub",
                 background: np.ndarray | None = None) -> list[np.ndarray]:
    """Per frame, the (N, 4) boxes of the people in it. ``background``: the camera's empty
    scene for ``bgsub`` (else estimated from the frames themselves)."""
    if detector not in DETECTORS:
        raise ConfigError(f"unknown person detector {detector!r}; choose one of {', '.join(DETECTORS)}")
    if detector == "hog":
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        return [_hog_boxes(f, hog) for f in frames]
    from core.silhouette.bgsub import BackgroundSubtraction

    fg = BackgroundSubtraction(background_image=background).foreground(frames)
    return [blob_boxes(m) for m in fg]
