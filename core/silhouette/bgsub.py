"""Silhouettes by background subtraction for a static camera (classical CV, no model).

Pipeline, per video:

1. **Background model.** By default the per-pixel *temporal mode*: among a sample of the frames,
   the colour that the most other samples agree with (within ``mode_tol``), averaged over those
   samples. Unlike the median it stays on the background while a person covers a pixel in many
   frames, as long as different colours (arm, shirt, trousers) pass over it. Alternatives: the
   median (``background="median"``, with a second pass that ignores first-pass foreground), OpenCV's
   MOG2 (``"mog2"``), or a background image given by the caller.
   A single short video cannot reveal a pixel that the person covers in most of its frames (a
   person walking towards the camera hides the same spot all the time). For such footage estimate
   the background once per camera from several videos with :func:`camera_background` (or
   :meth:`BackgroundSubtraction.fit_background`): every video votes once per pixel, and different
   people in different clothes rarely agree on a wrong colour.
2. **Shading-robust difference.** A pixel colour ``F`` is compared with the background colour ``B``
   through its brightness ratio ``a = <F,B>/<B,B>`` and its chromatic distortion ``|F - a B|``.
   A pixel differs when a channel moves by more than ``threshold``, except that a darker pixel of
   the background's chromaticity (``a`` within ``[shadow_lo, shadow_hi]``, small distortion) is a
   cast shadow and stays background, but only in the bottom ``shadow_zone`` of the foreground's
   rows, where shadows fall: higher up, such a pixel is the person (a grey coat before a grey wall).
3. **Clean-up.** Median filter, morphological opening and closing, the largest connected component
   (the person; components close to it are kept as well: a detached foot or hand), holes filled.

Measured with ``bench/silhouette_iou.py`` on the demo set's MJPG videos (6 ids x 10 conditions x
views 036/090/144, 36 frames): mean IoU against ground truth 0.83 per video (side view 0.93,
oblique 0.78, coats 0.59) and 0.95 with one background per camera (worst sequence 0.93), at
75-105 frames/s of 320x240 on a shared 2-core CPU. Frontal views (000/180) reach 0.81 per camera
and fail per video (0.06): the walker never uncovers the wall behind them.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Iterable

import cv2
import numpy as np

from core.errors import ConfigError, InputError
from core.indices import spread_indices

BACKGROUNDS = ("mode", "median", "mog2")


def check_frames(frames, what: str = "frames") -> np.ndarray:
    """Validate the (T, H, W, 3) uint8 RGB convention; returns the array (T may be 0)."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(None, f"{what} must be a (T, H, W, 3) RGB array, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(None, f"{what} must be uint8, got {arr.dtype}")
    return arr


def _odd(n: int) -> int:
    n = int(n)
    return n if n % 2 else n + 1


def _ellipse(px: int) -> np.ndarray | None:
    px = int(px)
    if px <= 1:
        return None
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (px, px))


# ------------------------------------------------------------------------------------------------
# mask clean-up helpers
# ------------------------------------------------------------------------------------------------

def fill_holes(mask: np.ndarray, max_frac: float = 1.0) -> np.ndarray:
    """Fill background regions of a binary (H, W) uint8 mask that do not touch the border and are
    at most ``max_frac`` of the foreground area (a gap between the legs is not a hole to fill)."""
    inv = (mask == 0).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(inv, connectivity=4)
    if n <= 2:
        return mask
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    fill = np.ones(n, bool)
    fill[0] = False
    fill[border] = False
    fill &= stats[:, cv2.CC_STAT_AREA] <= max_frac * max(int((mask > 0).sum()), 1)
    if not fill.any():
        return mask
    out = mask.copy()
    out[fill[lab]] = 255
    return out


