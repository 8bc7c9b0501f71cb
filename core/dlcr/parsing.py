"""Human parsing (DLCR stage 1): per-pixel body-part labels in our classes and a dilated clothes mask.

Any ``AutoModelForSemanticSegmentation`` whose output has per-class ``logits`` (Segformer and the
like) works. Its classes come from ``model.config.id2label``; a name -> our-part mapping turns them
into the ids of :mod:`core.parts`. The default mapping knows LIP's and ATR's names (the label sets
of SCHP and the common Segformer clothes parsers); names it does not know are reported, not guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np
import torch

from core.device import resolve_placement
from core.hub import load_pretrained, provenance
from core.errors import ConfigError, InputError, JobCancelled
from core.parts import ARMS, BACKGROUND, BAG, COAT, HEAD, LEGS, LOWER, NAMES, SHOES, UPPER

# core.parts has no one-piece class: a dress or jumpsuit starts at the shoulders, so it counts as
# the upper garment (what an inpainting prompt would call the outfit's top), and the whole of it is
# still in the clothes mask through DEFAULT_CLOTHES below.
DEFAULT_LABEL_MAP: dict[str, int] = {
    "background": BACKGROUND, "null": BACKGROUND,
    "hat": HEAD, "hair": HEAD, "sunglasses": HEAD, "face": HEAD, "head": HEAD,
    "upper-clothes": UPPER, "upper-clothing": UPPER, "shirt": UPPER, "top": UPPER, "scarf": UPPER,
    "dress": UPPER, "jumpsuits": UPPER, "jumpsuit": UPPER,
    "coat": COAT, "jacket": COAT, "outer": COAT,
    "pants": LOWER, "trousers": LOWER, "skirt": LOWER, "belt": LOWER, "lower-clothes": LOWER,
    "left-arm": ARMS, "right-arm": ARMS, "arm": ARMS, "arms": ARMS, "glove": ARMS,
    "left-leg": LEGS, "right-leg": LEGS, "leg": LEGS, "legs": LEGS, "socks": LEGS,
    "left-shoe": SHOES, "right-shoe": SHOES, "shoe": SHOES, "shoes": SHOES,
    "bag": BAG,
}
# The clothes mask is the union of these model classes (plus LIP's one-piece jumpsuit);
# docs/contracts.md, "DLCR stages".
DEFAULT_CLOTHES = ("upper-clothes", "coat", "dress", "skirt", "pants", "jumpsuits")


def normalise_label(name: str) -> str:
    """``Upper_clothes`` / ``upper clothes`` / ``UPPER-CLOTHES`` -> ``upper-clothes``."""
    return re.sub(r"[\s_]+", "-", str(name).strip().lower())


@dataclass
class ParsingConfig:
    label_map: dict[str, int] = field(default_factory=dict)   # model label name -> core.parts id; over the defaults
    clothes_labels: tuple[str, ...] = DEFAULT_CLOTHES           # model label names forming the clothes mask
    dilate_px: int = 3
    batch_size: int = 8


@dataclass
class ParsedFrames:
    parts: np.ndarray          # (T, H, W) uint8, core.parts ids
    clothes: np.ndarray        # (T, H, W) bool, the union of clothes classes before dilation
    clothes_mask: np.ndarray   # (T, H, W) bool, dilated by ``dilate_px``
    model_labels: np.ndarray   # (T, H, W) uint8/int16, the model's own class ids


@dataclass
class LabelTable:
    """How the model's classes map onto ours; ``unmapped`` names were sent to background."""
    to_part: np.ndarray            # (num_model_classes,) uint8
    clothes_ids: tuple[int, ...]   # model ids in the clothes mask
    unmapped: tuple[str, ...]


