"""SkeletonGait-style pose heatmaps: COCO-17 keypoints (T, 17, 3) -> (T, 2, H, W) uint8.

Two channels, in OpenGait's order (its ``GatherTransform`` stacks the bone map first):

* ``limbs``: every bone of :data:`core.pose.COCO_LIMBS` drawn as a line segment with a Gaussian
  falloff ``exp(-d^2 / 2 sigma^2)`` of the distance ``d`` to the segment, scaled by the smaller
  confidence of its two joints;
* ``joints``: a Gaussian blob per joint, scaled by its confidence.

Overlaps take the maximum. A joint whose confidence is below ``min_conf`` (OpenGait's ``eps``,
1e-3) draws nothing, nor do the bones that touch it. ``order=("joints", "limbs")`` swaps the
channels for code that wants joints first.

Two ways to place the skeleton in the H x W frame:

``align="skeleton"`` (default) re-states OpenGait's SkeletonGait pretreatment
(``datasets/pretreatment_heatmap.py`` with ``configs/skeletongait/pretreatment_heatmap.yaml``):
the skeleton is centred on the mid-hip point, scaled so that its joints' vertical extent is
``canvas // 1.5`` pixels, and drawn on a square canvas of ``canvas = 2 H`` pixels (128 for a 64
output) with the hip at the canvas centre; each Gaussian is cut to a 3-sigma window as there. Each
channel is then cropped to the rows it inks and a square of that height centred on the hip
column, and resized (area interpolation) to H x W. Values are quantised like OpenGait's grey
colour map (``min(floor(v * 256), 255)``) before the crop. This is the same idea as OpenGait's
silhouette alignment (crop the person's rows, scale to the output height, centre horizontally),
so the two modalities line up roughly, as in SkeletonGait++. Differences from OpenGait, on
purpose: joints below ``min_conf`` are left out of the centre and extent (OpenGait first fills
them in with a KNN imputer over the sequence, which needs scikit-learn), a missing hip falls back
to the other hip or the mean of the visible joints, and a crop running off the canvas is padded
with zeros instead of wrapping around (a negative slice start in the original).

``align="silhouette"`` puts every keypoint exactly where its pixel lands in the aligned
silhouette of the same frame: ``masks`` (T, Hf, Wf) are the raw-frame masks the keypoints refer
to, ``method`` the converter's alignment (``opengait``: crop the foreground rows, scale to H,
centre on the column where the foreground mass passes half; ``letterbox``: fit the box into the
square), and the heatmaps are drawn directly at H x W with ``sigma / 2`` (the canvas is twice the
output). Frames whose silhouette alignment drops them get all-zero heatmaps, so indices stay
aligned with the input; use :func:`silhouette_transform` to see which.
"""

from __future__ import annotations

import cv2
import numpy as np

from core.alignment import METHODS, Transform, align_frame
from core.errors import ConfigError, InputError
from core.pose import COCO_LIMBS

HEATMAP_CHANNELS = ("limbs", "joints")
ALIGNS = ("skeleton", "silhouette")
LEFT_HIP, RIGHT_HIP = 11, 12


# ------------------------------------------------------------------------------------------------
# drawing
# ------------------------------------------------------------------------------------------------

def _window(lo: float, hi: float, sigma: float, n: int) -> tuple[int, int]:
    # int() truncates towards zero, as OpenGait's window bounds do
    return max(int(lo - 3 * sigma), 0), min(int(hi + 3 * sigma) + 1, n)


def draw_joints(canvas: np.ndarray, pts: np.ndarray, conf: np.ndarray, sigma: float, min_conf: float) -> None:
    """Max-composite one Gaussian per joint (3-sigma window) into ``canvas`` (h, w) float32."""
    h, w = canvas.shape
    for (x, y), c in zip(pts, conf):
        if c < min_conf:
            continue
        x0, x1 = _window(x, x, sigma, w)
        y0, y1 = _window(y, y, sigma, h)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32)
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        patch = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2)) * c
        np.maximum(canvas[y0:y1, x0:x1], patch, out=canvas[y0:y1, x0:x1])


