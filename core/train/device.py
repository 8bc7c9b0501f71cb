"""Choosing the device and mixed-precision mode from the config's 'auto' settings."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' requested but no CUDA device is available (use 'auto' or 'cpu')")
    return torch.device(name)


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype | None     # autocast dtype, None = full fp32
    scaler: bool                  # fp16 needs loss scaling; bf16 has fp32's exponent range and does not

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_precision(amp: str, device: torch.device) -> Precision:
    """AMP only on CUDA: CPU autocast is slower than fp32 for these convs on common CPUs."""
    if device.type != "cuda" or amp == "off":
        return Precision(None, False)
    if amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()):
        return Precision(torch.bfloat16, False)
    return Precision(torch.float16, True)
