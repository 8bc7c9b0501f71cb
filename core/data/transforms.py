"""Silhouette augmentations as batched tensor ops, on whatever device the batch lives on.

The steps restate OpenGait's transforms (same probabilities, parameter defaults and geometry):
- cut: BaseSilCuttingTransform, drop ``W // 64 * 10`` columns on each side (64 -> 44);
- flip: RandomHorizontalFlip(prob=0.5);
- rotate: RandomRotate(prob=0.5, degree=10), bilinear, zero border, rotating about the point
  (x=H//2, y=W//2) exactly as OpenGait calls cv2.getRotationMatrix2D with (dh // 2, dw // 2);
- erase: RandomErasing(prob=0.5, sl=0.05, sh=0.2, r1=0.3, per_frame=False), up to 100 tries
  for a rectangle that fits;
- perspective: RandomPerspective(prob=0.5), the top/bottom corners moved inwards by up to
  ``W // 44 * 10`` columns and the quadrilateral stretched back onto the canvas.

As in OpenGait every random choice is made once per sequence and applies to all its frames
(erase with per_frame=True draws per frame). Unlike OpenGait the choices are drawn up front
(``draw``, numpy, from the sampler's generator, so they are resumable and identical on every
DDP rank) and applied to the whole batch at once (``apply``): one grid_sample per warp step.

Frames may carry extra channels: ``apply`` takes (B, T, H, W) or (B, T, C, H, W) and warps,
flips and cuts every channel of a frame the same way, so a silhouette and the pose heatmaps
stacked behind it stay registered. ``erase_channels`` limits erasing to the first channels: erasing
stands for holes and occluders in the segmentation, which a pose estimator working on the colour
frame does not share, so SkeletonGait++ batches erase the silhouette only and keep the heatmaps
whole (the model can then lean on the pose branch where the silhouette is missing).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from core.data.settings import AugmentStep, side_cut

ERASE_TRIES = 100


def rotation_matrix(angle_deg: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """(B,) degrees -> (B, 3, 3) forward maps, cv2.getRotationMatrix2D's convention (counter-clockwise)."""
    a, b = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    m = np.zeros((len(angle_deg), 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a, b, (1 - a) * cx - b * cy
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = -b, a, b * cx + (1 - a) * cy
    m[:, 2, 2] = 1
    return m


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(B, 4, 2) point pairs -> (B, 3, 3) projective maps taking ``src`` onto ``dst`` (h33 = 1)."""
    n = src.shape[0]
    a = np.zeros((n, 8, 8))
    rhs = np.zeros((n, 8))
    for i in range(4):
        x, y = src[:, i, 0], src[:, i, 1]
        u, v = dst[:, i, 0], dst[:, i, 1]
        a[:, i, 0], a[:, i, 1], a[:, i, 2] = x, y, 1
        a[:, i, 6], a[:, i, 7] = -x * u, -y * u
        a[:, i + 4, 3], a[:, i + 4, 4], a[:, i + 4, 5] = x, y, 1
        a[:, i + 4, 6], a[:, i + 4, 7] = -x * v, -y * v
        rhs[:, i], rhs[:, i + 4] = u, v
    h = np.linalg.solve(a, rhs[..., None])[..., 0]
    return np.concatenate([h, np.ones((n, 1))], axis=1).reshape(n, 3, 3)


class Augmenter:
    """An ordered list of steps with exactly one ``cut``; steps before it see full-width frames.

    ``read_cut`` is how many columns per side can already be dropped when frames are read
    (all of the cut when nothing runs before it, which saves memory and bandwidth).
    """

    def __init__(self, steps: Sequence[AugmentStep], frame_shape: tuple[int, int]):
        kinds = [s.type for s in steps]
        if kinds.count("cut") != 1:
            raise ValueError(f"augment needs exactly one 'cut' step, got {kinds}")
        at = kinds.index("cut")
        self.pre, self.post = tuple(steps[:at]), tuple(steps[at + 1:])
        self.height, self.width = int(frame_shape[0]), int(frame_shape[1])
        self.cut = side_cut(self.width)
        self.read_cut = 0 if self.pre else self.cut

    @property
    def out_width(self) -> int:
        return self.width - 2 * self.cut

    def _stages(self) -> list[tuple[str, AugmentStep, int]]:
        return [(f"pre{i}", s, self.width) for i, s in enumerate(self.pre)] + \
               [(f"post{i}", s, self.out_width) for i, s in enumerate(self.post)]

    # -- drawing (host, numpy) ---------------------------------------------------------------
    def draw(self, rng: np.random.Generator, n: int, t: int) -> dict[str, np.ndarray]:
        """Random choices for ``n`` sequences of ``t`` frames, as arrays whose first axis is the sequence."""
        out: dict[str, np.ndarray] = {}
        h = self.height
        for key, step, w in self._stages():
            if step.type == "erase":
                shape = (n, t) if step.per_frame else (n, 1)
                on, rect = self._draw_erase(rng, step, shape, h, w)
                out[f"{key}.on"], out[f"{key}.rect"] = on, rect
                continue
            on = rng.random(n) < step.prob
            out[f"{key}.on"] = on
            if step.type == "rotate":
                angle = rng.uniform(-step.degree, step.degree, n)
                fwd = rotation_matrix(angle, h // 2, w // 2)
                out[f"{key}.inv"] = np.linalg.inv(fwd).astype(np.float32)
            elif step.type == "perspective":
                # At least one column to choose from, so narrow (CPU-preset) frames still work.
                c = max(w // 44 * 10, 1)
                xl = rng.integers(0, c, (n, 2))
                xr = rng.integers(w - c, w, (n, 2))
                src = np.stack([np.stack([xl[:, 0], np.zeros(n)], 1), np.stack([xr[:, 0], np.zeros(n)], 1),
                                np.stack([xr[:, 1], np.full(n, h)], 1), np.stack([xl[:, 1], np.full(n, h)], 1)], 1)
                canvas = np.broadcast_to(np.array([[0, 0], [w, 0], [w, h], [0, h]], float), src.shape)
                # cv2.warpPerspective samples the input at inverse(M) of each output pixel, and
                # inverse(src -> canvas) is canvas -> src.
                out[f"{key}.inv"] = homography(canvas, src.astype(float)).astype(np.float32)
        return out

    @staticmethod
    def _draw_erase(rng: np.random.Generator, step: AugmentStep, shape: tuple[int, int], h: int,
                    w: int) -> tuple[np.ndarray, np.ndarray]:
        n = shape[0] * shape[1]
        area = rng.uniform(step.sl, step.sh, (n, ERASE_TRIES)) * h * w
        aspect = rng.uniform(step.r1, 1 / step.r1, (n, ERASE_TRIES))
        eh = np.rint(np.sqrt(area * aspect)).astype(np.int64)
        ew = np.rint(np.sqrt(area / aspect)).astype(np.int64)
        fits = (ew < w) & (eh < h)
        first = fits.argmax(1)                     # the first try that fits, as OpenGait's loop stops there
        eh, ew = eh[np.arange(n), first], ew[np.arange(n), first]
        found = fits.any(1)
        eh, ew = np.where(found, eh, 0), np.where(found, ew, 0)
        top = rng.integers(0, h - eh + 1)
        left = rng.integers(0, w - ew + 1)
        on = (rng.random(n) < step.prob) & found
        rect = np.stack([top, eh, left, ew], -1)
        return on.reshape(shape), rect.reshape(*shape, 4)

    # -- applying (device, torch) ----------------------------------------------------------------
    def apply(self, x: Tensor, params: dict[str, Tensor], host: dict[str, np.ndarray] | None = None, *,
              erase_channels: int | None = None) -> Tensor:
        """(B, T, [C,] H, W) float frames at read width -> augmented frames at cut width.

        ``host``, the drawn choices still on the host, lets flips and warps touch only the
        sequences they apply to (no device round trip to find out which ones).
        ``erase_channels``: erase only the first that many channels (None: all of them).
        """
        lead = x.shape[:-2]
        x = x.reshape(x.shape[0], x.shape[1], -1, *x.shape[-2:])          # (B, T, C, H, W)
        for key, step in ((f"pre{i}", s) for i, s in enumerate(self.pre)):
            x = self._step(x, step, key, params, host, erase_channels)
        if self.pre and self.cut:
            x = x[..., self.cut:x.shape[-1] - self.cut]
        for key, step in ((f"post{i}", s) for i, s in enumerate(self.post)):
            x = self._step(x, step, key, params, host, erase_channels)
        return x.reshape(*lead, *x.shape[-2:])

    @staticmethod
    def _step(x: Tensor, step: AugmentStep, key: str, params: dict[str, Tensor],
              host: dict[str, np.ndarray] | None, erase_channels: int | None = None) -> Tensor:
        on = params[f"{key}.on"]
        if step.type in ("flip", "rotate", "perspective") and host is not None:
            rows = np.flatnonzero(host[f"{key}.on"])
            if len(rows) == 0:
                return x
            if len(rows) < len(on):
                idx = torch.from_numpy(rows)
                idx = idx.pin_memory().to(x.device, non_blocking=True) if x.device.type == "cuda" else idx
                part = x.index_select(0, idx)
                part = part.flip(-1) if step.type == "flip" else \
                    warp(part, params[f"{key}.inv"].index_select(0, idx), torch.ones_like(idx, dtype=torch.bool))
                return x.index_copy(0, idx, part)
        if step.type == "flip":
            return torch.where(on.view(-1, 1, 1, 1, 1), x.flip(-1), x)
        if step.type == "erase":
            top, eh, left, ew = params[f"{key}.rect"].unbind(-1)          # each (B, T or 1)
            rows = torch.arange(x.shape[-2], device=x.device).view(1, 1, 1, -1, 1)
            cols = torch.arange(x.shape[-1], device=x.device).view(1, 1, 1, 1, -1)
            top, eh, left, ew, on = (v[..., None, None, None] for v in (top, eh, left, ew, on))
            hole = (rows >= top) & (rows < top + eh) & (cols >= left) & (cols < left + ew) & on
            if erase_channels is not None and erase_channels < x.shape[2]:
                chans = torch.arange(x.shape[2], device=x.device).view(1, 1, -1, 1, 1)
                hole = hole & (chans < erase_channels)
            return x.masked_fill(hole, 0.0)
        return warp(x, params[f"{key}.inv"], on)


_GRIDS: dict[tuple, Tensor] = {}


def _pixel_grid(h: int, w: int, device: torch.device) -> Tensor:
    key = (h, w, str(device))
    if key not in _GRIDS:
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
        _GRIDS[key] = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(h * w, device=device)])   # (3, HW)
    return _GRIDS[key]


def warp(x: Tensor, inv: Tensor, on: Tensor) -> Tensor:
    """Warp (B, T, C, H, W) by per-sequence maps ``inv`` (B, 3, 3) from output to input pixel
    coordinates (pixel centres at integers, as OpenCV), bilinear with a zero border; rows with
    ``on`` False are returned untouched."""
    b, t, c, h, w = x.shape
    src = inv.to(torch.float32) @ _pixel_grid(h, w, x.device)                   # (B, 3, HW)
    sx, sy = src[:, 0] / src[:, 2], src[:, 1] / src[:, 2]
    # align_corners=True puts -1 and +1 on the centres of the first and last pixels.
    grid = torch.stack([sx * (2.0 / max(w - 1, 1)) - 1, sy * (2.0 / max(h - 1, 1)) - 1], -1).view(b, h, w, 2)
    flat = x.reshape(b, t * c, h, w)
    out = F.grid_sample(flat.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return torch.where(on.view(-1, 1, 1, 1, 1), out.to(x.dtype).view(b, t, c, h, w), x)


def params_to(params: dict[str, np.ndarray], device: torch.device) -> dict[str, Tensor]:
    """Move drawn choices to ``device`` without stalling it (pinned, asynchronous copies on CUDA)."""
    out = {}
    for k, v in params.items():
        t = torch.from_numpy(np.ascontiguousarray(v))
        out[k] = t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t
    return out


def shard_params(params: dict[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[index] for k, v in params.items()}


