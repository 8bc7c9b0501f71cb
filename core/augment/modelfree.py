"""Model-free clothing variants: recolour, re-texture, coat and skirt edits driven by part labels.

This is the honest fallback when no generative model is available. It cannot invent new garment
geometry beyond simple shapes, but it changes what a gait model must learn to ignore: garment
colours and textures (appearance) and, for coats and skirts, the silhouette outline itself.

Every edit is decided once per sequence by a :class:`~core.augment.recipes.Recipe` and applied
identically to all frames, so a variant never flickers: colours are fixed, textures are anchored to each frame's
garment (they move with the body), and shading comes from the original luminance so folds,
noise and lighting survive the edit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from core.augment.recipes import GARMENT_LABELS, KINDS, RGB, Recipe, as_rgb
from core.errors import ConfigError
from core.parts import ARMS, BAG, COAT, HEAD, LEGS, LOWER, SHOES, UPPER

_SKIN_DEFAULT: RGB = (196, 146, 108)


@dataclass
class VariantFrames:
    rgb: np.ndarray           # (T, H, W, 3) uint8
    parts: np.ndarray         # (T, H, W) uint8
    silhouettes: np.ndarray   # (T, H, W) uint8, 0 / 255


# ----------------------------------------------------------------------------------------- helpers


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _shade(luma: np.ndarray, ref: float) -> np.ndarray:
    # The offset keeps sensor noise on dark garments from turning into speckle on a light new colour.
    return np.clip((luma + 40.0) / (ref + 40.0), 0.45, 1.6)


def _first_last_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: first row, last row, and whether the mask is non-empty. ``mask`` is (T, H, W)."""
    rows = mask.any(axis=2)
    has = rows.any(axis=1)
    first = rows.argmax(axis=1)
    last = rows.shape[1] - 1 - rows[:, ::-1].argmax(axis=1)
    return first, last, has


def _row_extents(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and row: leftmost and rightmost set column, and whether the row has any."""
    w = mask.shape[2]
    has = mask.any(axis=2)
    left = mask.argmax(axis=2).astype(np.float32)
    right = (w - 1 - mask[:, :, ::-1].argmax(axis=2)).astype(np.float32)
    return left, right, has


def _run_extreme(a: np.ndarray, radius: int, fn) -> np.ndarray:
    """Running min/max along the row axis of a (T, H) array; smooths ragged garment outlines."""
    if radius <= 0:
        return a
    pad = np.pad(a, ((0, 0), (radius, radius)), mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * radius + 1, axis=1)
    return fn(win, axis=2)


def person_height(mask: np.ndarray) -> float:
    """Median height in rows of the person in a (T, H, W) mask or part map, over frames that show one."""
    first, last, has = _first_last_rows(np.asarray(mask) > 0)
    if not has.any():
        return 0.0
    return float(np.median((last - first + 1)[has]))


def _kp_rows(keypoints, t: int, conf: float = 0.3):
    """Shoulder-top, hip and knee rows per frame from COCO-17 keypoints, NaN where not confident."""
    nan = np.full(t, np.nan, np.float32)
    if keypoints is None:
        return nan, nan.copy(), nan.copy()
    kp = np.asarray(keypoints, np.float32)
    if kp.ndim != 3 or kp.shape[0] != t or kp.shape[1] < 17:
        return nan, nan.copy(), nan.copy()
    y = np.where(kp[:, :, 2] >= conf, kp[:, :, 1], np.nan)
    with np.errstate(all="ignore"), _quiet():
        shoulder = np.nanmin(y[:, [5, 6]], axis=1)
        hip = np.nanmean(y[:, [11, 12]], axis=1)
        knee = np.nanmean(y[:, [13, 14]], axis=1)
    return shoulder, hip, knee


class _quiet:
    """Silence numpy's all-NaN slice warnings; missing joints are expected."""

    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)


