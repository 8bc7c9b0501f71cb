"""Clothing inpainting (DLCR stage 4) with a Stable Diffusion inpainting pipeline from a local folder.

Gait needs what DLCR's per-image recipe does not give: a variant must look the same on every frame
of a sequence. So one (prompt, seed) pair belongs to a (sequence, variant) and every frame starts
from the same initial noise (a generator per frame, seeded alike); a frame's result therefore does
not depend on which batch it lands in. Each frame is cropped around its garment mask at the
model's working aspect (the person fills the model's canvas instead of a small part of a wide
video frame), repainted, scaled back, and pasted inside the dilated mask only: the pipeline itself
re-encodes the whole canvas through the VAE, which would otherwise alter pixels outside the mask.

Discriminator guidance (DLCR's refinement, ``core.dlcr.guidance``) is a per-job switch:
``guidance_weight`` > 0 with a trained latent discriminator corrects each denoising step with
t > ``guidance_t_min``; 0 leaves the pipeline exactly as without it. ``compare_guidance`` makes
the same variant both ways from the same seed for a side-by-side look.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np
import torch

from core.dlcr.guidance import DiscriminatorGuidance, LatentDiscriminator, comparison_strip, pick_preview_frame
from core.device import resolve_placement
from core.hub import ModelSource, load_pretrained, provenance
from core.dlcr.parsing import as_frames, dilate
from core.dlcr.prompts import NEGATIVE_PROMPT, OutfitChoice
from core.errors import ConfigError, InputError, JobCancelled

METHOD = "sd-inpaint"


@dataclass
class InpaintConfig:
    steps: int = 25
    guidance: float = 7.5
    strength: float = 1.0          # 1.0: the masked region starts from pure noise
    batch_size: int = 8
    height: int = 512              # model canvas; a standing person's crop is about twice as tall as wide
    width: int = 256
    mask_dilate_px: int = 4        # grown again here, so garment edges are repainted too
    crop_margin: float = 0.15      # context kept around the mask, as a fraction of its box
    negative_prompt: str = NEGATIVE_PROMPT
    sdxl: bool = False
    guidance_weight: float = 0.0   # discriminator guidance strength; 0 = off (DLCR's refinement)
    guidance_t_min: int = 200      # only steps with t > this are corrected, as in DLCR
    discriminator: str | Path | None = None   # saved LatentDiscriminator used when guidance_weight > 0

    def check(self) -> None:
        if self.height % 8 or self.width % 8 or self.height <= 0 or self.width <= 0:
            raise ConfigError(f"inpainting size {self.height}x{self.width} must be positive multiples of 8")
        if not 0.0 < self.strength <= 1.0:
            raise ConfigError(f"strength {self.strength} must be in (0, 1]")
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError("steps and batch_size must be at least 1")
        if not self.guidance_weight >= 0.0:
            raise ConfigError(f"guidance_weight {self.guidance_weight} must be >= 0 (0 turns guidance off)")
        if not 0 <= int(self.guidance_t_min) < 1000:
            raise ConfigError(f"guidance_t_min {self.guidance_t_min} must be within [0, 1000)")


@dataclass
class InpaintResult:
    frames: np.ndarray             # (T, H, W, 3) uint8: originals outside the mask, repainted inside
    masks: np.ndarray              # (T, H, W) bool: the dilated masks that were repainted
    record: dict[str, Any] = field(default_factory=dict)


def crop_box(mask: np.ndarray, aspect: float, margin: float) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the mask's box grown by ``margin`` and then to ``aspect`` (w / h), kept in the frame."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0, h, 0, w
    cy, cx = (ys.min() + ys.max() + 1) / 2, (xs.min() + xs.max() + 1) / 2
    bh = (ys.max() + 1 - ys.min()) * (1 + 2 * margin)
    bw = (xs.max() + 1 - xs.min()) * (1 + 2 * margin)
    if bw / bh < aspect:
        bw = bh * aspect
    else:
        bh = bw / aspect
    bh, bw = min(int(round(bh)), h), min(int(round(bw)), w)   # a frame too small distorts slightly instead
    y0 = int(np.clip(round(cy - bh / 2), 0, h - bh))
    x0 = int(np.clip(round(cx - bw / 2), 0, w - bw))
    return y0, y0 + bh, x0, x0 + bw


def _cut(arr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    y0, y1, x0, x1 = box
    return arr[y0:y1, x0:x1]


def _frames_and_masks(frames, masks) -> tuple[np.ndarray, np.ndarray]:
    """Frames as uint8 RGB and their garment masks as bool, which must cover the same pixels."""
    frames = as_frames(frames)
    masks = np.asarray(masks).astype(bool)
    if masks.shape != frames.shape[:3]:
        raise InputError(None, f"masks {masks.shape} do not match frames {frames.shape[:3]}")
    return frames, masks


def _class_name(folder) -> str | None:
    f = folder / "model_index.json"
    try:
        return json.loads(f.read_text()).get("_class_name")
    except (OSError, ValueError):
        return None


class Inpainter:
    """A loaded inpainting pipeline; ``inpaint_sequence`` makes one variant of one sequence."""

    def __init__(self, source, *, device=None, dtype=None, config: InpaintConfig | None = None,
                 allow_download: bool = False):
        import diffusers

        self.config = config or InpaintConfig()
        self.config.check()
        self.device, self.dtype = resolve_placement(device, dtype)
        cls = diffusers.StableDiffusionXLInpaintPipeline if self.config.sdxl else diffusers.StableDiffusionInpaintPipeline
        kwargs: dict[str, Any] = {"local_files_only": True, "dtype": self.dtype}
        if not self.config.sdxl:
            # The checker blanks frames it flags; variants are curated by a person instead
            # (docs/contracts.md, "DLCR stages").
            kwargs.update(safety_checker=None, requires_safety_checker=False)

        def load(folder):
            if not (folder / "model_index.json").is_file():
                raise InputError(folder, "not a diffusers pipeline folder (no model_index.json)")
            saved = _class_name(folder) or ""
            if ("XL" in saved) != self.config.sdxl:   # the folder is fine; the option does not fit it
                raise ConfigError(f"{folder}: holds a {saved or 'unknown'} pipeline; "
                                  f"{'unset' if self.config.sdxl else 'set'} the SDXL option to load it")
            return cls.from_pretrained(folder, **kwargs)

        self.source, pipe = load_pretrained("inpainting pipeline", load, source,
                                            allow_download=allow_download)
        self._attach(pipe)

    @classmethod
    def from_pipeline(cls, pipe, *, config: InpaintConfig | None = None, device=None, dtype=None,
                      label: str = "in-memory pipeline") -> "Inpainter":
        """Wrap a pipeline built in code (benchmarks, tests); it is moved to ``device`` / ``dtype``."""
        self = cls.__new__(cls)
        self.config = config or InpaintConfig()
        self.config.check()
        self.source = ModelSource(label, Path(label), None, None)
        self.device, self.dtype = resolve_placement(device, dtype)
        self._attach(pipe.to(dtype=self.dtype))
        return self

    def _attach(self, pipe) -> None:
        self._disc: LatentDiscriminator | None = None
        self.pipe = pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        attn = sorted({type(p).__name__ for p in self.pipe.unet.attn_processors.values()})
        self.provenance = provenance("inpaint", self.source, self.pipe, device=self.device, dtype=self.dtype,
                                     extra={"unet_in_channels": int(self.pipe.unet.config.in_channels),
                                            "scheduler": type(self.pipe.scheduler).__name__,
                                            "attention": attn})
        if self.config.discriminator is not None and self.config.guidance_weight > 0:
            self._discriminator()   # a missing or mismatched file fails here, not in the middle of a job

    # ------------------------------------------------------------------ discriminator guidance
    def set_discriminator(self, disc: LatentDiscriminator | str | Path | None) -> None:
        """Use this latent discriminator for guided runs (a trained head, a saved file, or None)."""
        if disc is None or isinstance(disc, LatentDiscriminator):
            self._disc = disc.attach(self.pipe) if disc is not None else None
            self.config.discriminator = disc.source if disc is not None else None
        else:
            self.config.discriminator = disc
            self._discriminator()

    def _discriminator(self) -> LatentDiscriminator:
        """The head for guided runs: the one set in code, else the file named in the config (cached)."""
        path = self.config.discriminator
        if path is not None and (self._disc is None or self._disc.source != str(path)):
            self._disc = LatentDiscriminator.load(path, pipe=self.pipe)
        if self._disc is None:
            raise ConfigError("guidance_weight > 0 needs a latent discriminator: train one "
                              "(core.dlcr.guidance.train_latent_discriminator) and set InpaintConfig.discriminator")
        return self._disc

    def _guide(self, weight: float) -> DiscriminatorGuidance | None:
        if weight == 0:
            return None
        if self.config.sdxl:
            raise ConfigError("discriminator guidance supports SD 1.x/2.x inpainting pipelines, not SDXL")
        return DiscriminatorGuidance(self._discriminator(), float(weight), int(self.config.guidance_t_min))

    # ------------------------------------------------------------------ one batch through the model
    def _canvas(self, crops: list[np.ndarray],
                crop_masks: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Crops and masks resized to the model canvas, exactly as the pipeline receives them."""
        c = self.config
        size = (c.width, c.height)
        images = [cv2.resize(im, size, interpolation=cv2.INTER_AREA if im.shape[0] > c.height else cv2.INTER_CUBIC)
                  for im in crops]
        masks = [cv2.resize(m.astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST) for m in crop_masks]
        return images, masks

    def _run(self, crops: list[np.ndarray], crop_masks: list[np.ndarray], prompt: str, seed: int,
             guide: DiscriminatorGuidance | None = None) -> np.ndarray:
        from PIL import Image

        c = self.config
        images, masks = self._canvas(crops, crop_masks)
        # One generator per frame, all seeded alike: the same starting noise for every frame.
        gens = [torch.Generator("cpu").manual_seed(int(seed)) for _ in crops]
        handle = guide.install(self.pipe) if guide is not None else None
        try:
            # Guidance takes gradients inside the hook; plain no_grad lets it build ordinary tensors.
            with torch.no_grad() if guide is not None else torch.inference_mode():
                out = self.pipe(prompt=[prompt] * len(crops), negative_prompt=[c.negative_prompt] * len(crops),
                                image=[Image.fromarray(im) for im in images],
                                mask_image=[Image.fromarray(m) for m in masks], height=c.height, width=c.width,
                                num_inference_steps=c.steps, guidance_scale=c.guidance, strength=c.strength,
                                generator=gens, output_type="np")
        finally:
            if handle is not None:
                handle.remove()
        return np.clip(np.asarray(out.images) * 255.0 + 0.5, 0, 255).astype(np.uint8)

    def canvas_crops(self, frames, masks) -> tuple[np.ndarray, np.ndarray]:
        """(N, h, w, 3) uint8 crops and (N, h, w) bool masks at the model canvas, one per frame with a
        garment mask, cut and dilated as ``inpaint_sequence`` does: training data for the latent
        discriminator (real frames and their generated variants share masks)."""
        frames, masks = _frames_and_masks(frames, masks)
        c = self.config
        grown = dilate(masks, c.mask_dilate_px)
        todo = [i for i in range(len(frames)) if grown[i].any()]
        if not todo:
            return np.zeros((0, c.height, c.width, 3), np.uint8), np.zeros((0, c.height, c.width), bool)
        boxes = [crop_box(grown[i], c.width / c.height, c.crop_margin) for i in todo]
        images, cmasks = self._canvas([_cut(frames[i], b) for i, b in zip(todo, boxes)],
                                      [_cut(grown[i], b) for i, b in zip(todo, boxes)])
        return np.stack(images), np.stack(cmasks) > 127

    def inpaint_sequence(self, frames, masks, outfit: OutfitChoice, *, source_id: str = "", seq: str = "",
                         should_stop: Callable[[], bool] | None = None,
                         progress: Callable[[int, int], None] | None = None,
                         guidance_weight: float | None = None) -> InpaintResult:
        """Repaint the garment masks of all frames of one sequence with one outfit.

        ``masks`` are the clothes masks (T, H, W) from parsing; they are dilated by
        ``mask_dilate_px`` here. Frames with an empty mask are passed through unchanged.
        ``should_stop`` is asked before every batch and cancels with JobCancelled.
        ``guidance_weight`` overrides the config's discriminator guidance weight for this call.
        """
        frames, masks = _frames_and_masks(frames, masks)
        c = self.config
        weight = float(c.guidance_weight if guidance_weight is None else guidance_weight)
        if not weight >= 0:
            raise ConfigError(f"guidance weight {weight} must be >= 0 (0 turns guidance off)")
        guide = self._guide(weight)
        corrected: list[int] = []
        grown = dilate(masks, c.mask_dilate_px)
        todo = [i for i in range(len(frames)) if grown[i].any()]
        boxes = {i: crop_box(grown[i], c.width / c.height, c.crop_margin) for i in todo}
        out = frames.copy()
        started = time.perf_counter()
        for start in range(0, len(todo), c.batch_size):
            if should_stop and should_stop():
                raise JobCancelled(f"inpainting stopped after {start} of {len(todo)} frames of {source_id}/{seq} "
                                   f"variant {outfit.index}")
            idx = todo[start:start + c.batch_size]
            crops = [_cut(frames[i], boxes[i]) for i in idx]
            cmasks = [_cut(grown[i], boxes[i]) for i in idx]
            painted = self._run(crops, cmasks, outfit.prompt, outfit.seed, guide)
            if guide is not None and not corrected:
                corrected = guide.corrected_timesteps()   # the same schedule for every batch
            for i, img, m in zip(idx, painted, cmasks):
                y0, y1, x0, x1 = boxes[i]
                back = cv2.resize(img, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
                _cut(out[i], boxes[i])[m] = back[m]
            if progress:
                progress(min(start + len(idx), len(todo)), len(todo))
        record = {
            "method": METHOD, "model": self.provenance, "source_id": source_id, "source_seq": seq,
            "variant": outfit.index, "prompt": outfit.prompt, "negative_prompt": c.negative_prompt,
            "seed": int(outfit.seed), "steps": int(c.steps), "guidance": float(c.guidance),
            "strength": float(c.strength), "height": int(c.height), "width": int(c.width),
            "batch_size": int(c.batch_size), "mask_dilate_px": int(c.mask_dilate_px),
            "crop_margin": float(c.crop_margin), "donors": list(outfit.donors),
            "garments": [g.to_dict() for g in outfit.garments], "frames": int(len(frames)),
            "frames_repainted": len(todo), "seconds": round(time.perf_counter() - started, 3),
            "guidance_weight": weight, "guidance_t_min": int(c.guidance_t_min),
            "discriminator": (guide.disc.source or "in-memory") if guide else None,
            "discriminator_sha1": guide.disc.sha1 if guide else None,
            "guided_timesteps": corrected,
        }
        return InpaintResult(out, grown, record)

    def compare_guidance(self, frames, masks, outfit: OutfitChoice, *, weight: float | None = None,
                         source_id: str = "", seq: str = "", should_stop: Callable[[], bool] | None = None
                         ) -> tuple[InpaintResult, InpaintResult]:
        """The same variant (same seed and prompt) without and with discriminator guidance.

        ``weight`` defaults to the config's ``guidance_weight``; it must be > 0 here.
        """
        w = float(self.config.guidance_weight if weight is None else weight)
        if not w > 0:
            raise ConfigError("comparing guidance needs a guidance weight > 0")
        unguided = self.inpaint_sequence(frames, masks, outfit, source_id=source_id, seq=seq,
                                         should_stop=should_stop, guidance_weight=0.0)
        guided = self.inpaint_sequence(frames, masks, outfit, source_id=source_id, seq=seq,
                                       should_stop=should_stop, guidance_weight=w)
        return unguided, guided

    def variants(self, frames, masks, outfits: Sequence[OutfitChoice], *, source_id: str = "", seq: str = "",
                 should_stop: Callable[[], bool] | None = None,
                 on_variant: Callable[[InpaintResult], None] | None = None) -> list[InpaintResult]:
        """All variants of one sequence, one outfit each; ``on_variant`` sees each as soon as it is done."""
        results = []
        for outfit in outfits:
            r = self.inpaint_sequence(frames, masks, outfit, source_id=source_id, seq=seq, should_stop=should_stop)
            if on_variant:
                on_variant(r)
            results.append(r)
        return results


def guidance_preview(frames, unguided: InpaintResult, guided: InpaintResult, *, index: int | None = None,
                     height: int = 160) -> np.ndarray:
    """Side-by-side strip of one frame: source | unguided | guided (``index`` defaults to a middle
    repainted frame)."""
    frames = as_frames(frames)
    i = pick_preview_frame(guided.masks) if index is None else int(index)
    if not 0 <= i < len(frames):
        raise InputError(None, f"frame {i} is outside the sequence of {len(frames)} frames")
    return comparison_strip(frames[i], unguided.frames[i], guided.frames[i],
                            weight=guided.record.get("guidance_weight"), height=height)
