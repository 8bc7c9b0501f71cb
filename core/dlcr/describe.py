"""Clothing descriptions (DLCR stage 2) from a LLaVA-family image-text-to-text model.

The prompt goes through the processor's own chat template, so each model family gets the turn
markers it was trained with; only models without a template fall back to LLaVA-1.5's
``USER: <image>\\n... ASSISTANT:`` layout. Frames are described in batches with left padding, the
layout decoder-only models need to continue every row from its last token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from core.device import resolve_placement
from core.hub import load_pretrained, provenance
from core.dlcr.prompts import DESCRIBE_PROMPT, SEED_BITS
from core.indices import spread_indices
from core.seeding import stable_seed
from core.errors import InputError, JobCancelled

FALLBACK_TEMPLATE = "USER: <image>\n{prompt} ASSISTANT:"


@dataclass
class GenerateOptions:
    max_new_tokens: int = 64
    temperature: float = 0.0   # 0 = greedy; DLCR sampled at 0.2
    batch_size: int = 4
    seed: int = 0


def generate_text(model, inputs: dict, tokenizer, config: GenerateOptions, *, batch_index: int = 0) -> list[str]:
    """Run ``generate`` and decode only the new tokens of each row."""
    sample = config.temperature > 0
    kwargs = {"max_new_tokens": int(config.max_new_tokens), "do_sample": sample,
              "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id}
    if sample:
        kwargs["temperature"] = float(config.temperature)
    else:
        # Drop sampling settings a model's generation_config may carry, which greedy decoding would warn about.
        kwargs.update(temperature=None, top_p=None, top_k=None)
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        # A seed per batch keeps sampled text reproducible without touching the caller's RNG state.
        torch.manual_seed(stable_seed("generate", config.seed, batch_index, bits=SEED_BITS))
        out = model.generate(**inputs, **kwargs)
    new = out[:, inputs["input_ids"].shape[1]:]
    return [t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True)]


def person_crop(frame: np.ndarray, mask: np.ndarray | None, margin: float = 0.1) -> np.ndarray:
    """The box around ``mask`` (any body pixel) with a margin; the whole frame when the mask is empty."""
    if mask is None or not mask.any():
        return frame
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    my, mx = int(margin * (ys.max() - ys.min() + 1)), int(margin * (xs.max() - xs.min() + 1))
    return frame[max(0, ys.min() - my): min(h, ys.max() + my + 1), max(0, xs.min() - mx): min(w, xs.max() + mx + 1)]


def pick_frames(count: int, k: int) -> list[int]:
    """``k`` evenly spaced frame indices of a sequence (all when it is shorter)."""
    return spread_indices(count, k)


class ClothingDescriber:
    """Ask a LLaVA-family model what a person wears; one answer per image."""

    def __init__(self, source, *, device=None, dtype=None, config: GenerateOptions | None = None,
                 prompt: str = DESCRIBE_PROMPT, allow_download: bool = False):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.config = config or GenerateOptions()
        self.prompt = prompt
        self.device, self.dtype = resolve_placement(device, dtype, prefer="bfloat16")

        def load(folder):
            processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
            try:
                model = AutoModelForImageTextToText.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
            except ValueError:
                # Older LLaVA checkpoints are registered only under their own class.
                from transformers import LlavaForConditionalGeneration
                model = LlavaForConditionalGeneration.from_pretrained(folder, local_files_only=True, dtype=self.dtype)
            return processor, model

        self.source, (self.processor, model) = load_pretrained("vision-language model", load, source,
                                                               allow_download=allow_download)
        self.model = model.to(self.device).eval()
        self.tokenizer = getattr(self.processor, "tokenizer", None)
        if self.tokenizer is None:
            raise InputError(self.source.path, "the processor has no tokenizer")
        self.tokenizer.padding_side = "left"
        self.text = self._prompt_text()
        self.provenance = provenance("describe", self.source, self.model, device=self.device, dtype=self.dtype,
                                     extra={"prompt": self.prompt, "prompt_text": self.text,
                                            "temperature": self.config.temperature,
                                            "max_new_tokens": self.config.max_new_tokens})

    def _prompt_text(self) -> str:
        conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
        return FALLBACK_TEMPLATE.format(prompt=self.prompt)

    def describe(self, images: Sequence[np.ndarray], *, should_stop: Callable[[], bool] | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[str]:
        from PIL import Image

        pil = []
        for i, im in enumerate(images):
            arr = np.asarray(im)
            if arr.ndim != 3 or arr.shape[-1] != 3 or arr.dtype != np.uint8 or arr.size == 0:
                raise InputError(None, f"image {i}: expected a non-empty (H, W, 3) uint8 RGB array, got "
                                       f"{arr.shape} {arr.dtype}")
            pil.append(Image.fromarray(arr))
        bs = max(1, int(self.config.batch_size))
        out: list[str] = []
        for b, start in enumerate(range(0, len(pil), bs)):
            if should_stop and should_stop():
                raise JobCancelled(f"describing stopped after {start} of {len(pil)} images")
            chunk = pil[start:start + bs]
            inputs = self.processor(images=chunk, text=[self.text] * len(chunk), return_tensors="pt", padding=True)
            inputs = {k: (v.to(self.device, self.dtype) if k == "pixel_values" else v.to(self.device))
                      for k, v in inputs.items() if hasattr(v, "to")}
            out += generate_text(self.model, inputs, self.tokenizer, self.config, batch_index=b)
            if progress:
                progress(len(out), len(pil))
        return out
