"""Which frames of a sequence a training batch takes, as OpenGait's CollateFn defines the modes.

``sample_type`` is ``<how many>_<order>``:
- fixed: ``frames`` frames; unfixed: a count drawn uniformly from [frames_min, frames_max] for
  each sequence; all: every frame (at most ``all_limit`` if set), in their natural order.
- unordered: a random draw of the frames (with replacement only when the sequence is too short),
  in draw order; ordered: a random window of ``frames + skip`` consecutive frames (the sequence
  repeated end to end when shorter), from which ``frames`` are kept in temporal order.

All randomness comes from the caller's numpy Generator, so a saved generator state replays the
same frames. Sequences of one batch may differ in length; they are padded to the longest by
cycling their own frames, which leaves set (max) pooling unchanged even for a model that ignores
``lengths``, and keeps padded frames realistic for BatchNorm statistics.
"""

from __future__ import annotations

import numpy as np

from core.data.settings import SamplingConfig


def frame_count(rng: np.random.Generator, cfg: SamplingConfig, length: int) -> int:
    if cfg.type.startswith("fixed"):
        return cfg.frames
    if cfg.type.startswith("unfixed"):
        return int(rng.integers(cfg.frames_min, cfg.frames_max + 1))
    return min(length, cfg.all_limit) if cfg.all_limit else length


def sample_frames(rng: np.random.Generator, cfg: SamplingConfig, length: int) -> np.ndarray:
    """Indices (relative to the sequence start) of the frames one sequence contributes."""
    if length < 1:
        raise ValueError("cannot sample frames from an empty sequence")
    n = frame_count(rng, cfg, length)
    if cfg.type == "all_ordered":
        return np.arange(n, dtype=np.int64)
    if cfg.type.endswith("_unordered"):
        return rng.choice(length, n, replace=length < n).astype(np.int64)
    span = n + cfg.skip
    total = length * (-(-span // length)) if length < span else length    # repeated end to end
    start = int(rng.integers(0, total - span + 1))
    picked = np.sort(rng.choice(np.arange(start, start + span), n, replace=False))
    return (picked % length).astype(np.int64)


def sample_batch(rng: np.random.Generator, cfg: SamplingConfig, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frames for every sequence of a batch: (B, T) relative indices padded by cycling, and (B,) true counts."""
    picks = [sample_frames(rng, cfg, int(n)) for n in lengths]
    counts = np.array([len(p) for p in picks], np.int64)
    width = int(counts.max()) if len(picks) else 0
    out = np.empty((len(picks), width), np.int64)
    for j, p in enumerate(picks):
        out[j] = p if len(p) == width else p[np.arange(width) % len(p)]
    return out, counts