def draw_limbs(canvas: np.ndarray, pts: np.ndarray, conf: np.ndarray, sigma: float, min_conf: float,
               limbs=COCO_LIMBS) -> None:
    """Max-composite every limb as a segment with Gaussian falloff, weighted by min(conf_a, conf_b)."""
    h, w = canvas.shape
    for a, b in limbs:
        v = min(conf[a], conf[b])
        if v < min_conf:
            continue
        pa, pb = pts[a].astype(np.float32), pts[b].astype(np.float32)
        d2_ab = float(((pa - pb) ** 2).sum())
        if d2_ab < 1.0:     # both ends on one pixel: a blob at the start joint, with its confidence
            draw_joints(canvas, pa[None], np.array([conf[a]]), sigma, min_conf)
            continue
        x0, x1 = _window(min(pa[0], pb[0]), max(pa[0], pb[0]), sigma, w)
        y0, y1 = _window(min(pa[1], pb[1]), max(pa[1], pb[1]), sigma, h)
        if x0 >= x1 or y0 >= y1:
            continue
        xs = np.arange(x0, x1, dtype=np.float32)[None, :]
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        # position of the foot of the perpendicular along the segment, clamped to its ends
        t = ((xs - pa[0]) * (pb[0] - pa[0]) + (ys - pa[1]) * (pb[1] - pa[1])) / d2_ab
        t = np.clip(t, 0.0, 1.0)
        d2 = (xs - (pa[0] + t * (pb[0] - pa[0]))) ** 2 + (ys - (pa[1] + t * (pb[1] - pa[1]))) ** 2
        patch = np.exp(-d2 / (2 * sigma ** 2)) * v
        np.maximum(canvas[y0:y1, x0:x1], patch, out=canvas[y0:y1, x0:x1])


def _quantise(x: np.ndarray) -> np.ndarray:
    """OpenGait's grey colour-map step: v -> min(floor(v * 256), 255)."""
    return np.minimum(np.floor(np.clip(x, 0.0, None) * 256.0), 255.0).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# skeleton-centred placement (OpenGait SkeletonGait)
# ------------------------------------------------------------------------------------------------

