"""Split a frame (or a strip) that holds several people into one box and crop per person.

Parsing and generation assume one person per image. A frame with several people is split on its
mask (a parsing mask or a silhouette, background 0): connected foreground regions are found,
specks dropped, fragments of one person (a head cut off by a scarf, a hand apart from the arm)
merged when their boxes lie within a few pixels of each other, and whatever is still too small
to be a person dropped. People who touch or overlap in the mask stay one region: no mask-only
method can separate them, and the preview shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[int, int, int, int]   # x0, y0, x1, y1; x1, y1 exclusive


@dataclass
class PersonBox:
    index: int                  # left to right
    box: Box
    area: int                   # foreground pixels
    fragments: int              # connected regions merged into this person

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


@dataclass
class PersonCrop:
    person: PersonBox
    crop_box: Box               # the box actually cut (person box plus padding, inside the frame)
    mask: np.ndarray            # the mask inside crop_box, other people's pixels set to 0
    image: np.ndarray | None    # the frame inside crop_box (None when only a mask was given)


def _pixels(value: float, total: float) -> float:
    """``value`` below 1 is a fraction of ``total``; 1 or more is already in pixels."""
    return value * total if 0 < value < 1 else value


def _gap(a: Box, b: Box) -> int:
    dx = max(0, max(a[0], b[0]) - min(a[2], b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[3], b[3]))
    return max(dx, dy)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _components(mask: np.ndarray, min_fragment: float) -> tuple[np.ndarray, list[tuple[int, Box, int]]]:
    fg = (np.asarray(mask) > 0).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    keep = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_fragment:
            keep.append((i, (x, y, x + w, y + h), area))
    return lab, keep


def _group(comps: list[tuple[int, Box, int]], merge_gap: float) -> list[tuple[list[int], Box, int]]:
    groups = [([i], box, area) for i, box, area in comps]
    merged = True
    # Merging two groups grows their box, which can bring a third within reach: repeat until stable.
    while merged:
        merged = False
        for a in range(len(groups)):
            for b in range(a + 1, len(groups)):
                if _gap(groups[a][1], groups[b][1]) <= merge_gap:
                    ia, ba, aa = groups[a]
                    ib, bb, ab = groups.pop(b)
                    groups[a] = (ia + ib, _union(ba, bb), aa + ab)
                    merged = True
                    break
            if merged:
                break
    return groups


def find_persons(mask: np.ndarray, *, min_area: float = 0.01, merge_gap: float = 0.03,
                 min_fragment: float = 0.0005) -> list[PersonBox]:
    """People in a mask, left to right.

    ``min_area``: a person has at least this many foreground pixels (below 1: fraction of the
    frame); ``merge_gap``: regions whose boxes are at most this far apart are one person (below 1:
    fraction of the frame height); ``min_fragment``: smaller specks are ignored before merging
    (below 1: fraction of the frame).
    """
    persons, _ = _find(mask, min_area=min_area, merge_gap=merge_gap, min_fragment=min_fragment)
    return persons


def _find(mask: np.ndarray, *, min_area: float, merge_gap: float, min_fragment: float):
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    h, w = mask.shape
    lab, comps = _components(mask, _pixels(min_fragment, h * w))
    groups = _group(comps, _pixels(merge_gap, h))
    min_px = _pixels(min_area, h * w)
    groups = sorted((g for g in groups if g[2] >= min_px), key=lambda g: (g[1][0], g[1][1]))
    persons = [PersonBox(i, box, area, len(ids)) for i, (ids, box, area) in enumerate(groups)]
    return persons, (lab, [ids for ids, _, _ in groups])


def split_persons(mask: np.ndarray, image: np.ndarray | None = None, *, pad: float = 0.05,
                  min_area: float = 0.01, merge_gap: float = 0.03, min_fragment: float = 0.0005) -> list[PersonCrop]:
    """One crop per person: the padded box (``pad`` below 1: fraction of the person's height), the
    mask with only that person's pixels, and the frame when given (same height and width as the mask)."""
    mask = np.asarray(mask)
    if image is not None and np.asarray(image).shape[:2] != mask.shape[:2]:
        raise ValueError(f"image {np.asarray(image).shape[:2]} and mask {mask.shape[:2]} differ in size")
    persons, (lab, id_groups) = _find(mask, min_area=min_area, merge_gap=merge_gap, min_fragment=min_fragment)
    h, w = mask.shape[:2]
    out = []
    for p, ids in zip(persons, id_groups):
        m = int(round(_pixels(pad, p.height)))
        x0, y0 = max(0, p.box[0] - m), max(0, p.box[1] - m)
        x1, y1 = min(w, p.box[2] + m), min(h, p.box[3] + m)
        mine = np.isin(lab[y0:y1, x0:x1], ids)
        crop_mask = np.where(mine if mask.ndim == 2 else mine[..., None], mask[y0:y1, x0:x1], 0).astype(mask.dtype)
        crop_img = None if image is None else np.ascontiguousarray(np.asarray(image)[y0:y1, x0:x1])
        out.append(PersonCrop(p, (x0, y0, x1, y1), crop_mask, crop_img))
    return out