def keep_largest(mask: np.ndarray, near_px: int = 0, min_frac: float = 0.0) -> np.ndarray:
    """Keep the largest 8-connected component of a binary (H, W) uint8 mask. With ``near_px`` > 0,
    components of at least ``min_frac`` of the largest one's area whose bounding box lies within
    ``near_px`` of the largest one's bounding box are kept as well (a detached foot or hand)."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask)
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = int(np.argmax(areas)) + 1
    keep = np.zeros(n, bool)
    keep[best] = True
    if near_px > 0 and n > 2:
        x, y, w, h = stats[best, :4]
        x0, y0, x1, y1 = x - near_px, y - near_px, x + w + near_px, y + h + near_px
        for i in range(1, n):
            if i == best or stats[i, cv2.CC_STAT_AREA] < min_frac * areas.max():
                continue
            xi, yi, wi, hi = stats[i, :4]
            if xi < x1 and xi + wi > x0 and yi < y1 and yi + hi > y0:
                keep[i] = True
    return np.where(keep[lab], 255, 0).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# background estimation
# ------------------------------------------------------------------------------------------------

def _chmax(d: np.ndarray) -> np.ndarray:
    """Largest of the 3 channels; numpy's reduce over a length-3 last axis is several times slower."""
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])


def _chsum(d: np.ndarray) -> np.ndarray:
    return d[..., 0] + d[..., 1] + d[..., 2]


