"""Model-free stand-ins for the DLCR stages, labelled as such in every record they feed.

* parsing: the demo set's ground-truth part labels, or body geometry on a silhouette — a torso
  polygon between the shoulder and hip keypoints (upper clothes; mask pixels beside it in those
  rows are arms), hips to ankles (lower clothes), below the ankles (shoes), above the collar
  (head). Without confident keypoints the silhouette's bounding box is split by typical body
  proportions. Each frame says which rule labelled it.
* description: the dominant named colour of each parsed garment region (a small colour-name
  table in CIE Lab), written as garments an inpainting prompt or a recolour recipe can use.
* generation: :mod:`core.augment.modelfree` (recolour / retexture / coat / skirt), where the coat
  widens the torso down to the knees and so changes the silhouette, not only colours.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from core.augment.recipes import NAMED_COLOURS
from core.dlcr.parsing import dilate
from core.imaging import to_lab
from core.parts import ARMS, COAT, HEAD, LOWER, SHOES, UPPER

CLOTHES = (UPPER, LOWER, COAT)
CONF = 0.3

# Typical body proportions from the top of the head (fractions of standing height): the collar
# sits near 0.14, the waistband near 0.47 and the ankles near 0.95.
PROPORTIONS = {"collar": 0.14, "waist": 0.47, "ankle": 0.95}

# Garment wording of the colour description; the type is a guess, the colour is measured.
GARMENT_TYPES = {"upper": "top", "outer": "coat", "lower": "trousers"}
REGIONS = {"upper": (UPPER,), "outer": (COAT,), "lower": (LOWER,)}
RECIPE_GARMENT = {"upper": "upper", "outer": "coat", "lower": "lower"}

GROUNDTRUTH_LABEL = "synthetic ground-truth part labels (demo set only, no model)"
GEOMETRY_LABEL = "silhouette + pose geometry (model-free)"
COLOUR_LABEL = "dominant colour of each parsed garment region (model-free)"


@dataclass
class Parsing:
    """Part labels (core.parts ids) of a sequence and the mask inpainting may repaint."""

    parts: np.ndarray                 # (T, H, W) uint8
    clothes_mask: np.ndarray          # (T, H, W) bool, clothes dilated a few pixels
    method: str                       # 'groundtruth' | 'geometry' | 'model'
    detail: dict[str, Any] = field(default_factory=dict)


def from_parts(parts: np.ndarray, method: str, dilate_px: int = 3, **detail: Any) -> Parsing:
    clothes = np.isin(parts, CLOTHES)
    return Parsing(parts=parts.astype(np.uint8, copy=False), clothes_mask=dilate(clothes, dilate_px),
                   method=method, detail={"dilate_px": dilate_px, **detail})


# --------------------------------------------------------------------------------------- geometry

def _rows_from_pose(kp: np.ndarray | None, top: int, height: int) -> dict[str, float] | None:
    """Collar, hip and ankle rows (and torso corners) from confident COCO-17 keypoints, else None."""
    if kp is None:
        return None
    ok = kp[:, 2] >= CONF
    if not (ok[[5, 6]].any() and ok[[11, 12]].any()):
        return None
    sh = kp[[5, 6]][ok[[5, 6]]]
    hp = kp[[11, 12]][ok[[11, 12]]]
    shoulder_y, hip_y = float(sh[:, 1].min()), float(hp[:, 1].mean())
    if not top < hip_y - 0.1 * height or hip_y <= shoulder_y + 0.1 * height:
        return None   # keypoints that contradict the silhouette are not trusted
    ankles = kp[[15, 16]][ok[[15, 16]]]
    ankle_y = float(ankles[:, 1].max()) if len(ankles) else top + PROPORTIONS["ankle"] * height
    return {"collar": shoulder_y - 0.03 * height, "hip": hip_y, "ankle": max(ankle_y, hip_y + 1),
            "sh_x": (float(sh[:, 0].min()), float(sh[:, 0].max())),
            "hip_x": (float(hp[:, 0].min()), float(hp[:, 0].max()))}


def parse_geometry(masks: np.ndarray, keypoints: np.ndarray | None = None, dilate_px: int = 3) -> Parsing:
    """Part labels from silhouettes (T, H, W) and optional keypoints (T, 17, 3); see the module doc."""
    person = np.asarray(masks) > 0
    t, h, w = person.shape
    kps = None if keypoints is None else np.asarray(keypoints, np.float32)
    parts = np.zeros((t, h, w), np.uint8)
    rows = np.arange(h, dtype=np.float32)[:, None]
    by_pose = by_box = empty = 0
    for i in range(t):
        m = person[i]
        ys = np.flatnonzero(m.any(axis=1))
        if ys.size == 0:
            empty += 1
            continue
        top, height = int(ys[0]), int(ys[-1] - ys[0] + 1)
        geo = _rows_from_pose(kps[i] if kps is not None and i < len(kps) else None, top, height)
        p = parts[i]
        if geo is not None:
            by_pose += 1
            collar, hip, ankle = geo["collar"], geo["hip"], geo["ankle"]
            # The torso between the shoulders and hips, widened to a body's half-width (a side view
            # puts both shoulders on one column); mask pixels beside it in those rows are arms.
            pad = 0.09 * height
            quad = np.array([[geo["sh_x"][0] - pad, collar], [geo["sh_x"][1] + pad, collar],
                             [geo["hip_x"][1] + pad, hip], [geo["hip_x"][0] - pad, hip]], np.float32)
            torso = np.zeros((h, w), np.uint8)
            cv2.fillConvexPoly(torso, np.round(quad).astype(np.int32), 1)
            band = (rows >= collar) & (rows < hip)
            p[m & band & (torso > 0)] = UPPER
            p[m & band & (torso == 0)] = ARMS
        else:
            by_box += 1
            collar = top + PROPORTIONS["collar"] * height
            hip = top + PROPORTIONS["waist"] * height
            ankle = top + PROPORTIONS["ankle"] * height
            p[m & (rows >= collar) & (rows < hip)] = UPPER
        p[m & (rows < collar)] = HEAD
        p[m & (rows >= hip) & (rows < ankle)] = LOWER
        p[m & (rows >= ankle)] = SHOES
    rule = ("torso polygon from shoulder/hip keypoints" if by_pose and not by_box else
            "bounding-box proportions (no confident keypoints)" if by_box and not by_pose else
            "keypoints where confident, else bounding-box proportions")
    return from_parts(parts, "geometry", dilate_px, rule=rule, frames_by_pose=by_pose,
                      frames_by_proportions=by_box, empty_frames=empty)


# ------------------------------------------------------------------------------------ description

_NAMES = [n for n, _ in NAMED_COLOURS]
_TABLE_LAB = to_lab(np.asarray([c for _, c in NAMED_COLOURS], np.float32))


def dominant_colour(pixels: np.ndarray, max_pixels: int = 20000) -> tuple[str, tuple[int, int, int], float]:
    """(name, median RGB of the pixels with that name, their share): the most frequent named colour.

    Naming every pixel and voting (rather than naming the mean) keeps a striped shirt's main colour
    instead of inventing the blend of both.
    """
    px = np.asarray(pixels, np.uint8).reshape(-1, 3)
    if len(px) > max_pixels:   # an even subsample is enough for a vote
        px = px[np.linspace(0, len(px) - 1, max_pixels).astype(int)]
    d = ((to_lab(px)[:, None, :] - _TABLE_LAB[None]) ** 2).sum(-1)
    votes = np.bincount(d.argmin(1), minlength=len(_NAMES))
    best = int(votes.argmax())
    sel = px[d.argmin(1) == best]
    rgb = tuple(int(v) for v in np.median(sel, axis=0))
    return _NAMES[best], rgb, float(votes[best] / max(len(px), 1))


def garment(slot: str, colour: str) -> dict[str, Any]:
    # The dict form of core.dlcr.prompts.Garment; built here without importing core.dlcr (torch).
    return {"slot": slot, "type": GARMENT_TYPES[slot], "colour": colour, "pattern": None}


def phrase(g: dict[str, Any]) -> str:
    return " ".join(w for w in (g.get("colour"), g.get("pattern"), g.get("type")) if w)


@dataclass
class ColourDescription:
    garments: list[dict[str, Any]]             # Garment dicts, e.g. {'slot': 'upper', 'type': 'top', 'colour': 'red'}
    colours: dict[str, list[int]]              # recipe garment ('upper' | 'lower' | 'coat') -> measured RGB
    text: str                                  # one sentence naming them

    def to_dict(self) -> dict[str, Any]:
        return {"garments": list(self.garments), "colours": self.colours, "text": self.text}


def describe_colours(rgb: np.ndarray, parts: np.ndarray, min_pixels: int = 30) -> ColourDescription:
    """Dominant colour of the upper, outer and lower garment regions over the given frames."""
    rgb, parts = np.asarray(rgb), np.asarray(parts)
    if rgb.ndim == 3:
        rgb, parts = rgb[None], parts[None]
    kern = np.ones((3, 3), np.uint8)
    garments: list[dict[str, Any]] = []
    colours: dict[str, list[int]] = {}
    for slot, labels in REGIONS.items():
        m = np.isin(parts, labels).astype(np.uint8)
        # Edge pixels blend garment and background: vote with the inside of each region.
        inner = np.stack([cv2.erode(f, kern) for f in m]).astype(bool)
        region = inner if inner.sum() >= min_pixels else m.astype(bool)
        if region.sum() < min_pixels:
            continue
        name, colour, _ = dominant_colour(rgb[region])
        garments.append(garment(slot, name))
        colours[RECIPE_GARMENT[slot]] = list(colour)
    text = ("the person wears " + " and ".join(phrase(g) if g["slot"] == "lower" else f"a {phrase(g)}"
                                               for g in garments)) if garments else "no garment region found"
    return ColourDescription(garments, colours, text)


def colour_pool(colours_by_sid: dict[str, dict[str, list[int]]], source_sid: str) -> list[tuple[str, tuple]]:
    """(garment, RGB) pairs of every identity except ``source_sid``, for recipes.plan_variants."""
    return [(g, tuple(c)) for sid, cols in sorted(colours_by_sid.items()) if sid != source_sid
            for g, c in cols.items()]


def stage_provenance(role: str, method: str, label: str, **extra: Any) -> dict[str, Any]:
    """The provenance record of a model-free stage, shaped like core.hub.provenance's."""
    return {"role": role, "method": method, "model_free": True, "label": label, **extra}


