"""Strip geometry and pixels: how many variants a strip holds, which region of it each tile is,
cutting and composing strips, and reading one tile of a source image.

A strip is K variants of one frame side by side, equal widths (the published augmented CCVID);
DLCR's generated tree is the K = 1 case, one tile the whole image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import InputError


# DLCR inpaints at 256 x 768; a tile of that shape is a third as wide as it is high.
DLCR_TILE_ASPECT = 256 / 768
# How far the width/height ratio may stray from a whole number of tiles before we refuse to guess.
K_TOLERANCE = 0.2


def detect_k(width: int, height: int, *, k: int | None = None, tile_aspect: float | None = None,
             path: str | Path | None = None) -> int:
    """How many variants a strip of ``width`` x ``height`` holds.

    With ``k`` given, only check that the width splits into ``k`` equal tiles. Otherwise estimate
    it as width / (height * tile_aspect) — tile_aspect is one tile's width / height, DLCR's
    256 x 768 when not given — and take the whole number nearest the estimate among those that
    divide the width and lie within 20 % of it. A clear estimate (within a quarter tile of a
    whole number) that does not divide the width is an error naming the file; so is an
    estimate that no whole number explains.
    """
    if width <= 0 or height <= 0:
        raise InputError(path, f"image has no pixels ({width} x {height})")
    if k is None:
        aspect = tile_aspect or DLCR_TILE_ASPECT
        est = width / (height * aspect)
        near = max(1, round(est))
        fits = sorted((abs(math.log(est / c)), c) for c in range(max(1, math.floor(est / (1 + K_TOLERANCE))),
                                                                  math.ceil(est / (1 - K_TOLERANCE)) + 1)
                      if width % c == 0 and abs(est - c) <= K_TOLERANCE * c)
        if fits and (len(fits) == 1 or fits[1][0] - fits[0][0] > 0.02):
            k = fits[0][1]
        elif abs(est - near) <= 0.25 and not fits:
            k = near      # clear estimate: fall through to the divisibility error below
        else:
            raise InputError(path, f"cannot tell how many variants a {width} x {height} image holds: tiles of "
                                   f"aspect {aspect:.3f} would give {est:.2f}; give K explicitly")
    if k < 1:
        raise InputError(path, f"K must be at least 1, got {k}")
    if width % k:
        raise InputError(path, f"width {width} is not divisible by K={k} (tiles would be {width / k:.2f} px wide); "
                               "is K right, or was the strip resized?")
    return k


def tile_boxes(width: int, height: int, k: int, keep: int | None = None) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the leftmost ``keep`` of ``k`` equal tiles (all when keep is None)."""
    tw = width // k
    n = k if keep is None else min(keep, k)
    return [(i * tw, 0, (i + 1) * tw, height) for i in range(n)]


def cut_strip(image: np.ndarray, k: int, keep: int | None = None, path: str | Path | None = None) -> list[np.ndarray]:
    """The leftmost ``keep`` tiles of a strip holding ``k`` side by side, left to right."""
    h, w = image.shape[:2]
    detect_k(w, h, k=k, path=path)
    return [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in tile_boxes(w, h, k, keep)]


def compose_strip(tiles: list[np.ndarray]) -> np.ndarray:
    """Tiles of one size side by side: the inverse of ``cut_strip``."""
    if not tiles:
        raise ValueError("compose_strip needs at least one tile")
    shapes = {t.shape for t in tiles}
    if len(shapes) != 1:
        raise ValueError(f"tiles differ in size: {sorted(shapes)}")
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


@dataclass
class TileRef:
    """One frame of one variant: a region of a source image."""

    path: str
    frame: str                           # the frame's name without suffix ("00001")
    box: tuple[int, int, int, int]       # x0, y0, x1, y1 in the source image


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from exc


def read_rgb(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from exc


def load_tile(ref: TileRef, image: np.ndarray | None = None) -> np.ndarray:
    a = read_rgb(ref.path) if image is None else image
    x0, y0, x1, y1 = ref.box
    if y1 > a.shape[0] or x1 > a.shape[1]:
        raise InputError(ref.path, f"image is {a.shape[1]} x {a.shape[0]}, smaller than when it was planned")
    return np.ascontiguousarray(a[y0:y1, x0:x1])


def put_file(path: Path, data: bytes) -> None:
    """Plain write for files inside a folder that is renamed into place whole: the rename makes the
    folder appear at once, and an fsync per tile cost about a third of the import time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
