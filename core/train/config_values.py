"""Checks of single training-config values; each error names the key, so a misspelt or
out-of-range setting fails at once rather than hours into a run."""

from __future__ import annotations

from typing import Any

from core.errors import ConfigError


def as_int(key: str, v: Any, lo: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v:
        raise ConfigError(f"{key}: expected an integer, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(f"{key}: must be >= {lo}, got {v!r}")
    return int(v)


def as_float(key: str, v: Any, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{key}: expected a number, got {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{key}: must be in [{lo}, {hi}], got {v!r}")
    return float(v)


def as_bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{key}: expected true or false, got {v!r}")
    return v


def as_choice(key: str, v: Any, options: tuple[str, ...]) -> str:
    if v not in options:
        raise ConfigError(f"{key}: must be one of {list(options)}, got {v!r}")
    return v


def as_size(key: str, v: Any) -> tuple[int, int]:
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ConfigError(f"{key}: expected [height, width], got {v!r}")
    return (as_int(f"{key}[0]", v[0], 1), as_int(f"{key}[1]", v[1], 1))
