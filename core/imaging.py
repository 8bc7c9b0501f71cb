"""Images for people to look at: RGB coercion, labelled strips, overlays, thumbnails, GIFs.

The one builder of comparison strips, frame strips, box and part overlays and thumbnails, used by
the augmentation chain, the DLCR stages and importers, and the app alike. Everything is RGB uint8
in memory; files are written atomically (temporary sibling, then rename) so the UI never shows
a half-written image while a job is still running.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image

from core.atomic import write_bytes
from core.indices import spread_indices

SEPARATOR = (128, 128, 128)

# Fixed per label so the same part always looks the same across previews (index = core.parts id).
PART_COLOURS = np.array([
    (0, 0, 0),         # background (not drawn)
    (255, 200, 60),    # head
    (230, 60, 60),     # upper clothes
    (60, 90, 230),     # lower clothes
    (250, 150, 200),   # arms
    (70, 200, 200),    # legs
    (140, 90, 40),     # shoes
    (60, 200, 70),     # bag
    (170, 80, 220),    # coat
], np.uint8)
BOX_COLOURS = [(230, 60, 60), (60, 90, 230), (40, 200, 60), (250, 170, 40), (170, 80, 220), (60, 200, 200)]


# ------------------------------------------------------------------------------------ pixels

def as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 from gray, boolean (True = 255), one-channel, RGB or RGBA; values outside
    0..255 are clipped. An RGB uint8 input is returned as it is (copy before drawing on it)."""
    a = np.asarray(image)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 4:
        return np.ascontiguousarray(a[:, :, :3])
    if a.ndim == 3 and a.shape[2] == 3:
        return a
    raise ValueError(f"not an image: shape {a.shape}")


