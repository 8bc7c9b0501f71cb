"""Model-free variant scores: does the variant's silhouette move as smoothly as its source's?

A good clothing variant changes the outline at most consistently (the same coat in every frame);
a bad one flickers. Consecutive-frame IoU measures that, relative to the source sequence so a fast
walker is not penalised. This is a heuristic, labelled as such wherever it is shown.
"""

from __future__ import annotations

import numpy as np

LABEL = "silhouette consistency across frames (model-free)"


def frame_to_frame_iou(sils: np.ndarray) -> float:
    """Mean IoU of consecutive binary frames (T, H, W); 1.0 for fewer than two frames."""
    m = np.asarray(sils) > 0
    if len(m) < 2:
        return 1.0
    a, b = m[:-1].reshape(len(m) - 1, -1), m[1:].reshape(len(m) - 1, -1)
    inter = (a & b).sum(1)
    union = (a | b).sum(1)
    return float(np.mean(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))


def consistency_score(variant: np.ndarray, source: np.ndarray) -> float:
    """In [0, 1]: the variant's frame-to-frame IoU over the source's, capped at 1."""
    ref = frame_to_frame_iou(source)
    return float(min(1.0, frame_to_frame_iou(variant) / ref)) if ref > 0 else 0.0
