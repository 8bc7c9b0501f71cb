"""Where a transformers model comes from: a local folder first, else the local Hugging Face cache.

Nothing is downloaded unless the caller asks (``allow_download=True``): without a network, a
hub id that is not cached would otherwise retry for ~20 s before failing. ``HF_HUB_OFFLINE`` is
read by huggingface_hub once at import, so setting it here would be too late; ``local_files_only``
gives the same fail-fast behaviour per call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError, InputError


@dataclass(frozen=True)
class ModelSource:
    ref: str                 # what from_pretrained gets: a folder path or a hub id
    local_dir: bool          # True when ``ref`` is a folder on disk
    kwargs: dict             # extra from_pretrained keyword arguments

    def describe(self) -> str:
        return self.ref if self.local_dir else f"{self.ref} (Hugging Face hub id)"


def _looks_like_path(s: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else with a separator is meant as a path."""
    if s.startswith(("/", ".", "~")) or "\\" in s or s.count("/") > 1:
        return True
    return len(s) > 1 and s[1] == ":"          # a Windows drive letter


def resolve_model(source: str | os.PathLike, *, what: str = "model", allow_download: bool = False) -> ModelSource:
    """Check ``source`` (a folder written by ``save_pretrained`` or a hub id) before loading it."""
    if source is None or str(source).strip() == "":
        raise ConfigError(f"{what}: no model given; pass a folder made by save_pretrained or a hub id")
    s = str(source).strip()
    p = Path(s).expanduser()
    if p.exists():
        if not p.is_dir():
            raise InputError(p, f"{what}: expected a model folder (with config.json), found a file")
        if not (p / "config.json").is_file():
            raise InputError(p, f"{what}: the folder has no config.json; is it a save_pretrained folder?")
        return ModelSource(str(p), True, {"local_files_only": True})
    if _looks_like_path(s):
        raise InputError(p, f"{what}: model folder does not exist")
    if allow_download:
        return ModelSource(s, False, {})
    return ModelSource(s, False, {"local_files_only": True})


def load_failed(src: ModelSource, what: str, exc: Exception) -> Exception:
    """A clear error for a failed from_pretrained, naming the folder or hub id."""
    if src.local_dir:
        return InputError(src.ref, f"{what}: cannot load the model from this folder ({type(exc).__name__}: {exc})")
    hint = ("there is no such folder here, and as a hub id it is not in the local Hugging Face cache "
            "(downloading is off); download it once on a connected machine (huggingface-cli download ID) "
            "and pass its folder, or allow downloads"
            if src.kwargs.get("local_files_only") else f"{type(exc).__name__}: {exc}")
    return ConfigError(f"{what}: cannot load {src.ref!r}: {hint}")


def pick_device(device: str | None) -> str:
    """'auto' / None -> 'cuda' when available, else 'cpu'; anything else is passed through, checked."""
    import torch

    d = (device or "auto").strip().lower()
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but no CUDA device is available here")
    if d not in ("cpu", "mps") and not d.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    return d


def build_model_backend(cls, what: str, options: dict):
    """``cls(**options)`` for a model-backed backend, after checking that a model is named and that
    every option is one ``cls`` accepts (a misspelt option must not be silently ignored)."""
    import inspect

    if not options.get("model"):
        raise ConfigError(f"the {what} backend needs model=FOLDER_OR_HUB_ID")
    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    bad = sorted(set(options) - known)
    if bad:
        raise ConfigError(f"unknown {what} option(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
    return cls(**options)
