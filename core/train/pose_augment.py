"""Training augmentations of keypoint sequences, for the skeleton-only models (GaitGraph2, GaitTR).

They are OpenGait's pose transforms, applied in the listed order to each sampled sequence of a
batch, on the device, drawing from torch's generator (seeded and checkpointed with the run):

- ``flip_sequence`` (prob): the sequence's frames in reverse order (FlipSequence);
- ``inverse_poses`` (prob): each frame on its own, left and right joints swapped (InversePosesPre);
- ``joint_noise`` (std): one Gaussian offset per joint for x and y, the same in every frame (JointNoise);
- ``point_noise`` (std): Gaussian noise on every value, confidence included (PointNoise);
- ``random_move`` (range [x, y]): one uniform shift of the whole sequence (RandomMove).

Filling undetected joints (NormalizeEmpty) happens when the keypoints are read
(core.train.keypoints), since it always comes first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from core.errors import ConfigError
from core.train.config_values import as_float

# type -> (its parameter, default)
POSE_STEPS: dict[str, tuple[str, Any]] = {"flip_sequence": ("prob", 0.5), "inverse_poses": ("prob", 0.5),
                                          "joint_noise": ("std", 0.25), "point_noise": ("std", 0.01),
                                          "random_move": ("range", (4.0, 1.0))}


@dataclass(frozen=True)
class PoseStep:
    type: str
    value: Any   # prob, std or (x, y) range, as POSE_STEPS says

    def to_dict(self) -> dict[str, Any]:
        key = POSE_STEPS[self.type][0]
        return {"type": self.type, key: list(self.value) if isinstance(self.value, tuple) else self.value}


def pose_steps(v: Any) -> tuple[PoseStep, ...]:
    """Validate a ``pose_augment`` list (``[{"type": "joint_noise", "std": 0.25}, ...]``)."""
    if not isinstance(v, (list, tuple)):
        raise ConfigError(f"pose_augment: expected a list of steps, got {v!r}")
    out = []
    for i, item in enumerate(v):
        where = f"pose_augment[{i}]"
        if isinstance(item, PoseStep):
            out.append(item)
            continue
        if not isinstance(item, dict) or item.get("type") not in POSE_STEPS:
            raise ConfigError(f"{where}: expected a mapping with type one of {', '.join(POSE_STEPS)}, got {item!r}")
        key, default = POSE_STEPS[item["type"]]
        extra = sorted(set(item) - {"type", key, "value"})   # 'value': the config written back (asdict)
        if extra:
            raise ConfigError(f"{where}: {item['type']} takes only {key!r}, not {extra}")
        raw = item.get(key, item.get("value", default))
        if key == "range":
            if not isinstance(raw, (list, tuple)) or len(raw) != 2:
                raise ConfigError(f"{where}.range: expected [x, y], got {raw!r}")
            value: Any = (as_float(f"{where}.range[0]", raw[0], 0.0), as_float(f"{where}.range[1]", raw[1], 0.0))
        else:
            value = as_float(f"{where}.{key}", raw, 0.0, 1.0 if key == "prob" else None)
        out.append(PoseStep(item["type"], value))
    return tuple(out)


def _reverse(x: Tensor, lengths: Tensor) -> Tensor:
    """Each sequence's real frames reversed; padding stays where it was."""
    t = torch.arange(x.shape[1], device=x.device)
    n = lengths.to(x.device)[:, None]
    idx = torch.where(t[None] < n, n - 1 - t[None], t[None])
    return torch.gather(x, 1, idx[:, :, None, None].expand_as(x))


def augment_poses(x: Tensor, lengths: Tensor | None, steps: tuple[PoseStep, ...], flip: tuple[int, ...]) -> Tensor:
    """(N, T, V, 3) keypoints -> augmented copy; ``flip`` is the skeleton's left/right joint permutation."""
    if not steps:
        return x
    x = x.float().clone()
    n, t, v, _ = x.shape
    if lengths is None:
        lengths = torch.full((n,), t, dtype=torch.long)
    for s in steps:
        if s.type == "flip_sequence":
            pick = (torch.rand(n, device=x.device) <= s.value)[:, None, None, None]
            x = torch.where(pick, _reverse(x, lengths), x)
        elif s.type == "inverse_poses":
            pick = (torch.rand(n, t, device=x.device) <= s.value)[:, :, None, None]
            x = torch.where(pick, x[:, :, list(flip)], x)
        elif s.type == "joint_noise":
            noise = torch.zeros(n, 1, v, 3, device=x.device)
            noise[..., :2] = torch.randn(n, 1, v, 2, device=x.device) * s.value
            x = x + noise
        elif s.type == "point_noise":
            x = x + torch.randn_like(x) * s.value
        elif s.type == "random_move":
            shift = torch.zeros(n, 1, 1, 3, device=x.device)
            for axis, r in enumerate(s.value):
                shift[..., axis] = (torch.rand(n, 1, 1, device=x.device) * 2 - 1) * r
            x = x + shift
    return x
