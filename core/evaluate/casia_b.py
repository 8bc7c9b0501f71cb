"""CASIA-B single-view-gallery protocol: rank-1 per (probe view, gallery view), NM/BG/CL.

Gallery is nm-01..nm-04; probes are nm-05/06 (NM), bg-01/02 (BG), cl-01/02 (CL). Each cell is
rounded to two decimals in percent before averaging, as published CASIA-B numbers are, so the
results here compare directly with the literature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.evaluate.distance import part_distance
from core.records import CASIA_B_GALLERY, CASIA_B_PROBES


def _mean(values: list[float]) -> float | None:
    # Unrounded, as OpenGait's means are; only the cells carry two decimals.
    return float(np.mean(values)) if values else None


def protocol_arrays(embeddings: Any, labels: Any, types: Any, views: Any, device: str | torch.device = "cpu"):
    """Checked inputs of the protocol: (embeddings tensor, labels, lower-case types, views, the
    views that hold gallery or probe sequences, gallery row indices)."""
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    labels = np.asarray(labels).astype(str)
    types = np.char.lower(np.asarray(types).astype(str))
    views = np.asarray(views).astype(str)
    if not (len(emb) == len(labels) == len(types) == len(views)):
        raise ValueError(f"embeddings ({len(emb)}), labels ({len(labels)}), types ({len(types)}) and "
                         f"views ({len(views)}) must have the same length")
    all_probe = [t for ts in CASIA_B_PROBES.values() for t in ts]
    in_protocol = np.isin(types, CASIA_B_GALLERY) | np.isin(types, all_probe)
    view_list = sorted(set(views[in_protocol].tolist()))
    return emb, labels, types, views, view_list, np.flatnonzero(np.isin(types, CASIA_B_GALLERY))


def evaluate_casia_b(embeddings: Any, labels: Any, types: Any, views: Any, metric: str = "euc",
                     device: str | torch.device = "cpu") -> dict[str, Any]:
    """Rank-1 accuracies (percent) of embeddings (n, C, P) with per-sequence labels/types/views.

    Identical-view pairs are excluded (cross-view only) unless the data has a single view, in
    which case they are all there is and the ``note`` says so. Conditions or views without
    probes or gallery come out as None.
    """
    emb, labels, types, views, view_list, gal = protocol_arrays(embeddings, labels, types, views, device)
    single = len(view_list) == 1

    result: dict[str, Any] = {"metric": metric, "views": view_list, "per_view": {}, "matrix": {}, "counts": {}}
    for cond, ptypes in CASIA_B_PROBES.items():
        prb = np.flatnonzero(np.isin(types, ptypes))
        mat = np.full((len(view_list), len(view_list)), np.nan)
        if len(prb) and len(gal):
            # One distance block per condition; view pairs are slices of it.
            nearest = _nearest_per_gallery_view(emb, prb, gal, views, view_list, metric)
            for i, pv in enumerate(view_list):
                pmask = views[prb] == pv
                for j, gv in enumerate(view_list):
                    if (i == j and not single) or not pmask.any() or nearest[j] is None:
                        continue
                    hits = labels[gal][nearest[j][pmask]] == labels[prb][pmask]
                    mat[i, j] = np.round(hits.mean() * 100, 2)
        per_view = {pv: _mean([v for v in mat[i] if not np.isnan(v)]) for i, pv in enumerate(view_list)}
        result["per_view"][cond] = per_view
        result[cond] = _mean([v for v in per_view.values() if v is not None])
        result["matrix"][cond] = [[None if np.isnan(v) else float(v) for v in row] for row in mat]
        result["counts"][cond] = int(len(prb))
    result["counts"]["gallery"] = int(len(gal))
    result["note"] = ("only one view present: same-view pairs are included" if single else
                      "cross-view rank-1: identical-view pairs excluded")
    return result


def _nearest_per_gallery_view(emb: torch.Tensor, prb: np.ndarray, gal: np.ndarray, views: np.ndarray,
                              view_list: list[str], metric: str) -> list[np.ndarray | None]:
    """For each gallery view: index into ``gal`` of every probe's nearest gallery sequence of that view."""
    dist = part_distance(emb[torch.as_tensor(prb)], emb[torch.as_tensor(gal)], metric)
    out: list[np.ndarray | None] = []
    for gv in view_list:
        cols = np.flatnonzero(views[gal] == gv)
        if not len(cols):
            out.append(None)
            continue
        best = dist[:, torch.as_tensor(cols, device=dist.device)].argmin(1).cpu().numpy()
        out.append(cols[best])
    return out
