"""Silhouette alignment as the converter uses it: the frame and why it was dropped.

The arithmetic (OpenGait's ``opengait``, the scripts' ``letterbox``) and the transform it applies
live in :mod:`core.alignment`, below both this package and the pose heatmaps that must register
to the same pixels; here the transform is left out for the callers that only need the frame.
"""

from __future__ import annotations

import numpy as np

from core.alignment import METHODS, MIN_PIXEL_SUM, align_frame
from core import alignment as _alignment

__all__ = ["METHODS", "MIN_PIXEL_SUM", "align", "align_letterbox", "align_opengait", "gait_energy_image"]


def align_opengait(img: np.ndarray, size: int = 64) -> tuple[np.ndarray | None, str]:
    """Return (aligned size x size uint8, '') or (None, reason the frame was dropped)."""
    return _alignment.align_opengait(img, size)[:2]


def align_letterbox(img: np.ndarray, size: int = 64) -> tuple[np.ndarray | None, str]:
    return _alignment.align_letterbox(img, size)[:2]


def align(img: np.ndarray, method: str = "opengait", size: int = 64) -> tuple[np.ndarray | None, str]:
    return align_frame(img, method, size)[:2]


def gait_energy_image(frames: np.ndarray) -> np.ndarray:
    """Mean of the aligned silhouettes of one sequence, as uint8."""
    if len(frames) == 0:
        raise ValueError("a GEI needs at least one frame")
    return np.round(frames.astype(np.float32).mean(axis=0)).astype(np.uint8)
