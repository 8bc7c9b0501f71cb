"""The data path's typed settings: which frames a batch takes and which augmentation steps apply.

They live with the data code that reads them (frame sampling, transforms); the training config
(``core.train.config``) embeds them as its ``sampling`` and ``augment`` sections and validates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAMPLE_TYPES = ("fixed_unordered", "fixed_ordered", "unfixed_unordered", "unfixed_ordered", "all_ordered")


@dataclass
class SamplingConfig:
    """Frames taken from each sequence of a training batch; names follow OpenGait's CollateFn."""

    type: str = "fixed_unordered"
    frames: int = 30          # frames_num_fixed
    frames_min: int = 20      # frames_num_min (unfixed)
    frames_max: int = 40      # frames_num_max (unfixed)
    skip: int = 0             # frames_skip_num (ordered): window of frames + skip to pick from
    all_limit: int = 0        # frames_all_limit (all): keep at most this many, 0 = no limit


# Parameters each augmentation takes, with OpenGait's defaults.
AUGMENT_PARAMS: dict[str, dict[str, Any]] = {
    "cut": {},
    "flip": {"prob": 0.5},
    "rotate": {"prob": 0.5, "degree": 10.0},
    "erase": {"prob": 0.5, "sl": 0.05, "sh": 0.2, "r1": 0.3, "per_frame": False},
    "perspective": {"prob": 0.5},
}


@dataclass(frozen=True)
class AugmentStep:
    """One step of the ordered augmentation list. Fields a type does not use stay at their defaults."""

    type: str
    prob: float = 0.5
    degree: float = 10.0
    sl: float = 0.05
    sh: float = 0.2
    r1: float = 0.3
    per_frame: bool = False


def side_cut(width: int) -> int:
    """Columns dropped on each side: 10 per 64 of width, as aligned silhouettes are padded there."""
    return width // 64 * 10
