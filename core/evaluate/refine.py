"""Test-time refinement (DLCR's prediction refinement): a query's embedding is averaged with the
embeddings of its own generated clothing variants, so the query is described by several outfits
of the same walk rather than one. Only queries are refined; the gallery is left as it is.

Variants for refinement are made from the *queries* (never merged into training); a query with
no variant keeps its plain embedding, so refinement changes results only where variants exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import cv2
import numpy as np
import torch
from torch import nn

from core.train.inputs import cut_frames, to_model_input

Key = tuple[str, str]


def read_variant_frames(folder: str | Path) -> np.ndarray:
    """Aligned silhouettes of one variant (``<variant>/frames/*.png``) as (T, H, W) uint8."""
    files = sorted(Path(folder, "frames").glob("*.png"))
    frames = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files]
    frames = [f for f in frames if f is not None]
    return np.stack(frames) if frames else np.zeros((0, 1, 1), np.uint8)


@torch.no_grad()
def embed_arrays(model: nn.Module, sequences: Iterable[np.ndarray], device: str | torch.device = "cpu", *,
                 resize_to: tuple[int, int] | None = None, autocast_dtype: torch.dtype | None = None) -> np.ndarray:
    """Embeddings (n, C, P) of whole sequences given as (T, H, W) uint8 arrays, one at a time
    (variants have different lengths; there are few of them next to a test set)."""
    device = torch.device(device)
    model.eval()
    out = []
    for frames in sequences:
        x = to_model_input(torch.from_numpy(cut_frames(frames)[None]).to(device), resize_to)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            out.append(model(x)["embeddings"].float().cpu().numpy()[0])
    return np.stack(out) if out else np.zeros((0,), np.float32)


def refine_queries(embeddings: np.ndarray, keys: list[Key], roles: Iterable[str],
                   variant_embeddings: Mapping[Key, np.ndarray],
                   query_roles: tuple[str, ...] = ("probe", "query")) -> tuple[np.ndarray, dict[str, Any]]:
    """Embeddings with each query's row replaced by the mean of itself and its variants' rows.

    Returns (refined copy, {'refined_queries', 'variants_used', 'queries'})."""
    refined = np.array(embeddings, dtype=np.float32, copy=True)
    roles = list(roles)
    n_refined = n_used = n_queries = 0
    for i, (key, role) in enumerate(zip(keys, roles)):
        if role not in query_roles:
            continue
        n_queries += 1
        extra = variant_embeddings.get(key)
        if extra is None or len(extra) == 0:
            continue
        refined[i] = np.concatenate([refined[i][None], np.asarray(extra, np.float32)]).mean(0)
        n_refined += 1
        n_used += len(extra)
    return refined, {"queries": n_queries, "refined_queries": n_refined, "variants_used": n_used}
