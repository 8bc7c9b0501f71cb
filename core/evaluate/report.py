"""Report material computed from saved test embeddings: CMC curves and 2-D projections.

Pure functions on arrays (no files written, no UI): the Runs page and notebooks call them on the
``eval/embeddings.npz`` an evaluation keeps. torch is imported only by the CMC functions, so a UI
can ask what projections exist without loading it.

CMC under the CASIA-B protocol follows its single-view-gallery structure: for each (probe view,
gallery view) pair, identical views excluded, a probe's rank is the position of its identity
among the gallery identities of that view ordered by their nearest sequence (so rank 1 is the
protocol's nearest-sequence rank-1). Cells are in percent rounded to two decimals and averaged
over gallery views, then probe views, exactly as the rank-1 numbers are, so the curve's first
point equals the reported rank-1 and its last is 100 when every probe identity is in every
gallery view. Other protocols use their own ranking (``core.evaluate.metrics``): CCVID per
tracklet after junk removal, skipped queries left out; GREW per gallery sequence over all probes
with known ids.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import ConfigError, InputError
from core.records import CASIA_B_PROBES

PROJECTIONS = ("pca", "tsne")
EXACT_SVD_LIMIT = 1024      # below this min(n, dim) a full SVD is cheap; above, a randomised one


@dataclass
class CMCCurve:
    """Cumulative match characteristic: ``values[k-1]`` = percent of probes matched within rank k."""

    name: str
    values: np.ndarray
    num_probes: int
    unit: str = "identity"      # what a rank counts: gallery identities or gallery sequences
    notes: list[str] = field(default_factory=list)

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self.values) + 1)

    def at(self, k: int) -> float | None:
        if not len(self.values):
            return None
        return float(self.values[min(k, len(self.values)) - 1])

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": [float(v) for v in self.values], "num_probes": self.num_probes,
                "unit": self.unit, "notes": list(self.notes)}


def cmc_from_ranks(first_hit: Any, max_rank: int | None = None, over: str = "all") -> np.ndarray:
    """Percent of probes whose first match is within rank 1..K, from 0-based ranks (-1: no match).

    ``over='all'`` counts probes without a match as misses; ``'valid'`` leaves them out. K is
    ``max_rank``, or one past the largest rank seen.
    """
    r = np.asarray(first_hit, dtype=np.int64).reshape(-1)
    if over not in ("all", "valid"):
        raise ValueError(f"over must be 'all' or 'valid', got {over!r}")
    hit = r[r >= 0]
    k = int(max_rank) if max_rank else (int(hit.max()) + 1 if len(hit) else 1)
    denom = len(r) if over == "all" else len(hit)
    if denom == 0:
        return np.zeros(k)
    counts = np.bincount(np.minimum(hit, k), minlength=k + 1)[:k]     # ranks >= K never count
    return 100.0 * np.cumsum(counts) / denom


def identity_ranks(dist: np.ndarray, probe_labels: Any, gallery_labels: Any) -> np.ndarray:
    """0-based rank of each probe's identity among the gallery identities ordered by nearest sequence.

    -1 where the probe's identity is not in the gallery. Ties between identities are broken by
    identity order (deterministic; real embeddings practically never tie).
    """
    d = np.asarray(dist, dtype=np.float64)
    plab = np.asarray(probe_labels).astype(str)
    glab = np.asarray(gallery_labels).astype(str)
    ids, inv = np.unique(glab, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(inv[order])) + 1]
    per_id = np.minimum.reduceat(d[:, order], starts, axis=1) if d.shape[0] else np.zeros((0, len(ids)))
    pos = np.clip(np.searchsorted(ids, plab), 0, max(len(ids) - 1, 0))
    present = (ids[pos] == plab) if len(ids) else np.zeros(len(plab), bool)
    true_d = per_id[np.arange(len(plab)), pos][:, None] if len(ids) else np.zeros((len(plab), 1))
    cols = np.arange(len(ids))[None, :]
    ahead = (per_id < true_d) | ((per_id == true_d) & (cols < pos[:, None]))
    return np.where(present, ahead.sum(1), -1).astype(np.int64)


def cmc_casia_b(embeddings: Any, labels: Any, types: Any, views: Any, metric: str = "euc",
                max_rank: int | None = None, device: str | torch.device = "cpu") -> dict[str, CMCCurve]:
    """CMC per condition (NM/BG/CL) under CASIA-B's single-view-gallery protocol; conditions
    without probes or gallery are left out."""
    import torch

    from core.evaluate.casia_b import protocol_arrays
    from core.evaluate.distance import part_distance

    emb, labels, types, views, view_list, gal = protocol_arrays(embeddings, labels, types, views, device)
    single = len(view_list) == 1
    n_ids = len(set(labels[gal].tolist()))
    k = min(int(max_rank), n_ids) if max_rank else n_ids
    out: dict[str, CMCCurve] = {}
    if not len(gal) or k == 0:
        return out
    for cond, ptypes in CASIA_B_PROBES.items():
        prb = np.flatnonzero(np.isin(types, ptypes))
        if not len(prb):
            continue
        dist = part_distance(emb[torch.as_tensor(prb)], emb[torch.as_tensor(gal)], metric).cpu().numpy()
        per_probe_view = []
        for pv in view_list:
            pmask = views[prb] == pv
            if not pmask.any():
                continue
            cells = []
            for gv in view_list:
                cols = np.flatnonzero(views[gal] == gv)
                if (gv == pv and not single) or not len(cols):
                    continue
                ranks = identity_ranks(dist[pmask][:, cols], labels[prb][pmask], labels[gal][cols])
                cells.append(np.round(cmc_from_ranks(ranks, k, over="all"), 2))
            if cells:
                per_probe_view.append(np.mean(cells, axis=0))
        if per_probe_view:
            notes = ["only one view present: same-view pairs are included"] if single else []
            out[cond] = CMCCurve(cond, np.mean(per_probe_view, axis=0), int(len(prb)), "identity", notes)
    return out


def cmc_ccvid(embeddings: Any, labels: Any, roles: Any, cameras: Any, clothes: Any, metric: str = "cos",
              max_rank: int | None = None, modes: Sequence[str] = ("general", "cc"),
              device: str | torch.device = "cpu") -> dict[str, CMCCurve]:
    """CMC per CCVID mode over gallery tracklets (junk removed; queries without a match skipped)."""
    from core.evaluate.ccvid import QUERY_ROLES, ccvid_distance, ccvid_rank_metrics

    labels, roles, cameras, clothes = (np.asarray(a).astype(str).reshape(-1) for a in (labels, roles, cameras, clothes))
    roles = np.char.lower(np.char.strip(roles))
    qi, gi = np.flatnonzero(np.isin(roles, QUERY_ROLES)), np.flatnonzero(roles == "gallery")
    if not len(qi) or not len(gi):
        return {}
    emb = np.asarray(embeddings)
    dist = ccvid_distance(emb[qi], emb[gi], metric, device)
    out = {}
    for mode in modes:
        m = ccvid_rank_metrics(dist, labels[qi], labels[gi], cameras[qi], cameras[gi], clothes[qi], clothes[gi], mode)
        k = min(int(max_rank), len(gi)) if max_rank else len(gi)
        notes = [f"{m.num_skipped} queries without a match skipped"] if m.num_skipped else []
        out[mode] = CMCCurve(mode, cmc_from_ranks(m.first_hit, k, over="valid"), m.num_valid, "sequence", notes)
    return out


def cmc_grew(embeddings: Any, labels: Any, roles: Any, metric: str = "euc", max_rank: int | None = None,
             chunk: int = 1024, device: str | torch.device = "cpu") -> dict[str, CMCCurve]:
    """CMC of probes with known ids over gallery sequences, every such probe counted (GREW's convention)."""
    import torch

    from core.evaluate.distance import part_distance
    from core.evaluate.grew import HIDDEN_LABELS, PROBE_ROLES
    from core.evaluate.metrics import RankingMetrics, rank_metrics

    labels, roles = (np.asarray(a).astype(str).reshape(-1) for a in (labels, roles))
    roles = np.char.lower(np.char.strip(roles))
    pi = np.flatnonzero(np.isin(roles, PROBE_ROLES) & ~np.isin(labels, HIDDEN_LABELS))
    gi = np.flatnonzero(roles == "gallery")
    if not len(pi) or not len(gi):
        return {}
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    g = emb[torch.as_tensor(gi)]
    parts = [rank_metrics(part_distance(emb[torch.as_tensor(pi[s:s + chunk])], g, metric), labels[pi[s:s + chunk]],
                          labels[gi]) for s in range(0, len(pi), chunk)]
    m = RankingMetrics.concat(parts)
    k = min(int(max_rank), len(gi)) if max_rank else len(gi)
    return {"probe": CMCCurve("probe", cmc_from_ranks(m.first_hit, k, over="all"), m.num_probes, "sequence")}



def cmc_reid(embeddings: Any, labels: Any, probe: np.ndarray, gallery: np.ndarray, metric: str = "euc",
             max_rank: int | None = None, junk_key: Any = None, name: str = "probe") -> CMCCurve | None:
    """CMC of the ``probe`` rows against the ``gallery`` rows (boolean masks), same-id entries
    sharing ``junk_key`` (camera or view) removed; every probe counted. None when a side is empty."""
    import torch

    from core.evaluate.distance import part_distance
    from core.evaluate.gallery_probe import same_id_and
    from core.evaluate.metrics import rank_metrics

    labels = np.asarray(labels).astype(str).reshape(-1)
    pi, gi = np.flatnonzero(probe), np.flatnonzero(gallery)
    if not len(pi) or not len(gi):
        return None
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32))
    dist = part_distance(emb[torch.as_tensor(pi)], emb[torch.as_tensor(gi)], metric)
    junk = None
    if junk_key is not None:
        key = np.asarray(junk_key).astype(str).reshape(-1)
        junk = same_id_and(labels[pi], labels[gi], key[pi], key[gi])
    m = rank_metrics(dist, labels[pi], labels[gi], junk=junk)
    k = min(int(max_rank), len(gi)) if max_rank else len(gi)
    return CMCCurve(name, cmc_from_ranks(m.first_hit, k, over="all"), m.num_probes, "sequence")