def build_label_table(id2label: dict, config: ParsingConfig) -> LabelTable:
    if not id2label:
        raise ConfigError("the parsing model's config has no id2label: cannot tell which class is which garment")
    mapping = dict(DEFAULT_LABEL_MAP)
    for name, part in config.label_map.items():
        if int(part) not in NAMES:
            raise ConfigError(f"label map sends {name!r} to {part}, which is not a part id ({sorted(NAMES)})")
        mapping[normalise_label(name)] = int(part)
    n = max(int(k) for k in id2label) + 1
    to_part = np.zeros(n, np.uint8)
    unmapped = []
    names = {int(k): normalise_label(v) for k, v in id2label.items()}
    for k, raw in id2label.items():
        name = normalise_label(raw)
        if name in mapping:
            to_part[int(k)] = mapping[name]
        else:
            unmapped.append(raw)
    wanted = {normalise_label(c) for c in config.clothes_labels}
    clothes = tuple(i for i, name in sorted(names.items()) if name in wanted)
    if not clothes:
        raise ConfigError(f"none of the clothes labels {sorted(wanted)} is a class of the parsing model "
                          f"(its classes: {', '.join(str(v) for v in id2label.values())}); set clothes_labels")
    return LabelTable(to_part, clothes, tuple(str(u) for u in unmapped))


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a (T, H, W) or (H, W) bool mask by ``px`` pixels with a round kernel."""
    if px <= 0:
        return mask.astype(bool, copy=True)
    kern = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    m = mask.astype(np.uint8)
    if m.ndim == 2:
        return cv2.dilate(m, kern).astype(bool)
    return np.stack([cv2.dilate(f, kern) for f in m]).astype(bool)


def as_frames(frames) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB from an array or a list of equally sized frames."""
    arr = np.asarray(frames)
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise InputError(None, f"expected RGB frames (T, H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise InputError(None, f"expected uint8 RGB frames, got {arr.dtype}")
    return arr


class HumanParser:
    """Load once, parse many sequences. ``provenance`` describes the model for every output record."""

    def __init__(self, source, *, device=None, dtype=None, config: ParsingConfig | None = None,
                 allow_download: bool = False):
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        self.config = config or ParsingConfig()
        self.device, self.dtype = resolve_placement(device, dtype)

        def load(folder):
            processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
            model = AutoModelForSemanticSegmentation.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
            return processor, model

        self.source, (self.processor, model) = load_pretrained("human-parsing model", load, source,
                                                               allow_download=allow_download)
        self.model = model.to(self.device).eval()
        self.table = build_label_table(self.model.config.id2label, self.config)
        self.provenance = provenance("parsing", self.source, self.model, device=self.device, dtype=self.dtype,
                                     extra={"clothes_labels": [self.model.config.id2label[i]
                                                               for i in self.table.clothes_ids],
                                            "unmapped_labels": list(self.table.unmapped),
                                            "dilate_px": self.config.dilate_px})

    @torch.inference_mode()
    def _labels(self, batch: np.ndarray) -> np.ndarray:
        inputs = self.processor(images=list(batch), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, self.dtype)
        out = self.model(pixel_values=pixels)
        logits = getattr(out, "logits", None)
        if logits is None or logits.ndim != 4:
            raise InputError(self.source.path, "the model gives no per-pixel class logits; use a semantic "
                                               "segmentation model such as Segformer")
        h, w = batch.shape[1:3]
        # Upsample scores, not labels, so boundaries land between pixels as the model meant them.
        logits = torch.nn.functional.interpolate(logits.float(), size=(h, w), mode="bilinear", align_corners=False)
        return logits.argmax(1).to(torch.int16).cpu().numpy()

    def parse(self, frames, *, should_stop: Callable[[], bool] | None = None) -> ParsedFrames:
        frames = as_frames(frames)
        bs = max(1, int(self.config.batch_size))
        labels = []
        for start in range(0, len(frames), bs):
            if should_stop and should_stop():
                raise JobCancelled(f"parsing stopped after {start} of {len(frames)} frames")
            labels.append(self._labels(frames[start:start + bs]))
        model_labels = np.concatenate(labels) if labels else np.zeros(frames.shape[:3], np.int16)
        parts = self.table.to_part[model_labels]
        clothes = np.isin(model_labels, self.table.clothes_ids)
        if model_labels.max(initial=0) < 256:
            model_labels = model_labels.astype(np.uint8)
        return ParsedFrames(parts=parts, clothes=clothes, clothes_mask=dilate(clothes, self.config.dilate_px),
                            model_labels=model_labels)
