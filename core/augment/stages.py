"""The DLCR chain's model-backed stages, each loaded at most once per job and released when done.

Each stage's model is a local folder or cached hub id loaded through :mod:`core.dlcr`; the import
happens on first use, so a model-free chain never imports the model code.
"""

from __future__ import annotations

import gc
import time
from typing import Any, Callable

from core.augment.options import ChainOptions
from core.errors import ConfigError


class Stages:
    """Model-backed stages, each loaded at most once per job (on first use) and released when done."""

    def __init__(self, options: ChainOptions, log: Callable[[str], None] | None = None):
        self.o = options
        self.log = log or (lambda msg: None)
        self._loaded: dict[str, Any] = {}
        self.loads: dict[str, int] = {}

    def _get(self, role: str, build: Callable[[], Any]) -> Any:
        if role not in self._loaded:
            t0 = time.perf_counter()
            self.log(f"loading the {role} model")
            self._loaded[role] = build()
            self.loads[role] = self.loads.get(role, 0) + 1
            self.log(f"{role} model loaded in {time.perf_counter() - t0:.1f} s")
        return self._loaded[role]

    def parser(self):
        from core.dlcr.parsing import HumanParser, ParsingConfig

        return self._get("parsing", lambda: HumanParser(self.o.parsing, device=self.o.device, dtype=self.o.dtype,
                                                        config=ParsingConfig(batch_size=self.o.batch_size)))

    def describer(self):
        from core.dlcr.describe import ClothingDescriber, GenerateOptions

        cfg = GenerateOptions(max_new_tokens=self.o.max_new_tokens, batch_size=self.o.batch_size, seed=self.o.seed)
        return self._get("describe", lambda: ClothingDescriber(self.o.describe, device=self.o.device,
                                                               dtype=self.o.dtype, config=cfg))

    def summarizer(self):
        from core.dlcr.summarize import GarmentSummarizer, SummaryConfig

        cfg = SummaryConfig(batch_size=self.o.batch_size, seed=self.o.seed)
        return self._get("summarize", lambda: GarmentSummarizer(self.o.summarize, device=self.o.device,
                                                                dtype=self.o.dtype, config=cfg))

    def inpainter(self):
        from core.dlcr.inpaint import InpaintConfig, Inpainter

        cfg = InpaintConfig(steps=self.o.steps, guidance=self.o.guidance, strength=self.o.strength,
                            batch_size=self.o.batch_size, height=self.o.height, width=self.o.width, sdxl=self.o.sdxl)
        if self.o.guidance_weight:
            if "guidance_weight" not in InpaintConfig.__dataclass_fields__:
                raise ConfigError("this version of core.dlcr.inpaint has no discriminator guidance")
            cfg.guidance_weight = float(self.o.guidance_weight)
            cfg.discriminator = self.o.guidance_discriminator
        return self._get("inpaint", lambda: Inpainter(self.o.inpaint, device=self.o.device, dtype=self.o.dtype,
                                                      config=cfg))

    def segmenter(self, model: str):
        from core.silhouette import make_silhouette_backend

        return self._get(f"silhouette:{model}", lambda: make_silhouette_backend("segmentation", model=model))

    def release(self, *roles: str) -> None:
        """Free models no later stage needs (a 7B describer should not sit beside the inpainter)."""
        freed = [r for r in roles if self._loaded.pop(r, None) is not None]
        if freed:
            gc.collect()
            try:
                import torch
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:   # pragma: no cover - torch is installed wherever models load
                pass