# -- saved embeddings ---------------------------------------------------------------------------

def load_saved_embeddings(path: str | Path) -> dict[str, Any]:
    """Every array of an embeddings ``.npz`` (no pickle); 0-d entries (protocol, metric, step)
    come back as plain Python values. Errors name the file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "no saved embeddings (evaluate the run to create them)")
    try:
        with np.load(p, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(p, f"not a readable embeddings .npz ({exc})") from None
    if "embeddings" not in out:
        raise InputError(p, f"has no 'embeddings' array (found: {', '.join(out) or 'nothing'})")
    return {k: (v.item() if v.ndim == 0 else v) for k, v in out.items()}


def sequence_conditions(arrays: dict[str, Any]) -> np.ndarray:
    """A condition per row for display: the saved ``conditions``, else the type's prefix
    (``nm-05`` -> ``nm``), else the role (query/gallery)."""
    n = len(arrays["embeddings"])
    for key in ("conditions", "types"):
        vals = arrays.get(key)
        if vals is not None and len(vals) == n and any(str(v) for v in vals):
            vals = np.asarray(vals).astype(str)
            return np.char.partition(vals, "-")[:, 0] if key == "types" else vals
    roles = arrays.get("roles")
    return np.asarray(roles).astype(str) if roles is not None and len(roles) == n else np.full(n, "", dtype=str)


# -- 2-D projection -----------------------------------------------------------------------------

@dataclass
class Projection:
    xy: np.ndarray                          # (n, 2)
    method: str
    explained: tuple[float, float] | None   # PCA: share of the variance on each axis


def projection_methods() -> list[str]:
    """PCA always; t-SNE only where scikit-learn is installed (it is not a dependency)."""
    try:
        import sklearn.manifold  # noqa: F401
    except ImportError:
        return ["pca"]
    return ["pca", "tsne"]


def _flat(embeddings: Any) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"embeddings must be n x C [x P], got shape {x.shape}")
    return x.reshape(len(x), -1)


def _top_directions(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` leading right singular vectors of centred ``x`` and their singular values."""
    if min(x.shape) <= EXACT_SVD_LIMIT:
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        return vt[:k], s[:k]
    # Randomised range finder with power iterations: exact enough for a few axes, and it avoids a
    # full SVD of a (sequences x C*P) matrix that is 5,000 x 4,096 on CASIA-B.
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(x @ rng.standard_normal((x.shape[1], k + 20)))
    for _ in range(6):
        q, _ = np.linalg.qr(x @ (x.T @ q))
    _, s, vt = np.linalg.svd(q.T @ x, full_matrices=False)
    return vt[:k], s[:k]


