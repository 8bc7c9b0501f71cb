"""Options of the DLCR chain (augmentation job): what runs at each stage and how many variants.

A stage is a fallback keyword or a model folder / hub id (cached, or downloaded by the job when
``allow_download``); :meth:`ChainOptions.validate` checks every model source before a job is
queued, so a typo fails at once, not in the worker.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import field_validator

from core.augment.recipes import DEFAULT_KINDS, KINDS
from core.errors import ConfigError
from core.schema import Options, option, split_list

FALLBACKS = {"parsing": ("groundtruth", "geometry"), "describe": ("colour",), "summarize": ("none",),
             "inpaint": ("model-free",)}
RESILHOUETTE = ("bgsub", "segmentation", "groundtruth-outline", "auto")
PURPOSES = ("train", "refine")


class ChainOptions(Options):
    """What runs at each stage; a stage is a fallback keyword or a model folder / cached hub id."""

    WHAT = "augmentation option"
    per_sequence: int = option(2, "variants made of each chosen sequence", ge=1)
    seq_types: Optional[tuple[str, ...]] = option(("nm-01",), "comma-separated, e.g. nm-01,nm-02 (default nm-01; "
                                                              "all for refine)")
    sids: Optional[tuple[str, ...]] = option(None, "comma-separated identities to augment (default: all training ids)")
    kinds: Optional[tuple[str, ...]] = option(None, "model-free edits, comma-separated: " + ",".join(KINDS),
                                              choices=KINDS, implied=DEFAULT_KINDS)
    seed: int = option(0, "seed of the outfits and edits")
    max_sequences: Optional[int] = option(None, "augment at most this many sequences", ge=1)
    parsing: str = option("groundtruth", "groundtruth (demo) | geometry | MODEL (human parser)")
    describe: str = option("colour", "colour | MODEL (LLaVA-family)")
    summarize: str = option("none", "none | MODEL (chat LLM)")
    inpaint: str = option("model-free", "model-free | MODEL (Stable Diffusion inpainting folder)")
    resilhouette: str = option("bgsub", "silhouettes of generated frames: bgsub | segmentation:MODEL | "
                                        "groundtruth-outline | auto", choices=RESILHOUETTE)
    discriminator: bool = option(False, "score variants by a discriminator trained here")
    guidance_weight: float = option(0.0, "DLCR discriminator guidance (0 = off)")
    guidance_discriminator: Optional[str] = option(None, "latent discriminator file for guidance")
    steps: int = option(25, "denoising steps of the inpainting model", ge=1)
    guidance: float = option(7.5, "classifier-free guidance scale of the inpainting model")
    strength: float = option(1.0, "inpainting strength, in (0, 1]", gt=0.0, le=1.0)
    batch_size: int = option(8, "frames inpainted per batch", ge=1)
    height: int = option(512, "inpainting canvas height (a multiple of 8)")
    width: int = option(256, "inpainting canvas width (a multiple of 8)")
    describe_frames: int = option(4, "frames per identity shown to the describer", ge=1)
    max_new_tokens: int = option(64, "tokens the describer / summariser may write", ge=1)
    mask_to_person: bool = option(True, "repaint only clothes inside the (slightly grown) person")
    keep_rgb: bool = option(False, "also keep the generated colour frames (rgb/*.png)")
    device: Optional[str] = option(None, "torch device of the model stages (default: cuda if available)")
    dtype: Optional[str] = option(None, "torch dtype of the model stages (default: the device's)")
    sdxl: bool = option(False, "the inpainting folder is an SDXL pipeline")
    allow_download: bool = option(False, "download a model hub id that is not in the local Hugging Face cache "
                                         "(needs a network; by default nothing is downloaded)")
    # 'train': variants of training sequences, to curate and merge. 'refine': variants of the test
    # queries (probes) for test-time refinement only; never merged, outfits still from training ids.
    purpose: Literal[PURPOSES] = option("train", "train: variants to curate and merge; refine: variants of the "
                                                 "test queries for test-time refinement (never merged)")

    @field_validator("seq_types", "sids", "kinds", mode="before")
    @classmethod
    def _lists(cls, v):
        return split_list(v)

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, v):
        bad = [k for k in v or () if k not in KINDS]
        if bad:
            raise ValueError(f"unknown augmentation kind(s) {', '.join(bad)}; choose from {', '.join(KINDS)}")
        return v

    def is_model(self, stage: str) -> bool:
        return str(getattr(self, stage)).strip() not in FALLBACKS[stage]

    def resilhouette_spec(self) -> tuple[str, str | None]:
        name, _, model = str(self.resilhouette).strip().partition(":")
        if name not in RESILHOUETTE:
            raise ConfigError(f"resilhouette {self.resilhouette!r}: choose bgsub, segmentation:MODEL, "
                              f"groundtruth-outline or auto")
        if name == "segmentation" and not model:
            raise ConfigError("resilhouette segmentation needs a model: segmentation:/path/to/model")
        return name, model or None

    def models(self) -> list[tuple[str, str]]:
        """(role, model spec) of every stage that runs a model."""
        out = [(f"{stage} model", str(getattr(self, stage)).strip()) for stage in FALLBACKS if self.is_model(stage)]
        _, resil_model = self.resilhouette_spec()
        return out + ([("segmentation model", resil_model)] if resil_model else [])

    def validate(self) -> "ChainOptions":
        for stage in FALLBACKS:
            if not str(getattr(self, stage)).strip():
                raise ConfigError(f"{stage}: give {' or '.join(FALLBACKS[stage])}, or a model folder")
        from core.hub import check_source

        # A missing model folder or an uncached hub id (downloads not allowed) fails here, before a job is queued.
        for role, model in self.models():
            check_source(model, role=role, allow_download=self.allow_download)
        if self.height % 8 or self.width % 8 or self.height <= 0 or self.width <= 0:
            raise ConfigError(f"inpainting size {self.height}x{self.width} must be positive multiples of 8")
        return self


class AugmentJob(ChainOptions):
    """``python -m core augment``: the converted dataset and its chain options."""

    dataset: str = option(help="the converted dataset (folder) whose training sequences are augmented",
                          positional=True)