def _body_rows(parts: np.ndarray, keypoints) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per frame (float rows): garment top, hip, knee, and whether a person is present.

    Keypoints win where confident; otherwise rows come from the part map: the top of the upper
    garment, the top of the lower garment (waist) and halfway from there to the ankles.
    """
    t = parts.shape[0]
    p_first, p_last, present = _first_last_rows(parts > 0)
    up_first, _, has_up = _first_last_rows((parts == UPPER) | (parts == COAT))
    _, head_last, has_head = _first_last_rows(parts == HEAD)
    lo_first, _, has_lo = _first_last_rows(parts == LOWER)
    _, leg_last, has_leg = _first_last_rows((parts == LOWER) | (parts == LEGS))

    top = np.where(has_up, up_first, np.where(has_head, head_last + 1, p_first)).astype(np.float32)
    hip = np.where(has_lo, lo_first, top + 0.4 * (p_last - top)).astype(np.float32)
    ankle = np.where(has_leg, leg_last, p_last).astype(np.float32)
    knee = hip + 0.5 * np.maximum(ankle - hip, 0)

    k_sh, k_hip, k_knee = _kp_rows(keypoints, t)
    ok = np.isfinite(k_sh) & np.isfinite(k_hip) & np.isfinite(k_knee) & (k_hip > k_sh) & (k_knee > k_hip)
    height = np.maximum(p_last - p_first, 1).astype(np.float32)
    # A coat must still cover the whole shirt when the shoulder joints sit below its collar.
    top = np.where(ok, np.where(has_up, np.minimum(k_sh - 0.02 * height, up_first), k_sh - 0.02 * height), top)
    hip = np.where(ok, k_hip, hip)
    knee = np.where(ok, k_knee, knee)
    if has_head.any():
        top = np.maximum(top, np.where(has_head, head_last + 1, top))   # never paint over the face
    return top, hip, knee, present


def _garment_refs(lum: np.ndarray, parts: np.ndarray, labels: Iterable[int]) -> float:
    m = np.isin(parts, list(labels))
    return float(lum[m].mean()) if m.any() else 128.0


def _skin_colour(rgb: np.ndarray, parts: np.ndarray) -> RGB:
    for lab in (ARMS, LEGS):
        m = parts == lab
        if m.sum() > 20:
            return as_rgb(np.median(rgb[m], axis=0))
    return _SKIN_DEFAULT


def _paint(out: np.ndarray, mask: np.ndarray, colour, shade: np.ndarray) -> None:
    """Write ``colour * shade`` into ``out`` at ``mask``; ``shade`` is per masked pixel."""
    c = np.asarray(colour, np.float32)
    out[mask] = np.clip(shade[:, None] * c, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------- edits


def _recolour(rgb, parts, recipe, lum, out_rgb) -> None:
    for g, colour in recipe.colours.items():
        label = GARMENT_LABELS.get(g)
        m = parts == label
        if label is None or not m.any():
            continue
        ref = float(lum[m].mean())
        _paint(out_rgb, m, colour, _shade(lum[m], ref))


def _pattern_mask(u: np.ndarray, v: np.ndarray, recipe: Recipe, period: float) -> np.ndarray:
    phase = (recipe.seed % 997) / 997.0
    half = period / 2.0
    if recipe.pattern == "checks":
        return ((np.floor(u / half + phase) + np.floor(v / half + phase)) % 2).astype(bool)
    if recipe.pattern == "dots":
        row = np.floor(v / period + phase)
        uu = u + (row % 2) * half   # stagger alternate rows like printed polka dots
        du = np.mod(uu + phase * period, period) - half
        dv = np.mod(v + phase * period, period) - half
        return du * du + dv * dv <= (0.3 * period) ** 2
    a = math.radians(recipe.pattern_angle)
    s = v * math.cos(a) + u * math.sin(a)
    return (np.floor(s / half + phase) % 2).astype(bool)


def _retexture(rgb, parts, recipe, lum, out_rgb, person_h) -> None:
    period = max(4.0, recipe.pattern_scale * person_h)
    for g, colour in recipe.colours.items():
        # An outer coat is part of the upper outfit; leaving it untouched would hide the pattern.
        labels = (UPPER, COAT) if g == "upper" else (GARMENT_LABELS[g],)
        m = np.isin(parts, labels)
        if not m.any():
            continue
        ref = float(lum[m].mean())
        # Anchor per frame at the garment's centre column and top row so the print rides with the body.
        counts = m.sum(axis=(1, 2))
        xs = np.arange(m.shape[2], dtype=np.float32)
        cx = (m.sum(axis=1) * xs).sum(axis=1) / np.maximum(counts, 1)
        top, _, _ = _first_last_rows(m)
        ti, yi, xi = np.nonzero(m)
        u = xi.astype(np.float32) - cx[ti]
        v = (yi - top[ti]).astype(np.float32)
        pat = _pattern_mask(u, v, recipe, period)
        base = np.asarray(colour, np.float32)
        acc = np.asarray(recipe.accents.get(g, colour), np.float32)
        col = np.where(pat[:, None], acc, base)
        out_rgb[ti, yi, xi] = np.clip(col * _shade(lum[m], ref)[:, None], 0, 255).astype(np.uint8)


def _detail(lum: np.ndarray, parts: np.ndarray, person_h: float) -> np.ndarray:
    """High-pass luminance on clothed/skin body pixels: folds to carry over onto new fabric."""
    # Normalise each part by its own mean first: otherwise the step between a light shirt and dark
    # trousers (or body and background) would print a ghost outline of the old clothes.
    labels = (UPPER, LOWER, COAT, ARMS, LEGS)
    norm = np.ones(lum.shape, np.float32)
    for lab in labels:
        m = parts == lab
        if m.any():
            norm[m] = _shade(lum[m], float(lum[m].mean()))
    k = int(max(3, round(person_h * 0.04))) | 1
    blur = np.stack([cv2.GaussianBlur(f, (k, k), 0) for f in norm])
    d = norm - blur
    d[~np.isin(parts, labels)] = 0.0
    return d


def _widened(parts, body, top, hem, hip, person_h, loose, flare, taper_rows):
    """(T, H, W) mask: ``body`` filled row-wise between its extremes on rows top..hem, widened
    by ``loose`` pixels each side (tapered over the first rows) plus ``flare`` growing from hip to hem."""
    t, h, w = parts.shape
    left, right, has = _row_extents(body)
    r = max(1, int(round(person_h * 0.015)))
    left = _run_extreme(np.where(has, left, np.float32(w)), r, np.min)
    right = _run_extreme(np.where(has, right, np.float32(-1)), r, np.max)
    ys = np.arange(h, dtype=np.float32)[None, :]
    # Cloth hangs from the hips: below them the outline never narrows (legs inside move freely).
    below = ys >= hip[:, None]
    left = np.where(below, np.minimum.accumulate(np.where(below, left, np.float32(w)), axis=1), left)
    right = np.where(below, np.maximum.accumulate(np.where(below, right, np.float32(-1)), axis=1), right)
    rows = (ys >= top[:, None]) & (ys <= hem[:, None]) & (right >= left)
    taper = np.clip((ys - top[:, None]) / max(taper_rows, 1.0), 0.35, 1.0)
    grow = np.clip((ys - hip[:, None]) / np.maximum(hem - hip, 1.0)[:, None], 0.0, 1.0)
    extra = loose * taper + flare * grow
    lo = left - extra
    hi = right + extra
    xs = np.arange(w, dtype=np.float32)[None, None, :]
    mask = rows[:, :, None] & (xs >= lo[:, :, None]) & (xs <= hi[:, :, None])
    return mask, lo, hi


def _cylinder(mask: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Per-pixel shading of a cloth tube: brightest at the row centre, darker to the sides."""
    ti, yi, xi = np.nonzero(mask)
    mid = (lo[ti, yi] + hi[ti, yi]) / 2
    half = np.maximum((hi[ti, yi] - lo[ti, yi]) / 2, 1.0)
    return 1.05 - 0.28 * ((xi - mid) / half) ** 2


