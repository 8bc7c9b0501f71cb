"""2D pose: COCO-17 keypoints per frame, (T, 17, 3) float32 as x, y, conf in pixels of the frame.

Backends (``make_pose_backend(name, **options)``) have ``name``, ``model_free``, ``label`` and
``keypoints(frames, boxes=None, *, masks=None)``:

* ``transformers``: a ViTPose network (:mod:`core.pose.vitpose`); needs ``model`` (a folder made by
  ``save_pretrained`` or a cached hub id such as ``usyd-community/vitpose-base-simple``).

Also here: GREW's ``_2d_pose.txt`` files (:mod:`core.pose.posefile`), SkeletonGait-style pose
heatmaps (:mod:`core.pose.heatmaps`) and a skeleton overlay for previews (:mod:`core.pose.draw`).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from core.errors import ConfigError

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
#: Limbs as OpenGait's SkeletonGait pretreatment draws them (note: no shoulder-shoulder bone).
COCO_LIMBS = ((0, 1), (0, 2), (1, 3), (2, 4), (0, 5), (5, 7), (7, 9), (0, 6), (6, 8), (8, 10),
              (5, 11), (11, 13), (13, 15), (6, 12), (12, 14), (14, 16), (11, 12))


class PoseBackend(Protocol):
    name: str
    model_free: bool
    label: str

    def keypoints(self, frames: np.ndarray, boxes: np.ndarray | None = None, *,
                  masks: np.ndarray | None = None) -> np.ndarray: ...


def _transformers(**options: Any) -> PoseBackend:
    from core.pose.vitpose import VitPoseBackend
    from core.hub import build_model_backend

    return build_model_backend(VitPoseBackend, "pose", options)


BACKENDS: dict[str, Callable[..., PoseBackend]] = {"transformers": _transformers}


def make_pose_backend(name: str, **options: Any) -> PoseBackend:
    """Build the pose backend called ``name`` with its ``options`` (ConfigError for an unknown name)."""
    key = (name or "").strip().lower()
    if key not in BACKENDS:
        raise ConfigError(f"unknown pose backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[key](**options)


__all__ = ["BACKENDS", "COCO_KEYPOINTS", "COCO_LIMBS", "PoseBackend", "make_pose_backend"]