def upscale_nearest(image: np.ndarray, min_side: int) -> np.ndarray:
    """Repeat pixels (nearest neighbour) until the shorter side is at least ``min_side``, so a
    64 x 64 silhouette stays crisp on screen."""
    if min_side and min(image.shape[:2]) < min_side:
        k = int(np.ceil(min_side / min(image.shape[:2])))
        return np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    return image


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """(N, 3) RGB 0..255 -> (N, 3) CIE Lab, where distances roughly match how different colours look."""
    return cv2.cvtColor(np.asarray(rgb).reshape(1, -1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[0]


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    if (a.shape[1], a.shape[0]) == (w, h):
        return a
    shrinking = w < a.shape[1] or h < a.shape[0]
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


def _fit(a: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so the longer side is at most ``max_side``."""
    h, w = a.shape[:2]
    s = max_side / max(h, w)
    if s >= 1:
        return a
    return _resize(a, (max(1, round(w * s)), max(1, round(h * s))))


def _label(img: np.ndarray, text: str) -> None:
    h = img.shape[0]
    scale = max(0.3, min(0.8, h / 400))
    thick = 1
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    pad = 3
    # A dark box behind the text keeps it readable on light and dark frames alike.
    x2, y2 = min(img.shape[1], tw + 2 * pad), min(h, th + base + 2 * pad)
    img[:y2, :x2] = (img[:y2, :x2].astype(np.uint16) * 2 // 5).astype(np.uint8)
    cv2.putText(img, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thick, cv2.LINE_AA)


# ------------------------------------------------------------------------------------ strips

def side_by_side(images: Sequence[np.ndarray], labels: Sequence[str] | None = None, height: int = 160,
                 separator: int = 4) -> np.ndarray:
    """One RGB strip: every image scaled to ``height``, optional labels, gray separators."""
    if not len(images):
        raise ValueError("side_by_side needs at least one image")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    height = max(1, int(height))
    tiles = []
    for i, im in enumerate(images):
        a = as_rgb(im)
        w = max(1, round(a.shape[1] * height / a.shape[0]))
        a = _resize(a, (w, height)).copy()
        if labels is not None and labels[i]:
            _label(a, str(labels[i]))
        tiles.append(a)
    if separator > 0 and len(tiles) > 1:
        sep = np.empty((height, separator, 3), np.uint8)
        sep[:] = SEPARATOR
        tiles = [x for t in tiles for x in (t, sep)][:-1]
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


def stack_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """RGB strips one under another, the narrower ones padded with black on the right."""
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)


def silhouette_strip(sils: np.ndarray, n: int = 8, height: int | None = None, labels: bool = True) -> np.ndarray:
    """``n`` evenly spaced frames of a (T,H,W) sequence side by side, labelled with frame numbers."""
    sils = np.asarray(sils)
    if sils.ndim < 3 or len(sils) == 0:
        raise ValueError(f"expected a (T,H,W) sequence; got shape {sils.shape}")
    idx = spread_indices(len(sils), max(1, int(n)))
    return side_by_side([sils[i] for i in idx], [str(i) for i in idx] if labels else None,
                        height=height or sils.shape[1])


# ------------------------------------------------------------------------------------ overlays

def mask_overlay(rgb: np.ndarray, parts: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Colour-coded part labels blended over the image; background pixels are left as they are."""
    img = as_rgb(rgb)
    parts = np.asarray(parts)
    if parts.shape != img.shape[:2]:
        raise ValueError(f"parts {parts.shape} do not match image {img.shape[:2]}")
    idx = np.minimum(parts, len(PART_COLOURS) - 1)
    colours = PART_COLOURS[idx].astype(np.float32)
    fg = parts > 0
    out = img.copy()
    out[fg] = np.clip((1 - alpha) * img[fg].astype(np.float32) + alpha * colours[fg], 0, 255).astype(np.uint8)
    return out


def draw_boxes(image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], labels: Sequence[str] | None = None,
               colours: Sequence[tuple[int, int, int]] | None = None, thickness: int = 2) -> np.ndarray:
    """A copy of ``image`` (RGB or gray) with each (x0, y0, x1, y1) box outlined and labelled."""
    out = as_rgb(image).copy()
    h = out.shape[0]
    scale = max(0.35, min(0.8, h / 500))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        c = tuple(int(v) for v in (colours[i % len(colours)] if colours else BOX_COLOURS[i % len(BOX_COLOURS)]))
        cv2.rectangle(out, (int(x0), int(y0)), (int(x1) - 1, int(y1) - 1), c, thickness)
        if labels is not None and labels[i]:
            (tw, th), base = cv2.getTextSize(labels[i], cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
            ty = max(int(y0), th + base + 2)
            cv2.rectangle(out, (int(x0), ty - th - base - 2), (int(x0) + tw + 4, ty), c, -1)
            cv2.putText(out, labels[i], (int(x0) + 2, ty - base), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
    return out


# ------------------------------------------------------------------------------------ files

def encode_png(image: np.ndarray) -> bytes:
    """Lossless PNG of an RGB or gray uint8 image, fast compression (frames are written by the thousand)."""
    a = np.asarray(image)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(a, cv2.COLOR_RGB2BGR) if a.ndim == 3 else a,
                           [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def _encode(image: Image.Image, suffix: str, **extra) -> bytes:
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF"}.get(suffix.lower())
    if fmt is None:
        raise ValueError(f"unsupported image type {suffix!r}; use .jpg, .png, .webp or .gif")
    opts = {"JPEG": {"quality": 85}, "PNG": {"optimize": True}, "WEBP": {"quality": 80}, "GIF": {}}[fmt]
    buf = io.BytesIO()
    image.save(buf, format=fmt, **opts, **extra)
    return buf.getvalue()


def write_thumbnail(path: str | Path, image: np.ndarray, max_side: int = 256) -> Path:
    """Save ``image`` (RGB or gray) no larger than ``max_side``; the type follows the suffix."""
    path = Path(path)
    a = np.asarray(image)
    a = _fit(a if (a.ndim == 2 and a.dtype == np.uint8) else as_rgb(a), max_side)
    img = Image.fromarray(a, "L" if a.ndim == 2 else "RGB")
    return write_bytes(path, _encode(img, path.suffix))


def write_animation(path: str | Path, frames: np.ndarray, fps: float = 12, max_side: int = 160) -> Path:
    """Looping animated GIF (or WebP by suffix) of a (T,H,W[,3]) uint8 sequence, kept small.

    GIF frames share one palette computed from the whole clip so colours do not shimmer. Pillow
    folds consecutive *identical* frames into one longer frame, so a clip with repeated frames
    reads back with fewer frames but the same duration.
    """
    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or len(frames) == 0:
        raise ValueError(f"expected frames (T,H,W[,3]); got shape {frames.shape}")
    small = [_fit(as_rgb(f), max_side) for f in frames]
    duration = max(20, int(round(1000 / max(fps, 0.1))))
    suffix = path.suffix.lower()
    if suffix == ".webp":
        ims = [Image.fromarray(f, "RGB") for f in small]
        data = _encode(ims[0], suffix, save_all=True, append_images=ims[1:], duration=duration, loop=0)
    elif suffix == ".gif":
        # Palette from a few frames stacked together: representative yet cheap.
        pick = small[:: max(1, len(small) // 8)]
        ref = Image.fromarray(np.concatenate(pick, axis=0), "RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
        ims = [Image.fromarray(f, "RGB").quantize(palette=ref, dither=Image.Dither.NONE) for f in small]
        data = _encode(ims[0], suffix, save_all=True, append_images=ims[1:], duration=duration, loop=0,
                       disposal=1)
    else:
        raise ValueError(f"unsupported animation type {path.suffix!r}; use .gif or .webp")
    return write_bytes(path, data)