def _edge_darken(mask: np.ndarray) -> np.ndarray:
    kern = np.ones((3, 3), np.uint8)
    inner = np.stack([cv2.erode(f, kern) for f in mask.view(np.uint8)]).astype(bool)
    return mask & ~inner


def _coat(rgb, parts, recipe, lum, out_rgb, out_parts, person_h, keypoints) -> None:
    top, hip, knee, present = _body_rows(parts, keypoints)
    hem = hip + recipe.length * (knee - hip)
    top = np.where(present, top, np.inf)
    body = np.isin(parts, (UPPER, LOWER, COAT, LEGS))
    region, lo, hi = _widened(parts, body, top, hem, hip, person_h, recipe.looseness * person_h,
                              recipe.flare * person_h, taper_rows=0.05 * person_h)
    region &= ~np.isin(parts, (HEAD, BAG))   # the head stays visible; a bag is carried over the coat

    # Sleeves: arm pixels from the shoulder down, except the hands.
    arms = parts == ARMS
    sleeves = np.zeros_like(arms)
    if arms.any():
        hand = 0.06 * person_h
        _, arm_last, has_arm = _first_last_rows(arms)
        cut = np.where(has_arm, arm_last - hand, -1.0)
        if keypoints is not None:
            kp = np.asarray(keypoints, np.float32)
            if kp.ndim == 3 and kp.shape[0] == parts.shape[0] and kp.shape[1] >= 11:
                wy = np.where(kp[:, [9, 10], 2] >= 0.3, kp[:, [9, 10], 1], np.nan)
                with _quiet():
                    kcut = np.nanmin(wy, axis=1) - 0.5 * hand
                cut = np.where(np.isfinite(kcut), kcut, cut)
        ys = np.arange(parts.shape[1], dtype=np.float32)[None, :, None]
        sleeves = arms & (ys >= top[:, None, None]) & (ys <= cut[:, None, None])
        # Coat sleeves are roomier than bare arms, as the body is; widening only along rows keeps
        # the hands (rows below the cut) untouched.
        r = int(round(0.6 * recipe.looseness * person_h))
        if r > 0 and sleeves.any():
            t, h, w = sleeves.shape
            flat = sleeves.reshape(t * h, w).view(np.uint8)
            sleeves = cv2.dilate(flat, np.ones((1, 2 * r + 1), np.uint8)).reshape(t, h, w).astype(bool)
            sleeves &= ~np.isin(parts, (HEAD, BAG))
        sleeves &= ~region
    region &= ~arms
    if not (region.any() or sleeves.any()):
        return

    detail = _detail(lum, parts, person_h)
    shade = np.ones(region.shape, np.float32)
    shade[region] = _cylinder(region, lo, hi)
    shade[sleeves] = 0.9
    full = region | sleeves
    shade *= 1.0 + 0.8 * detail
    shade[_edge_darken(full)] *= 0.82
    _paint(out_rgb, full, recipe.colours.get("coat", (60, 60, 60)), np.clip(shade[full], 0.4, 1.5))
    out_parts[full] = COAT


