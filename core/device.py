"""Which device and number format a model runs in: one reading of the settings for every stage.

Training, evaluation and the model-backed stages (silhouette, pose, DLCR) all take their device and
dtype settings through here, so the same words mean the same thing everywhere:

* devices: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``, or a
  ``torch.device``;
* dtypes: ``fp32``/``float32``/``float``, ``fp16``/``float16``/``half``, ``bf16``/``bfloat16``,
  ``auto`` (half precision on CUDA, fp32 elsewhere), or a ``torch.dtype``;
* mixed precision for training (``amp``): ``auto``, ``off``, and the dtype names above.

A device that is asked for but absent is a ConfigError at once, not a failure deep inside a job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from core.errors import ConfigError

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32, "float32": torch.float32, "float": torch.float32,
    "fp16": torch.float16, "float16": torch.float16, "half": torch.float16,
    "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
}
_DTYPE_NAMES = "fp32, fp16, bf16 (or float32, float16, bfloat16)"


def device_name(device: str | torch.device | None) -> str:
    """The setting in its normal form ('auto' for None); a ConfigError for anything unknown.
    Only the spelling is checked: a config may name a GPU that this machine lacks."""
    if isinstance(device, torch.device):
        return str(device)
    name = str(device if device is not None else "auto").strip().lower() or "auto"
    if not _DEVICE.match(name):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    return name


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; a named device must exist here."""
    if isinstance(device, torch.device):
        return device
    name = device_name(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} requested but no CUDA device is available (use 'auto' or 'cpu')")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} requested but this machine has {torch.cuda.device_count()} "
                              f"CUDA device(s)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError("device 'mps' requested but the Apple GPU backend is not available (use 'auto' or 'cpu')")
    return torch.device(name)


def resolve_dtype(device: torch.device, dtype: str | torch.dtype | None = None, *,
                  prefer: str = "float16") -> torch.dtype:
    """An explicit dtype as asked; otherwise fp32 off CUDA (half precision is slow and lossy on a
    CPU) and ``prefer`` (fp16, or bf16 where the GPU supports it) on CUDA."""
    if isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).strip().lower() if dtype is not None else "auto"
    if name != "auto":
        try:
            return _DTYPES[name]
        except KeyError:
            raise ConfigError(f"unknown dtype {dtype!r}; choose {_DTYPE_NAMES} or auto") from None
    if device.type != "cuda":
        return torch.float32
    if _DTYPES.get(prefer) is torch.bfloat16 and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def resolve_placement(device: str | torch.device | None = None, dtype: str | torch.dtype | None = None, *,
                      prefer: str = "float16") -> tuple[torch.device, torch.dtype]:
    """(device, dtype) for a model stage: :func:`resolve_device`, then :func:`resolve_dtype` on it."""
    dev = resolve_device(device)
    return dev, resolve_dtype(dev, dtype, prefer=prefer)


@dataclass(frozen=True)
class Precision:
    dtype: torch.dtype | None     # autocast dtype, None = full fp32
    scaler: bool                  # fp16 needs loss scaling; bf16 has fp32's exponent range and does not

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_precision(amp: str, device: torch.device) -> Precision:
    """Mixed precision for training and embedding. AMP only on CUDA: CPU autocast is slower than
    fp32 for these convs on common CPUs."""
    name = str(amp).strip().lower()
    if name not in ("auto", "off") and name not in _DTYPES:
        raise ConfigError(f"amp: unknown mode {amp!r}; choose auto, off, {_DTYPE_NAMES}")
    dtype = _DTYPES.get(name)
    if device.type != "cuda" or name == "off" or dtype is torch.float32:
        return Precision(None, False)
    if dtype is torch.bfloat16 or (name == "auto" and torch.cuda.is_bf16_supported()):
        return Precision(torch.bfloat16, False)
    return Precision(torch.float16, True)
