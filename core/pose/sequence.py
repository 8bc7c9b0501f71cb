"""Keypoint sequences as skeleton models take them: (T, V, 3) float32 x, y, confidence.

An empty joint (x == 0: not detected) is moved to the centre of gravity of its frame, confidence 0,
as OpenGait's NormalizeEmpty does before GaitGraph's feature streams; joints are filled one at a
time in order, each mean taken over the frame as it stands (earlier fills included), which is
what makes the result equal to OpenGait's.
"""

from __future__ import annotations

import numpy as np


def normalize_empty(kp: np.ndarray) -> np.ndarray:
    """(T, V, 3) -> a float32 copy with empty joints filled in."""
    out = np.array(kp, dtype=np.float32, copy=True)
    for t, j in zip(*np.nonzero(out[:, :, 0] == 0)):
        cx, cy = out[t].mean(axis=0)[:2]
        out[t, j] = (cx, cy, 0.0)
    return out