__all__ = ["COLOUR_LABEL", "ColourDescription", "GEOMETRY_LABEL", "GROUNDTRUTH_LABEL", "Parsing",
           "colour_pool", "describe_colours", "dilate", "dominant_colour", "from_parts", "garment", "parse_geometry",
           "phrase", "stage_provenance"]


# ---------------------------------------------------------------------------------- re-silhouette

def source_background(rgb: np.ndarray, person: np.ndarray, max_frames: int = 40, grow_px: int = 3) -> np.ndarray:
    """The static background of a sequence whose person masks are known: per pixel, the median of
    the frames where no person covers it; pixels covered in every frame are filled from around.

    A short clip of a slow walker hides the same pixels in most frames, which defeats a temporal
    mode or median over all frames; excluding the known person removes that bias.
    """
    rgb, person = np.asarray(rgb), np.asarray(person) > 0
    idx = np.unique(np.linspace(0, len(rgb) - 1, min(max_frames, len(rgb))).astype(int))
    frames = rgb[idx].astype(np.float32)
    covered = dilate(person[idx], grow_px)
    data = np.where(covered[..., None], np.nan, frames)
    never = covered.all(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN pixels are filled below
        bg = np.nanmedian(data, axis=0)
    bg = np.nan_to_num(bg, nan=0.0).clip(0, 255).astype(np.uint8)
    if never.any():
        bg = cv2.inpaint(bg, never.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return bg


def changed_pixels(generated: np.ndarray, source: np.ndarray, tol: int = 6, grow_px: int = 0) -> np.ndarray:
    """(T, H, W) bool: where a generated frame differs from its source frame by more than ``tol``.

    Not grown by default: a pixel the generator left alone is the real frame, and its status is
    the real silhouette's; growing would hand background pixels at the edit's edge to bgsub."""
    diff = np.abs(generated.astype(np.int16) - source.astype(np.int16)).max(axis=-1) > tol
    return dilate(diff, grow_px)
