"""CCVID protocol, with Simple-CCReID's ``tools/eval_metrics.py`` semantics.

* Features are flattened to one vector per tracklet, L2-normalised and ranked by cosine
  similarity (distance = -similarity), as Simple-CCReID does with its 1-D features.
* Camera id = the number after ``_`` in the tracklet folder (``session1/001_02`` -> 2), plus 12
  in ``session3`` (session 3 re-records session-1 people with the same cameras numbered anew).
* General: a query's gallery entries with its id *and* its camera are junk (removed from its
  ranking); the other entries of its id are matches.
* Clothes-changing (CC): entries of the query's id with its clothes are junk as well, so only
  other-camera, other-clothes entries of its id count.
* Same-clothes (SC, Simple-CCReID's third report): entries of its id in other clothes are junk.
* Queries left without a match are skipped and counted; CMC and AP are computed after junk
  removal, AP being the mean of precision at each match.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.evaluate.distance import part_distance
from core.evaluate.metrics import RankingMetrics, rank_metrics

MODES = ("general", "cc", "sc")
METRICS = ("cos", "euc")
QUERY_ROLES = ("query", "probe")
SESSION3_CAMERA_OFFSET = 12


def camera_from_tracklet(tracklet: str) -> int:
    """``session3/001_02`` -> 14: the number after the first ``_`` (+12 in session 3).

    A bare folder name (``001_02``) has no session, so it gets no offset.
    """
    parts = str(tracklet).replace("\\", "/").strip("/").split("/")
    if "_" not in parts[-1]:
        raise ValueError(f"not a CCVID tracklet path (session<k>/<pid>_<NN>): {tracklet!r}")
    try:
        cam = int(parts[-1].split("_", 1)[1])
    except ValueError:
        raise ValueError(f"no camera number after '_' in CCVID tracklet {tracklet!r}") from None
    return cam + (SESSION3_CAMERA_OFFSET if len(parts) > 1 and parts[-2] == "session3" else 0)


def ccvid_distance(query: Any, gallery: Any, metric: str = "cos", device: str | torch.device = "cpu") -> torch.Tensor:
    """(nq, ...) x (ng, ...) -> (nq, ng). 'cos': minus the cosine similarity of the flattened,
    L2-normalised features (Simple-CCReID); 'euc': OpenGait's part-averaged Euclidean distance."""
    if metric not in METRICS:
        raise ValueError(f"CCVID metric must be one of {METRICS}, got {metric!r}")
    q = torch.as_tensor(np.asarray(query, dtype=np.float32), device=device)
    g = torch.as_tensor(np.asarray(gallery, dtype=np.float32), device=device)
    if metric == "euc":
        return part_distance(q, g, "euc")
    q = F.normalize(q.reshape(len(q), -1), dim=1)
    g = F.normalize(g.reshape(len(g), -1), dim=1)
    return -(q @ g.T)


def junk_fn(mode: str, q_pids: np.ndarray, g_pids: np.ndarray, q_cams: np.ndarray, g_cams: np.ndarray,
            q_clothes: np.ndarray, g_clothes: np.ndarray):
    """Row-block builder of the junk mask for ``mode`` (only entries of the query's own id are ever junk)."""
    if mode not in MODES:
        raise ValueError(f"CCVID mode must be one of {MODES}, got {mode!r}")

    def block(rows: np.ndarray) -> np.ndarray:
        same_id = q_pids[rows, None] == g_pids[None, :]
        same_cam = q_cams[rows, None] == g_cams[None, :]
        if mode == "general":
            return same_id & same_cam
        same_clothes = q_clothes[rows, None] == g_clothes[None, :]
        if mode == "cc":
            return same_id & (same_cam | same_clothes)
        return same_id & (same_cam | ~same_clothes)
    return block


def ccvid_rank_metrics(dist: Any, q_pids: Any, g_pids: Any, q_cams: Any, g_cams: Any, q_clothes: Any, g_clothes: Any,
                       mode: str = "general") -> RankingMetrics:
    """Simple-CCReID ``evaluate`` (mode 'general') / ``evaluate_with_clothes`` ('cc', 'sc') on a distance matrix."""
    s = lambda a: np.asarray(a).astype(str).reshape(-1)     # noqa: E731  (ids compared as strings)
    qp, gp, qc, gc, qk, gk = map(s, (q_pids, g_pids, q_cams, g_cams, q_clothes, g_clothes))
    qc, gc = _normalise_cameras(qc), _normalise_cameras(gc)
    return rank_metrics(dist, qp, gp, junk=junk_fn(mode, qp, gp, qc, gc, qk, gk))


def _normalise_cameras(cams: np.ndarray) -> np.ndarray:
    # '02' and '2' are the same camera; tracklet paths are accepted too.
    out = []
    for c in cams:
        if "/" in c or "_" in c:
            out.append(str(camera_from_tracklet(c)))
        else:
            out.append(str(int(c)) if c.strip().lstrip("-").isdigit() else c)
    return np.array(out, dtype=str)


def evaluate_ccvid(embeddings: Any, labels: Any, roles: Any, cameras: Any, clothes: Any, *, metric: str = "cos",
                   ks: Sequence[int] = (1, 5, 10, 20), device: str | torch.device = "cpu") -> dict[str, Any]:
    """General, clothes-changing and same-clothes rank-k / mAP / mINP (percent) of query vs gallery.

    ``roles`` marks each row 'query' (or 'probe') or 'gallery'; other rows are ignored. ``cameras``
    are camera numbers (or tracklet paths), ``clothes`` any clothes ids (e.g. ``001_2``).
    """
    emb = np.asarray(embeddings)
    labels, roles, cameras, clothes = (np.asarray(a).astype(str).reshape(-1) for a in (labels, roles, cameras, clothes))
    n = len(emb)
    lengths = {"labels": len(labels), "roles": len(roles), "cameras": len(cameras), "clothes": len(clothes)}
    bad = {k: v for k, v in lengths.items() if v != n}
    if bad:
        raise ValueError(f"embeddings have {n} rows but " + ", ".join(f"{k} has {v}" for k, v in bad.items()))
    roles = np.char.lower(np.char.strip(roles))
    qi = np.flatnonzero(np.isin(roles, QUERY_ROLES))
    gi = np.flatnonzero(roles == "gallery")
    result: dict[str, Any] = {"protocol": "ccvid", "metric": metric, "num_query": int(len(qi)),
                              "num_gallery": int(len(gi))}
    if not len(qi) or not len(gi):
        for mode in MODES:
            result[mode] = None
        result["note"] = "no query or no gallery rows (roles must be 'query'/'probe' and 'gallery')"
        return result
    dist = ccvid_distance(emb[qi], emb[gi], metric, device)
    for mode in MODES:
        m = ccvid_rank_metrics(dist, labels[qi], labels[gi], cameras[qi], cameras[gi], clothes[qi], clothes[gi], mode)
        result[mode] = m.summary(ks)
    return result