def pca_2d(embeddings: Any, seed: int = 0) -> Projection:
    """Project onto the first two principal axes (numpy only); axis signs are fixed so the same
    embeddings always give the same picture."""
    x = _flat(embeddings)
    n = len(x)
    if n < 2:
        return Projection(np.zeros((n, 2)), "pca", None)
    x = x - x.mean(0)
    comps, s = _top_directions(x, 2, seed)
    comps = np.vstack([comps, np.zeros((2 - len(comps), x.shape[1]))])      # a 1-D input has one axis
    comps *= np.where(comps[np.arange(2), np.abs(comps).argmax(1)] < 0, -1.0, 1.0)[:, None]
    total = float((x * x).sum())
    sv = np.r_[s, np.zeros(2 - len(s))]
    explained = tuple(float(v * v / total) if total > 0 else 0.0 for v in sv[:2])
    return Projection(x @ comps.T, "pca", explained)  # type: ignore[arg-type]


def tsne_2d(embeddings: Any, seed: int = 0, perplexity: float = 30.0) -> Projection:
    """t-SNE through scikit-learn, on the first 50 principal components (its usual preparation)."""
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise ConfigError("projection: t-SNE needs scikit-learn, which is not installed; use 'pca'") from None
    x = _flat(embeddings)
    n = len(x)
    if n < 4:
        return Projection(pca_2d(x, seed).xy, "tsne", None)
    x = x - x.mean(0)
    if x.shape[1] > 50:
        x = x @ _top_directions(x, 50, seed)[0].T
    xy = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca", random_state=seed).fit_transform(x)
    return Projection(np.asarray(xy, dtype=np.float64), "tsne", None)


def project_2d(embeddings: Any, method: str = "pca", seed: int = 0) -> Projection:
    """2-D coordinates of each embedding row; ``method`` 'pca' (default) or 'tsne'."""
    m = str(method or "pca").lower().replace("-", "")
    if m == "pca":
        return pca_2d(embeddings, seed)
    if m == "tsne":
        return tsne_2d(embeddings, seed)
    raise ConfigError(f"projection: unknown method {method!r}; available: {projection_methods()}")
