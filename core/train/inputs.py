"""Turning packed uint8 silhouettes into model input, identically for training and evaluation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.data.settings import side_cut


def cut_frames(frames: np.ndarray) -> np.ndarray:
    """(..., H, W) uint8 -> (..., H, W - 2*cut); a view, no copy."""
    c = side_cut(frames.shape[-1])
    return frames[..., c:frames.shape[-1] - c] if c else frames


def resize_frames(x: Tensor, size: tuple[int, int] | None) -> Tensor:
    """(..., H, W) float frames -> (..., *size) by area interpolation (a no-op when already that size)."""
    if size is None or tuple(size) == tuple(x.shape[-2:]):
        return x
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    # Area interpolation averages whole pixel blocks, the faithful way to shrink binary masks.
    return F.interpolate(x.reshape(-1, 1, h, w), size=tuple(size), mode="area").reshape(*lead, *size)


def to_model_input(batch: Tensor, resize_to: tuple[int, int] | None = None) -> Tensor:
    """(N, T, [C,] H, W) uint8 (already cut) on any device -> float in [0, 1], optionally area-resized
    (every channel alike: a silhouette and the heatmaps stacked behind it stay registered).

    Conversion happens after the transfer so only uint8 crosses the host-device link.
    """
    return resize_frames(batch.float().div_(255.0), resize_to)
