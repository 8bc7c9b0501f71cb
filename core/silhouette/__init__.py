"""Silhouette backends: RGB frames (T, H, W, 3) uint8 -> binary masks (T, H, W) uint8 in {0, 255}.

Every backend object has ``name``, ``model_free`` (True when no learned model is involved, so a
result can be labelled honestly), ``label`` (human text for the UI and the manifest) and
``masks(frames)``. Backends are interchangeable; pick one by name:

* ``bgsub``: background subtraction for a static camera (:mod:`core.silhouette.bgsub`); options are
  the fields of :class:`~core.silhouette.bgsub.BgSubParams` plus ``background_image``.
* ``segmentation``: a transformers semantic-segmentation network
  (:mod:`core.silhouette.segmentation`); needs ``model`` (a folder or a cached hub id).

Silhouettes that come with the source ("given") are the converter's business, not a backend.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import numpy as np

from core.errors import ConfigError


class SilhouetteBackend(Protocol):
    name: str
    model_free: bool
    label: str

    def masks(self, frames: np.ndarray) -> np.ndarray: ...


def _bgsub(**options: Any) -> SilhouetteBackend:
    from core.silhouette.bgsub import BackgroundSubtraction

    return BackgroundSubtraction(**options)


def _segmentation(**options: Any) -> SilhouetteBackend:
    from core.hub import build_model_backend
    from core.silhouette.segmentation import SegmentationBackend

    return build_model_backend(SegmentationBackend, "segmentation", options)


BACKENDS: dict[str, Callable[..., SilhouetteBackend]] = {"bgsub": _bgsub, "segmentation": _segmentation}


def make_silhouette_backend(name: str, **options: Any) -> SilhouetteBackend:
    """Build the backend called ``name`` with its ``options`` (ConfigError for an unknown name)."""
    key = (name or "").strip().lower()
    if key not in BACKENDS:
        raise ConfigError(f"unknown silhouette backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[key](**options)


__all__ = ["BACKENDS", "SilhouetteBackend", "make_silhouette_backend"]