def _block_means(x: np.ndarray, block: int) -> np.ndarray:
    """(N, H, W, C) -> (N, ceil(H/block), ceil(W/block), C) float32 block means (edges padded)."""
    n, h, w, c = x.shape
    if block == 1:
        return x.astype(np.float32)
    hh, ww = -(-h // block), -(-w // block)
    out = np.empty((n, hh, ww, c), np.float32)
    for i in range(n):  # INTER_AREA at an integer factor is the block mean, and much faster than numpy's
        f = cv2.copyMakeBorder(np.ascontiguousarray(x[i], np.float32), 0, hh * block - h, 0, ww * block - w,
                               cv2.BORDER_REPLICATE)
        out[i] = cv2.resize(f, (ww, hh), interpolation=cv2.INTER_AREA).reshape(hh, ww, c)
    return out


def temporal_mode(samples: np.ndarray, tol: float, block: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel densest colour of ``samples`` (N, H, W, 3): returns the background (H, W, 3) float32
    and its support (H, W) float32, the fraction of samples that agree with it.

    For every pixel the sample with the most other samples within ``tol`` (largest channel
    difference) wins and the mean of those neighbours is returned. The winner is chosen on
    ``block`` x ``block`` block means (the N x N comparison is the costly part, and averaging also
    tames sensor noise); membership is then tested per pixel, so edges stay sharp."""
    x = np.asarray(samples, np.float32)
    n, h, w, _ = x.shape
    small = np.rint(_block_means(x, max(1, int(block)))).astype(np.int16)      # (N, h', w', 3)
    t = np.int16(round(float(tol)))
    votes = np.empty((n,) + small.shape[1:3], np.int16)
    for i in range(n):  # O(N^2) comparisons, one sample at a time to keep memory at O(N)
        votes[i] = (_chmax(np.abs(small - small[i])) <= t).sum(0)
    best = votes.argmax(0)
    b = max(1, int(block))
    idx = np.repeat(np.repeat(best, b, 0), b, 1)[:h, :w]
    ref = np.take_along_axis(x, idx[None, ..., None], 0)[0]                    # (H, W, 3)
    members = _chmax(np.abs(x - ref[None])) <= tol                             # (N, H, W)
    count = members.sum(0)
    bg = np.einsum("nhwc,nhw->hwc", x, members.astype(np.float32)) / np.maximum(count, 1)[..., None]
    return bg.astype(np.float32), (count / float(n)).astype(np.float32)


@dataclass
class BgSubParams:
    background: str = "mode"        # "mode" (densest colour), "median" or "mog2"
    mode_tol: float = 12.0          # colour tolerance of the mode's cluster (largest channel difference)
    mode_block: int = 4             # block size on which the mode's winner is chosen
    samples: int = 48               # frames used to estimate the background (evenly spread)
    refine: bool = True             # median only: second pass without first-pass foreground
    threshold: float = 18.0         # largest channel difference (0-255) that is still background
    shadow_lo: float = 0.62         # a pixel darker than the background by a factor in
    shadow_hi: float = 0.92         # [shadow_lo, shadow_hi] with the same chromaticity ...
    shadow_chroma: float = 9.0      # ... (chromatic distortion below this) is shadow, not person,
    shadow_zone: float = 0.25       # ... in the bottom quarter of the foreground's rows (1 = anywhere)
    blur: int = 0                   # Gaussian pre-blur (odd px, 0/1 = off) against noise/JPEG blocks
    median: int = 3                 # median filter on the raw mask (odd px, 0/1 = off)
    open_px: int = 3                # opening diameter
    close_px: int = 5               # closing diameter
    near_px: int = 6                # keep components this close to the person's box
    near_frac: float = 0.02         # ... when at least this fraction of the person's area
    min_area: float = 0.001         # fraction of the frame below which the result is empty
    fill: float = 0.15              # fill holes up to this fraction of the person's area (0 = off)
    camera_videos: int = 48         # camera_background: at most this many videos vote (evenly spread)
    camera_samples: int = 16        # ... each with this many frames

    def validate(self) -> "BgSubParams":
        if self.background not in BACKGROUNDS:
            raise ConfigError(f"unknown background model {self.background!r}; choose one of {', '.join(BACKGROUNDS)}")
        if not 0.0 <= self.shadow_zone <= 1.0:
            raise ConfigError(f"shadow_zone must be between 0 and 1, got {self.shadow_zone}")
        if not 0.0 <= self.shadow_lo <= self.shadow_hi <= 1.0:
            raise ConfigError(f"need 0 <= shadow_lo <= shadow_hi <= 1, got {self.shadow_lo}, {self.shadow_hi}")
        if self.threshold <= 0 or self.mode_tol <= 0:
            raise ConfigError(f"threshold and mode_tol must be > 0, got {self.threshold}, {self.mode_tol}")
        for name in ("samples", "mode_block", "camera_videos", "camera_samples"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.min_area < 1.0 or self.fill < 0:
            raise ConfigError(f"need 0 <= min_area < 1 and fill >= 0, got {self.min_area}, {self.fill}")
        return self


class BackgroundSubtraction:
    """Static-camera background subtraction; ``masks(frames)`` -> (T, H, W) uint8 {0, 255}.

    ``background_image`` (H, W, 3) RGB uint8 replaces the per-video estimate, e.g. an empty frame
    of the scene or :func:`camera_background` of several videos from the same camera."""

    name = "bgsub"
    model_free = True
    label = "background subtraction (classical CV, no model)"

    def __init__(self, background_image: np.ndarray | None = None, **options):
        known = set(BgSubParams.__dataclass_fields__)
        bad = sorted(set(options) - known)
        if bad:
            raise ConfigError(f"unknown bgsub option(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        try:
            self.params = BgSubParams(**options).validate()
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad bgsub option: {exc}") from exc
        self.background_image: np.ndarray | None = None
        if background_image is not None:
            self.set_background(background_image)

    def __repr__(self) -> str:
        given = "" if self.background_image is None else f", background_image={self.background_image.shape}"
        return f"BackgroundSubtraction({asdict(self.params)}{given})"

    def set_background(self, image: np.ndarray | None) -> None:
        """Use ``image`` (H, W, 3 RGB uint8) for every following video; None goes back to per-video."""
        if image is None:
            self.background_image = None
            return
        bg = np.asarray(image)
        if bg.ndim != 3 or bg.shape[-1] != 3:
            raise ConfigError(f"background_image must be (H, W, 3) RGB, got shape {bg.shape}")
        self.background_image = np.clip(bg, 0, 255).astype(np.uint8)

    def fit_background(self, videos: Iterable[np.ndarray]) -> np.ndarray:
        """Estimate one background from several videos of the same static camera and use it from
        now on; returns it (H, W, 3 uint8). See :func:`camera_background`."""
        self.background_image = None
        bg = camera_background(videos, **asdict(self.params))
        self.background_image = bg
        return bg

    # -- background --------------------------------------------------------------------------
    def _blur(self, frames: np.ndarray) -> np.ndarray:
        k = self.params.blur
        f = frames.astype(np.float32)
        if k and k > 1:
            k = _odd(k)
            f = np.stack([cv2.GaussianBlur(x, (k, k), 0) for x in f])
        return f

    def background_model(self, frames) -> np.ndarray:
        """(H, W, 3) float32 background for ``frames`` (blurred like the frames are)."""
        frames = check_frames(frames)
        if len(frames) == 0:
            raise InputError(None, "cannot estimate a background from zero frames")
        if self.background_image is not None:
            if self.background_image.shape != frames.shape[1:]:
                raise ConfigError(f"background image is {self.background_image.shape[1]}x"
                                  f"{self.background_image.shape[0]} but the frames are "
                                  f"{frames.shape[2]}x{frames.shape[1]}")
            return self._blur(self.background_image[None])[0]
        p = self.params
        if p.background == "mog2":
            return self._mog2(frames)
        f = self._blur(frames[spread_indices(len(frames), p.samples)])
        if p.background == "mode":
            return temporal_mode(f, p.mode_tol, p.mode_block)[0]
        bg = np.median(f, axis=0)
        if p.refine and len(f) >= 3:
            # a pixel's median over only the frames in which the first pass saw no person there
            fg = np.stack([cv2.dilate(m, _ellipse(9)) for m in self._raw(f, bg)]) > 0
            data = np.where(fg[..., None], np.nan, f)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN pixels fall back below
                bg2 = np.nanmedian(data, axis=0)
            ok = (~fg).sum(0) >= max(2, len(f) // 8)
            bg = np.where(ok[..., None], bg2, bg)
        return bg.astype(np.float32)

    def _mog2(self, frames: np.ndarray) -> np.ndarray:
        sub = cv2.createBackgroundSubtractorMOG2(history=max(len(frames), 2), varThreshold=16, detectShadows=False)
        idx = spread_indices(len(frames), self.params.samples)
        for _ in range(2):
            for i in idx:
                sub.apply(cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR), learningRate=-1)
        bg = cv2.cvtColor(sub.getBackgroundImage(), cv2.COLOR_BGR2RGB)
        return self._blur(bg[None])[0]

    # -- difference and clean-up ---------------------------------------------------------------
    def _raw(self, f: np.ndarray, bg: np.ndarray) -> np.ndarray:
        """Raw foreground (T, H, W) uint8 {0, 255} from blurred float frames and the background."""
        p = self.params
        fg = _chmax(np.abs(f - bg)) > p.threshold
        if p.shadow_hi > p.shadow_lo:
            b = bg + 1.0             # +1: a black background pixel still has a direction
            fb = f + 1.0
            alpha = _chsum(fb * b) / _chsum(b * b)
            dist = np.sqrt(_chsum((fb - alpha[..., None] * b) ** 2))
            shadow = (alpha >= p.shadow_lo) & (alpha <= p.shadow_hi) & (dist < p.shadow_chroma)
            if p.shadow_zone < 1.0:
                shadow &= self._ground_rows(fg)[..., None]
            fg &= ~shadow
        return fg.astype(np.uint8) * np.uint8(255)

    def _ground_rows(self, fg: np.ndarray) -> np.ndarray:
        """(T, H) bool: the bottom ``shadow_zone`` of each frame's foreground rows, where a cast
        shadow can lie. Above it, a darker pixel of the background's hue is the person (a grey
        coat in front of a grey wall), not a shadow."""
        t, h = fg.shape[:2]
        rows = fg.sum(2) >= 2                       # rows with more than a stray pixel
        idx = np.arange(h)[None, :]
        has = rows.any(1)
        top = np.where(has, rows.argmax(1), 0)
        bottom = np.where(has, h - 1 - rows[:, ::-1].argmax(1), h - 1)
        start = bottom - self.params.shadow_zone * (bottom - top)
        return idx >= start[:, None]

    def _smooth(self, m: np.ndarray) -> np.ndarray:
        """Median filter, opening and closing of a raw mask: noise out, small gaps closed."""
        p = self.params
        if p.median and p.median > 1:
            m = cv2.medianBlur(m, _odd(p.median))
        k = _ellipse(p.open_px)
        if k is not None:
            m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
        k = _ellipse(p.close_px)
        if k is not None:
            m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k)
        return m

    def _clean(self, m: np.ndarray) -> np.ndarray:
        p = self.params
        m = keep_largest(self._smooth(m), p.near_px, p.near_frac)
        if p.fill > 0:
            m = fill_holes(m, p.fill)
        if (m > 0).mean() < p.min_area:
            m[:] = 0
        return m

    def _each(self, frames, clean, boxes=None) -> np.ndarray:
        frames = check_frames(frames)
        t, h, w = frames.shape[:3]
        if t == 0:
            return np.zeros((0, h, w), np.uint8)
        bg = self.background_model(frames)
        out = np.empty((t, h, w), np.uint8)
        step = 32   # bounded float32 temporaries
        for s in range(0, t, step):
            raw = self._raw(self._blur(frames[s:s + step]), bg)
            for i, m in enumerate(raw):
                if boxes is not None:
                    m = inside_box(m, boxes[s + i])
                out[s + i] = clean(m)
        return out

    def masks(self, frames, boxes=None) -> np.ndarray:
        """One person per frame: with ``boxes`` (T, 4), the one inside each frame's box."""
        return self._each(frames, self._clean, boxes)

    def foreground(self, frames) -> np.ndarray:
        """Every moving thing, not only the largest: (T, H, W) uint8 {0, 255} before the choice of
        one person, for footage with several walkers (person boxes, then one track each)."""
        return self._each(frames, self._smooth)


def inside_box(mask: np.ndarray, box, margin: float = 0.1) -> np.ndarray:
    """``mask`` with everything outside ``box`` (x0, y0, x1, y1, grown by ``margin`` of its
    size on each side) set to 0: the other walkers of a multi-person frame."""
    x0, y0, x1, y1 = (float(v) for v in box)
    dx, dy = margin * (x1 - x0), margin * (y1 - y0)
    h, w = mask.shape[:2]
    c0, r0 = max(0, int(x0 - dx)), max(0, int(y0 - dy))
    c1, r1 = min(w, int(np.ceil(x1 + dx))), min(h, int(np.ceil(y1 + dy)))
    out = np.zeros_like(mask)
    if c1 > c0 and r1 > r0:
        out[r0:r1, c0:c1] = mask[r0:r1, c0:c1]
    return out


def camera_background(videos: Iterable[np.ndarray], **options) -> np.ndarray:
    """One background (H, W, 3 uint8) for a static camera from several of its videos.

    Each video (T, H, W, 3 RGB uint8) gives its own temporal-mode estimate from
    ``camera_samples`` frames; the per-pixel mode across those estimates is the result, so each
    video votes once. Where one person hid a pixel throughout their video, other people (other
    positions, other clothes) outvote them. From a list, at most ``camera_videos`` videos evenly
    spread over it are used; any other iterable (e.g. a generator decoding videos one at a time,
    so that only one is in memory) is read until ``camera_videos`` have been used. All must have
    the same frame size; empty videos are skipped."""
    unknown = sorted(set(options) - set(BgSubParams.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"unknown camera_background option(s) {', '.join(unknown)}")
    params = BgSubParams(**options).validate()
    # unblurred: the frames are blurred against it later, once
    one = BackgroundSubtraction(**{**asdict(params), "samples": params.camera_samples, "blur": 0})
    if isinstance(videos, (list, tuple)):
        chosen = (videos[i] for i in spread_indices(len(videos), params.camera_videos)) if videos else iter(())
    else:
        chosen = iter(videos)
    estimates: list[np.ndarray] = []
    size = None
    for n, video in enumerate(chosen):
        v = check_frames(video, what=f"video {n}")
        if len(v) == 0:
            continue
        if size is None:
            size = v.shape[1:]
        elif v.shape[1:] != size:
            raise InputError(None, f"video {n} is {v.shape[2]}x{v.shape[1]}, the first is {size[1]}x{size[0]}: "
                                   f"one camera background needs one frame size")
        estimates.append(one.background_model(v))
        if len(estimates) >= params.camera_videos:
            break
    if not estimates:
        raise InputError(None, "camera_background needs at least one non-empty video")
    if len(estimates) == 1:
        bg = estimates[0]
    else:
        bg = temporal_mode(np.stack(estimates), params.mode_tol, params.mode_block)[0]
    return np.clip(np.rint(bg), 0, 255).astype(np.uint8)
