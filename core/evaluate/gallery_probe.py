"""Ranking math of the OU-MVLP, SUSTech1K, CCPG and Gait3D protocols and of the generic
gallery/probe protocol for custom data (facts in :mod:`core.benchmarks`).

* ``single_view_gallery``: for each condition, each probe view against each gallery view, the
  share of *all* that view's probes whose label is among the k nearest gallery sequences of that
  gallery view, in percent rounded to two decimals; identical-view pairs excluded (unless the data
  has one view); a probe view's number is the mean over gallery views, a condition's the mean
  over probe views (OpenGait's single-view-gallery evaluation).
* ``reid``: one ranking of probes against the whole gallery; ``junk`` entries removed first;
  rank-k, mAP and mINP over the probes that have a match (``over='valid'``), or rank-k over all
  probes (``over='all'``, a probe with no gallery sequence of its id is a miss).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

from core.evaluate.distance import part_distance
from core.evaluate.metrics import rank_metrics

Selector = Callable[[np.ndarray], np.ndarray]     # types -> boolean mask


def select(keys: Sequence[str], substring: bool = False) -> Selector:
    """Rows whose type is one of ``keys`` (or, ``substring``, contains one: SUSTech1K's test)."""
    keys = tuple(keys)

    def mask(types: np.ndarray) -> np.ndarray:
        if substring:
            return np.any([np.char.find(types, k) >= 0 for k in keys], axis=0) if len(types) else np.zeros(0, bool)
        return np.isin(types, keys)
    return mask


def _strings(*arrays: Any) -> list[np.ndarray]:
    return [np.asarray(a).astype(str).reshape(-1) for a in arrays]


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def single_view_gallery(embeddings: Any, labels: Any, types: Any, views: Any, *, gallery: Selector,
                        probes: dict[str, Selector], ranks: int = 1, metric: str = "euc",
                        device: str | torch.device = "cpu", exclude_views: Sequence[str] = ()) -> dict[str, Any]:
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    labels, types, views = _strings(labels, types, views)
    gal = gallery(types)
    used = gal.copy()
    for sel in probes.values():
        used |= sel(types)
    view_list = sorted(v for v in set(views[used].tolist()) if v not in set(exclude_views))
    single = len(view_list) == 1
    res: dict[str, Any] = {"metric": metric, "views": view_list, "per_view": {}, "matrix": {}, "ranks": {},
                           "counts": {"gallery": int(gal.sum())}}
    for cond, sel in probes.items():
        prb = sel(types)
        res["counts"][cond] = int(prb.sum())
        cells = np.full((len(view_list), len(view_list), ranks), np.nan)
        for i, pv in enumerate(view_list):
            p_rows = np.flatnonzero(prb & (views == pv))
            if not len(p_rows):
                continue
            for j, gv in enumerate(view_list):
                g_rows = np.flatnonzero(gal & (views == gv))
                if (i == j and not single) or not len(g_rows):
                    continue
                dist = part_distance(emb[torch.as_tensor(p_rows, device=emb.device)],
                                     emb[torch.as_tensor(g_rows, device=emb.device)], metric)
                k = min(ranks, len(g_rows))
                idx = torch.sort(dist, dim=1, stable=True).indices[:, :k].cpu().numpy()
                hit = np.cumsum(labels[g_rows][idx] == labels[p_rows][:, None], axis=1) > 0
                acc = np.round(hit.sum(0) * 100 / len(p_rows), 2)
                cells[i, j, :k] = acc
                cells[i, j, k:] = acc[-1]     # a gallery smaller than k: deeper ranks hold what it has
        per_rank = []
        for r in range(ranks):
            per_view = {pv: _mean([v for v in cells[i, :, r] if not np.isnan(v)]) for i, pv in enumerate(view_list)}
            per_rank.append(per_view)
        res["per_view"][cond] = per_rank[0]
        res[cond] = _mean([v for v in per_rank[0].values() if v is not None])
        res["ranks"][cond] = {f"rank-{r + 1}": _mean([v for v in per_rank[r].values() if v is not None])
                              for r in range(ranks)}
        res["matrix"][cond] = [[None if np.isnan(v) else float(v) for v in row] for row in cells[:, :, 0]]
    res["note"] = ("only one view present: same-view pairs are included" if single else
                   "rank-k per probe view against each other gallery view: identical-view pairs excluded")
    return res


def same_id_and(labels_q: np.ndarray, labels_g: np.ndarray, key_q: np.ndarray, key_g: np.ndarray):
    """Junk: gallery entries of the probe's id with the probe's camera (or view)."""
    def block(rows: np.ndarray) -> np.ndarray:
        return (labels_q[rows, None] == labels_g[None, :]) & (key_q[rows, None] == key_g[None, :])
    return block


def reid(embeddings: Any, labels: Any, probe: np.ndarray, gallery: np.ndarray, *, ks: Sequence[int],
         metric: str = "euc", junk_key: Any = None, over: str = "valid",
         device: str | torch.device = "cpu") -> dict[str, Any]:
    """Rank-k / mAP / mINP (percent) of the ``probe`` rows against the ``gallery`` rows (boolean
    masks). ``junk_key``: per-row camera or view; same-id entries sharing it are removed."""
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    (labels,) = _strings(labels)
    pi, gi = np.flatnonzero(probe), np.flatnonzero(gallery)
    out: dict[str, Any] = {"num_probe": int(len(pi)), "num_gallery": int(len(gi))}
    if not len(pi) or not len(gi):
        out.update({f"rank-{k}": None for k in ks})
        out.update(mAP=None, mINP=None, note="no probe or no gallery sequence")
        return out
    dist = part_distance(emb[torch.as_tensor(pi, device=emb.device)], emb[torch.as_tensor(gi, device=emb.device)],
                         metric)
    junk = None
    if junk_key is not None:
        (key,) = _strings(junk_key)
        junk = same_id_and(labels[pi], labels[gi], key[pi], key[gi])
    m = rank_metrics(dist, labels[pi], labels[gi], junk=junk)
    s = m.summary(ks, over=over)
    out.update({k: s[k] for k in (*(f"rank-{k}" for k in ks), "mAP", "mINP")})
    out["num_probe_without_match"] = s["num_skipped"]
    return out
