"""Self-Correction Human Parsing (SCHP) masks on LIP's 20 labels, and their mapping onto our parts.

SCHP saves each parsing as a palette ('P' mode) PNG whose pixel values are the label ids; the
palette only colours them for viewing. We read the ids (palette PNGs, or plain single-channel
label PNGs other tools write), refuse colour images (a colour rendering cannot be turned back
into labels safely), and export LIP palette PNGs the way SCHP writes them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import cv2
import numpy as np
from PIL import Image

from core import parts as P
from core.atomic import write_bytes
from core.dlcr_io import Problem, export_into, input_files, new_export_folder, png_inside
from core.errors import InputError

LIP_LABELS = (
    "background", "hat", "hair", "glove", "sunglasses", "upper_clothes", "dress", "coat", "socks", "pants",
    "jumpsuits", "scarf", "skirt", "face", "left_arm", "right_arm", "left_leg", "right_leg", "left_shoe",
    "right_shoe",
)
NUM_LIP = len(LIP_LABELS)
LIP = {name: i for i, name in enumerate(LIP_LABELS)}

# DLCR's clothes mask: glove .. skirt (3-12) and both shoes (18, 19); docs/contracts.md, "DLCR stages".
DLCR_CLOTHES = tuple(range(3, 13)) + (18, 19)

# LIP -> our classes. One-piece garments (dress, jumpsuit) go to UPPER: they hang from the
# shoulders and are recoloured as one garment. Socks sit on the visible leg; a scarf is worn
# over the upper clothes. LIP has no bag class, so BAG never comes out of a LIP mask.
LIP_TO_PARTS: dict[int, int] = {
    0: P.BACKGROUND, 1: P.HEAD, 2: P.HEAD, 3: P.ARMS, 4: P.HEAD, 5: P.UPPER, 6: P.UPPER, 7: P.COAT,
    8: P.LEGS, 9: P.LOWER, 10: P.UPPER, 11: P.UPPER, 12: P.LOWER, 13: P.HEAD, 14: P.ARMS, 15: P.ARMS,
    16: P.LEGS, 17: P.LEGS, 18: P.SHOES, 19: P.SHOES,
}
# Our classes -> one LIP label each, for exporting our own parsings. Left/right cannot be known
# from our labels, so limbs go to the left label; BAG has no LIP label and becomes background.
PARTS_TO_LIP: dict[int, int] = {
    P.BACKGROUND: 0, P.HEAD: LIP["face"], P.UPPER: LIP["upper_clothes"], P.LOWER: LIP["pants"],
    P.ARMS: LIP["left_arm"], P.LEGS: LIP["left_leg"], P.SHOES: LIP["left_shoe"], P.BAG: 0, P.COAT: LIP["coat"],
}

MASK_SUFFIXES = (".png",)


def lip_palette(num_classes: int = NUM_LIP) -> np.ndarray:
    """SCHP's colour for each label, (num_classes, 3) uint8.

    The rule (the PASCAL VOC colour map): spread the bits of the label id over the three colour
    channels, three bits per round, starting from each channel's most significant bit — bit 0 of
    a round goes to red, bit 1 to green, bit 2 to blue, and every round moves one bit lower.
    """
    pal = np.zeros((num_classes, 3), np.uint8)
    for label in range(num_classes):
        rest, shift = label, 7
        while rest:
            for ch in range(3):
                pal[label, ch] |= ((rest >> ch) & 1) << shift
            rest >>= 3
            shift -= 1
    return pal


@dataclass
class LipMask:
    path: str
    labels: np.ndarray              # (H, W) uint8 LIP label ids
    mode: str                       # PIL mode it was stored in ('P', 'L', 'I;16', ...)
    palette_matches: bool | None    # for 'P' files: is the palette LIP's? None for other modes
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.labels.shape[1]), int(self.labels.shape[0])

    def label_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels.ravel(), minlength=NUM_LIP)
        return {LIP_LABELS[i]: int(c) for i, c in enumerate(counts[:NUM_LIP]) if c}


def _label_array(img: Image.Image, path: Path) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        return np.asarray(img, dtype=np.uint8)
    if mode == "L":
        return np.asarray(img, dtype=np.uint8)
    if mode in ("I", "I;16", "I;16B", "I;16L"):
        a = np.asarray(img).astype(np.int64)
        return a
    if mode == "1":
        raise InputError(path, "a 1-bit (black/white) image is a silhouette, not a parsing; "
                               "LIP masks hold label ids 0-19")
    if mode == "LA":
        return np.asarray(img)[..., 0].copy()      # gray label ids with an alpha channel beside them
    if mode in ("RGB", "RGBA", "PA", "CMYK", "YCbCr", "HSV", "LAB"):
        a = np.asarray(img.convert("RGB"))
        if (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
            # Gray values saved as RGB: the labels are still exact.
            return a[..., 0].copy()
        raise InputError(path, f"{mode} colour image: a parsing mask must be a palette ('P') PNG as SCHP writes "
                               "it, or a single-channel PNG of label ids; colours cannot be mapped back to labels")
    raise InputError(path, f"unsupported image mode {mode!r} for a parsing mask")


def read_lip_mask(path: str | Path, num_classes: int = NUM_LIP) -> LipMask:
    """Read one mask; raise ``InputError`` naming the file when it cannot be a LIP parsing."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            labels = _label_array(img, path)
            pal = img.getpalette() if mode == "P" else None
    except InputError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from exc
    if labels.size and int(labels.min()) < 0:
        raise InputError(path, f"negative label {int(labels.min())}; LIP label ids are 0-{num_classes - 1}")
    top = int(labels.max()) if labels.size else 0
    if top >= num_classes:
        bad = int((labels >= num_classes).sum())
        raise InputError(path, f"label {top} is outside LIP's 0-{num_classes - 1} ({bad} pixels); "
                               "is this a mask of another label set or a grey rendering?")
    matches = None
    notes = []
    if pal is not None:
        want = lip_palette(num_classes).ravel().tolist()
        matches = pal[:len(want)] == want
        if not matches:
            notes.append("palette differs from SCHP's LIP palette; pixel values are read as label ids anyway")
    return LipMask(str(path), labels.astype(np.uint8), mode, matches, notes)


