"""Deterministic weights both sides can rebuild from a key list, so a reference embedding needs no
stored state dict: every tensor is drawn from a generator seeded by its own OpenGait key name."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def value(key: str, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
    """The tensor for ``key``: scaled so that a deep network's activations stay of order one."""
    shape = tuple(int(s) for s in shape)
    if not dtype.startswith("float"):
        return np.zeros(shape, dtype=dtype)   # num_batches_tracked and other counters
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    name = key.rsplit(".", 1)[-1]
    if name == "running_var":
        return (1.0 + 0.1 * np.abs(rng.standard_normal(shape))).astype(dtype)
    if len(shape) <= 1:
        base = 1.0 if name == "weight" else 0.0
        return (base + 0.1 * rng.standard_normal(shape)).astype(dtype)
    fan_in = int(np.prod(shape[1:])) or 1
    return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dtype)


def fill(state: dict[str, Any]) -> dict[str, np.ndarray]:
    """``{key: array}`` for a state dict's keys (torch tensors or arrays; only shape and dtype are read)."""
    out = {}
    for key, t in state.items():
        dtype = str(t.dtype).replace("torch.", "")
        out[key] = value(key, tuple(t.shape), dtype)
    return out


def load(name: str) -> tuple[dict[str, Any], dict[str, np.ndarray] | None]:
    """The facts of one reference (``<name>.json``) and its arrays (``<name>.npz``) if it has any."""
    facts = json.loads((HERE / f"{name}.json").read_text())
    npz = HERE / f"{name}.npz"
    arrays = dict(np.load(npz)) if npz.exists() else None
    return facts, arrays


def names() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.json"))
