"""Silhouettes from a transformers semantic-segmentation network (Segformer, BEiT, DPT, UperNet...).

The model is loaded with ``AutoImageProcessor`` + ``AutoModelForSemanticSegmentation`` from a
folder written by ``save_pretrained`` or a hub id already in the local cache (see ``hub.py``).

Which classes count as the person is decided once, from ``config.id2label``, and kept on the
object (``person_ids``, ``person_labels``, ``person_rule``) so it can be shown and recorded:

* ``person_labels="auto"`` (default): labels naming a person (``person``, ``human``,
  ``pedestrian``, ``people`` in any case, e.g. ADE20k's or Cityscapes' ``person``); if there are
  none, a human-parsing model is assumed (hat, hair, upper-clothes, left-leg...) and every label
  except the background one counts, so bags and coats stay part of the silhouette as in CASIA-B;
  a model with neither raises ConfigError listing its labels.
* ``person_labels=[...]``: explicit label names (case-insensitive) or ids.

Per frame, the softmax probabilities of the person classes are summed at the network's
resolution (a person split into 18 body-part classes is still one person), upsampled bilinearly
to the frame size and thresholded; then, with ``clean=True``, the largest person (plus pieces
close to it) is kept and small holes are filled, as in background subtraction.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from core.errors import ConfigError
from core.silhouette.bgsub import check_frames, fill_holes, keep_largest
from core.device import resolve_device, resolve_dtype
from core.hub import load_pretrained

PERSON_WORDS = ("person", "persons", "people", "human", "humans", "pedestrian", "pedestrians")
BACKGROUND_WORDS = ("background", "bg", "null", "void", "unlabeled", "unlabelled", "__background__", "others")


def _words(label: str) -> set[str]:
    return set(re.split(r"[^a-z0-9_]+", label.lower())) - {""}


def choose_person_classes(id2label: dict, person_labels="auto") -> tuple[list[int], list[str], str]:
    """Person class ids, their names, and the rule that picked them (human-readable)."""
    labels = {int(k): str(v) for k, v in id2label.items()}
    if not labels:
        raise ConfigError("the segmentation model's config has no id2label")
    listing = ", ".join(f"{k}:{v}" for k, v in sorted(labels.items()))
    if person_labels is None or (isinstance(person_labels, str) and person_labels.strip().lower() == "auto"):
        ids = [k for k, v in sorted(labels.items()) if _words(v) & set(PERSON_WORDS)]
        if ids:
            return ids, [labels[k] for k in ids], "labels naming a person"
        bg = [k for k, v in labels.items() if v.strip().lower() in BACKGROUND_WORDS]
        if bg and len(labels) > 2:
            ids = [k for k in sorted(labels) if k not in bg]
            return ids, [labels[k] for k in ids], "human-parsing model: every label except background"
        raise ConfigError(f"cannot tell which classes are the person (labels: {listing}); "
                          f"pass person_labels=[names or ids]")
    if isinstance(person_labels, (str, int)):
        person_labels = [person_labels]
    by_name = {v.strip().lower(): k for k, v in labels.items()}
    ids = []
    for item in person_labels:
        if isinstance(item, (int, np.integer)) or (isinstance(item, str) and item.strip().isdigit()):
            k = int(item)
            if k not in labels:
                raise ConfigError(f"person label id {k} is not one of the model's classes ({listing})")
        else:
            k = by_name.get(str(item).strip().lower())
            if k is None:
                raise ConfigError(f"person label {item!r} is not one of the model's classes ({listing})")
        if k not in ids:
            ids.append(k)
    if not ids:
        raise ConfigError("person_labels is empty")
    return ids, [labels[k] for k in ids], "chosen by the user"


class SegmentationBackend:
    """``masks(frames)`` -> (T, H, W) uint8 {0, 255} from a semantic-segmentation network."""

    name = "segmentation"
    model_free = False

    def __init__(self, model: str, *, person_labels="auto", device: str = "auto", batch_size: int = 8,
                 threshold: float = 0.5, clean: bool = True, fill: float = 0.15, half: bool = False,
                 allow_download: bool = False):
        from transformers import AutoImageProcessor, AutoModelForSemanticSegmentation

        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        if not 0.0 < float(threshold) < 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, got {threshold}")
        self.device = resolve_device(device)

        def load(folder):
            return (AutoImageProcessor.from_pretrained(folder, local_files_only=True),
                    AutoModelForSemanticSegmentation.from_pretrained(folder, local_files_only=True))

        self.source, (self.processor, self.model) = load_pretrained("segmentation model", load, model,
                                                                    allow_download=allow_download)
        self.dtype = resolve_dtype(self.device, None if half else "fp32")   # half: fp16 on CUDA only
        self.model.to(self.device, dtype=self.dtype).eval()
        self.person_ids, self.person_labels, self.person_rule = choose_person_classes(
            self.model.config.id2label, person_labels)
        self.batch_size = int(batch_size)
        self.threshold = float(threshold)
        self.clean = bool(clean)
        self.fill = float(fill)

    @property
    def label(self) -> str:
        names = ", ".join(self.person_labels[:6]) + (" ..." if len(self.person_labels) > 6 else "")
        return f"semantic segmentation network {self.source.describe()} (person = {names}; {self.person_rule})"

    def __repr__(self) -> str:
        return f"SegmentationBackend({self.source.spec!r}, person_ids={self.person_ids}, device='{self.device}')"

    def _probabilities(self, frames: np.ndarray):
        """(B, H, W) float person probability for a batch of RGB frames."""
        import torch
        import torch.nn.functional as F

        inputs = self.processor(images=list(frames), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, dtype=self.dtype)
        with torch.inference_mode():
            logits = self.model(pixel_values=pixels).logits.float()
            prob = logits.softmax(1)[:, self.person_ids].sum(1, keepdim=True)
            prob = F.interpolate(prob, size=frames.shape[1:3], mode="bilinear", align_corners=False)
        return prob[:, 0].cpu().numpy()

    def masks(self, frames: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        frames = check_frames(frames)
        t, h, w = frames.shape[:3]
        out = np.zeros((t, h, w), np.uint8)
        for s in range(0, t, self.batch_size):
            prob = self._probabilities(frames[s:s + self.batch_size])
            for i, p in enumerate(prob):
                m = np.where(p > self.threshold, 255, 0).astype(np.uint8)
                if self.clean and m.any():
                    m = keep_largest(m, near_px=6, min_frac=0.02)
                    if self.fill > 0:
                        m = fill_holes(m, self.fill)
                out[s + i] = m
        return out