def read_lip_masks(paths: str | Path | Iterable[str | Path]) -> tuple[list[LipMask], list[Problem]]:
    """Every ``.png`` under a folder (or the given files); bad files become problems, not exceptions."""
    files = input_files(paths, MASK_SUFFIXES)
    masks, problems = [], []
    for f in files:
        try:
            m = read_lip_mask(f)
        except InputError as exc:
            problems.append(Problem(str(f), exc.reason))
            continue
        masks.append(m)
        problems.extend(Problem(str(f), n, "warning") for n in m.notes)
    return masks, problems


def _lut(mapping: Mapping[int, int], size: int) -> np.ndarray:
    lut = np.zeros(size, np.uint8)
    for k, v in mapping.items():
        if 0 <= k < size:
            lut[k] = v
    return lut


def lip_to_parts(labels: np.ndarray, mapping: Mapping[int, int] | None = None) -> np.ndarray:
    """LIP label ids -> our part ids (``core.parts``), pixel by pixel."""
    labels = np.asarray(labels)
    return _lut(LIP_TO_PARTS if mapping is None else mapping, 256)[labels.astype(np.uint8)]


def parts_to_lip(parts: np.ndarray, mapping: Mapping[int, int] | None = None) -> np.ndarray:
    """Our part ids -> one LIP label each (see ``PARTS_TO_LIP`` for what is lost)."""
    return _lut(PARTS_TO_LIP if mapping is None else mapping, 256)[np.asarray(parts).astype(np.uint8)]


def clothes_mask(labels: np.ndarray, clothes: Iterable[int] = DLCR_CLOTHES, dilate_px: int = 0) -> np.ndarray:
    """DLCR's inpainting region: pixels of the clothes labels, optionally grown by ``dilate_px``; bool (H, W)."""
    mask = np.isin(np.asarray(labels), np.fromiter(clothes, dtype=np.int64))
    if dilate_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        mask = cv2.dilate(mask.astype(np.uint8), k) > 0
    return mask


def silhouette_from_labels(labels: np.ndarray) -> np.ndarray:
    """Everything that is not background, uint8 0/255: the person's silhouette."""
    return (np.asarray(labels) > 0).astype(np.uint8) * 255


def encode_lip_png(labels: np.ndarray, num_classes: int = NUM_LIP) -> bytes:
    """A palette PNG as SCHP writes it: label ids as pixel values, LIP's colours as the palette."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"expected (H, W) label ids, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"label ids must be 0..{num_classes - 1}; got {labels.min()}..{labels.max()}")
    a = np.ascontiguousarray(labels, dtype=np.uint8)
    img = Image.frombytes("P", (a.shape[1], a.shape[0]), a.tobytes())
    img.putpalette(lip_palette(num_classes).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def write_lip_png(path: str | Path, labels: np.ndarray) -> Path:
    return write_bytes(path, encode_lip_png(labels))


def export_lip_masks(masks: Mapping[str, np.ndarray] | Iterable[LipMask], out_dir: str | Path,
                     root: str | Path | None = None) -> list[str]:
    """Write LIP palette PNGs into the new folder ``out_dir``; returns the relative paths written.

    ``masks`` is ``relative path -> labels`` or ``LipMask`` objects (then paths are taken relative
    to ``root``, or just the file names). An existing ``out_dir`` is never touched.
    """
    out_dir = new_export_folder(out_dir)
    if isinstance(masks, Mapping):
        items = list(masks.items())
    else:
        items = []
        for m in masks:
            rel = Path(m.path).relative_to(root) if root is not None else Path(Path(m.path).name)
            items.append((str(rel), m.labels))
    written = []
    with export_into(out_dir) as tmp:
        for rel, labels in items:
            rel_path = png_inside(rel, "mask")
            write_lip_png(tmp / rel_path, labels)
            written.append(str(rel_path))
    return written