def _centre_and_scale(kp: np.ndarray, ok: np.ndarray, canvas: int) -> tuple[np.ndarray, float] | None:
    pts = kp[:, :2]
    if ok[LEFT_HIP] and ok[RIGHT_HIP]:
        hip = (pts[LEFT_HIP] + pts[RIGHT_HIP]) / 2.0
    elif ok[LEFT_HIP] or ok[RIGHT_HIP]:
        hip = pts[LEFT_HIP if ok[LEFT_HIP] else RIGHT_HIP]
    else:
        hip = pts[ok].mean(0)
    extent = float(pts[ok, 1].max() - pts[ok, 1].min())
    if extent < 1e-6:
        return None
    return hip, (canvas // 1.5) / extent


def _crop_square(chan: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Rows the channel inks, columns centred on the canvas centre with the same height (x W/H),
    resized by area to out_h x out_w; quantised values in, uint8 out."""
    rows = np.flatnonzero(chan.sum(1) > 0)
    if rows.size == 0:
        return np.zeros((out_h, out_w), np.uint8)
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    half = (height * out_w // out_h) // 2
    cx = chan.shape[1] // 2
    left, right = cx - half, cx + half + 1
    pad_l, pad_r = max(0, -left), max(0, right - chan.shape[1])
    crop = chan[top:bottom + 1, max(left, 0):min(right, chan.shape[1])]
    if pad_l or pad_r:
        crop = np.pad(crop, ((0, 0), (pad_l, pad_r)))
    small = cv2.resize(crop / 255.0, (out_w, out_h), interpolation=cv2.INTER_AREA)
    return (np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)


def _skeleton_frame(kp: np.ndarray, out_h: int, out_w: int, sigma: float, min_conf: float) -> np.ndarray:
    out = np.zeros((2, out_h, out_w), np.uint8)
    ok = kp[:, 2] >= min_conf
    if ok.sum() < 2:
        return out
    canvas = 2 * out_h
    cs = _centre_and_scale(kp, ok, canvas)
    if cs is None:
        return out
    hip, scale = cs
    pts = (kp[:, :2] - hip) * scale + canvas // 2
    conf = np.where(ok, kp[:, 2], 0.0)
    for c, draw in enumerate((draw_limbs, draw_joints)):
        chan = np.zeros((canvas, canvas), np.float32)
        draw(chan, pts, conf, sigma, min_conf)
        out[c] = _crop_square(_quantise(chan), out_h, out_w)
    return out


# ------------------------------------------------------------------------------------------------
# silhouette-registered placement
# ------------------------------------------------------------------------------------------------

def silhouette_transform(mask: np.ndarray, size: int = 64, method: str = "opengait") -> Transform | None:
    """The map from raw-frame pixels to the aligned ``size`` x ``size`` silhouette of ``mask``: the
    :class:`core.alignment.Transform` the aligner itself applied to this frame (it unpacks as
    ``(sx, sy, tx, ty)`` with ``x' = sx * x + tx``, ``y' = sy * y + ty``); None when the alignment
    drops this frame."""
    if method not in METHODS:
        raise ConfigError(f"unknown alignment {method!r}; choose one of {', '.join(METHODS)}")
    return align_frame(np.asarray(mask), method, size)[2]


def _silhouette_frame(kp: np.ndarray, tf, size: int, sigma: float, min_conf: float) -> np.ndarray:
    out = np.zeros((2, size, size), np.uint8)
    if tf is None:
        return out
    pts = tf.apply(kp[:, :2])
    conf = np.where(kp[:, 2] >= min_conf, kp[:, 2], 0.0)
    for c, draw in enumerate((draw_limbs, draw_joints)):
        chan = np.zeros((size, size), np.float32)
        draw(chan, pts, conf, sigma, min_conf)
        out[c] = _quantise(chan).astype(np.uint8)
    return out


# ------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------

def pose_heatmaps(keypoints: np.ndarray, size: tuple[int, int] = (64, 64), sigma: float = 8.0, *,
                  align: str = "skeleton", masks: np.ndarray | None = None, method: str = "opengait",
                  order: tuple[str, str] = HEATMAP_CHANNELS, min_conf: float = 1e-3) -> np.ndarray:
    """Heatmaps (T, 2, H, W) uint8 for keypoints (T, 17, 3) x, y, conf in frame pixels.

    ``sigma`` is in pixels of the 2H x 2H drawing canvas (OpenGait's 8.0 on 128 for H = 64);
    see the module docstring for ``align`` / ``masks`` / ``method`` and the channel ``order``."""
    kp = np.asarray(keypoints, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise InputError(None, f"keypoints must be (T, 17, 3) x, y, conf; got shape {kp.shape}")
    if not np.isfinite(kp).all():
        raise InputError(None, "keypoints hold NaN or infinite values")
    h, w = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    if h < 4 or w < 4:
        raise ConfigError(f"heatmap size must be at least 4x4, got {h}x{w}")
    if not sigma > 0:
        raise ConfigError(f"sigma must be > 0, got {sigma}")
    if tuple(order) not in (HEATMAP_CHANNELS, HEATMAP_CHANNELS[::-1]):
        raise ConfigError(f"order must be {HEATMAP_CHANNELS} or {HEATMAP_CHANNELS[::-1]}, got {order}")
    if align not in ALIGNS:
        raise ConfigError(f"unknown heatmap alignment {align!r}; choose one of {', '.join(ALIGNS)}")
    t = len(kp)
    out = np.zeros((t, 2, h, w), np.uint8)
    if align == "skeleton":
        for i in range(t):
            out[i] = _skeleton_frame(kp[i], h, w, float(sigma), float(min_conf))
    else:
        if masks is None:
            raise ConfigError("align='silhouette' needs the frames' masks (masks=)")
        m = np.asarray(masks)
        if m.ndim != 3 or len(m) != t:
            raise InputError(None, f"masks must be (T, H, W) with T = {t}, got shape {m.shape}")
        if h != w:
            raise ConfigError(f"align='silhouette' makes square frames like the aligner; got size {h}x{w}")
        for i in range(t):
            tf = silhouette_transform(m[i], h, method)
            out[i] = _silhouette_frame(kp[i], tf, h, float(sigma) / 2.0, float(min_conf))
    if tuple(order) != HEATMAP_CHANNELS:
        out = out[:, ::-1].copy()
    return out