def _skirt(rgb, parts, recipe, lum, out_rgb, out_parts, person_h, keypoints) -> None:
    _, hip, knee, present = _body_rows(parts, keypoints)
    lower = parts == LOWER
    if not lower.any():
        return
    lo_first, _, has_lo = _first_last_rows(lower)
    hip = np.where(has_lo, lo_first, hip).astype(np.float32)   # the skirt starts at the waistband
    hem = hip + recipe.length * (knee - hip)
    start = np.where(present & has_lo, hip, np.inf)
    legs = np.isin(parts, (LOWER, LEGS))
    region, lo, hi = _widened(parts, legs, start, hem, hip, person_h, recipe.looseness * person_h,
                              recipe.flare * person_h, taper_rows=1.0)
    region &= ~np.isin(parts, (HEAD, ARMS, BAG, SHOES, UPPER, COAT))
    ref = _garment_refs(lum, parts, (LOWER,))
    detail = _detail(lum, parts, person_h)

    # Below the hem the trousers become bare legs.
    ys = np.arange(parts.shape[1], dtype=np.float32)[None, :, None]
    bare = lower & (ys > hem[:, None, None]) & ~region
    if bare.any():
        _paint(out_rgb, bare, _skin_colour(rgb, parts), _shade(lum[bare], ref))
        out_parts[bare] = LEGS
    if region.any():
        shade = _cylinder(region, lo, hi) * (1.0 + 0.8 * detail[region])
        edge = _edge_darken(region)[region]
        shade = np.where(edge, shade * 0.82, shade)
        _paint(out_rgb, region, recipe.colours.get("lower", (40, 40, 60)), np.clip(shade, 0.4, 1.5))
        out_parts[region] = LOWER


def apply_recipe(rgb: np.ndarray, parts: np.ndarray, recipe: Recipe,
                 keypoints: np.ndarray | None = None) -> VariantFrames:
    """Apply one recipe to a whole sequence (or a single frame): the same change on every frame."""
    rgb = np.asarray(rgb)
    parts = np.asarray(parts)
    single = rgb.ndim == 3 and parts.ndim == 2
    if single:
        rgb, parts = rgb[None], parts[None]
        keypoints = None if keypoints is None else np.asarray(keypoints)[None]
    if rgb.ndim != 4 or rgb.shape[-1] != 3 or parts.shape != rgb.shape[:3]:
        raise ValueError(f"expected rgb (T,H,W,3) and parts (T,H,W); got {rgb.shape} and {parts.shape}")
    rgb = rgb.astype(np.uint8, copy=False)
    parts = parts.astype(np.uint8, copy=False)
    out_rgb = rgb.copy()
    out_parts = parts.copy()
    person_h = person_height(parts)
    if person_h > 0:
        lum = _luma(rgb)
        if recipe.kind == "recolour":
            _recolour(rgb, parts, recipe, lum, out_rgb)
        elif recipe.kind == "retexture":
            _retexture(rgb, parts, recipe, lum, out_rgb, person_h)
        elif recipe.kind == "coat":
            _coat(rgb, parts, recipe, lum, out_rgb, out_parts, person_h, keypoints)
        elif recipe.kind == "skirt":
            _skirt(rgb, parts, recipe, lum, out_rgb, out_parts, person_h, keypoints)
        else:
            raise ConfigError(f"unknown augmentation kind {recipe.kind!r}; choose from {', '.join(KINDS)}")
    elif recipe.kind not in KINDS:
        raise ConfigError(f"unknown augmentation kind {recipe.kind!r}; choose from {', '.join(KINDS)}")
    sils = np.where(out_parts > 0, np.uint8(255), np.uint8(0))
    if single:
        return VariantFrames(out_rgb[0], out_parts[0], sils[0])
    return VariantFrames(out_rgb, out_parts, sils)
