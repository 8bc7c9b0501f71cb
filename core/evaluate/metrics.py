"""Retrieval metrics from a probe x gallery distance matrix: CMC rank-k, AP/mAP, INP/mINP.

Definitions (shared by Simple-CCReID, OpenGait's ``evaluate_rank`` and Ye et al.'s mINP):

* each probe's gallery is sorted by ascending distance, ties kept in gallery order;
* *junk* gallery entries (e.g. same id seen by the same camera) are removed from that probe's
  ranking before anything is counted, so every rank below is a position among the kept entries;
* a *match* is a kept entry with the probe's label; a probe without any match is skipped (it is
  counted, never averaged);
* CMC rank-k = share of probes whose first match sits in the top k;
* AP = mean over the matches of precision at each match (hits so far / position);
* INP = number of matches / position of the last (hardest) match.

Work is done in chunks of probes so the sorted index block stays small for large galleries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

import numpy as np
import torch

JunkSpec = Union[None, np.ndarray, torch.Tensor, Callable[[np.ndarray], Any]]
DEFAULT_CHUNK_ELEMS = 1 << 22      # sorted (rows x gallery) entries per chunk, about 32 MB of int64 indices


@dataclass
class RankingMetrics:
    """Per-probe results; probes without a match have ``first_hit`` -1 and NaN ``ap``/``inp``."""

    first_hit: np.ndarray      # (n,) int64: 0-based rank of the first match among kept entries
    ap: np.ndarray             # (n,) float64
    inp: np.ndarray            # (n,) float64
    num_gallery: int

    @property
    def num_probes(self) -> int:
        return int(len(self.first_hit))

    @property
    def valid(self) -> np.ndarray:
        return self.first_hit >= 0

    @property
    def num_valid(self) -> int:
        return int(self.valid.sum())

    @property
    def num_skipped(self) -> int:
        return self.num_probes - self.num_valid

    def cmc(self, k: int, over: str = "valid") -> float | None:
        """Fraction of probes matched within the top ``k``.

        ``over='valid'`` divides by probes that have a match (re-id convention: the others are
        skipped); ``over='all'`` divides by every probe, counting the unmatched as misses (the
        GREW / OpenGait real-scene convention). None when there is nothing to divide by.
        """
        if k < 1:
            raise ValueError(f"rank k must be >= 1, got {k}")
        if over not in ("valid", "all"):
            raise ValueError(f"over must be 'valid' or 'all', got {over!r}")
        denom = self.num_valid if over == "valid" else self.num_probes
        if denom == 0:
            return None
        hits = int(((self.first_hit >= 0) & (self.first_hit < k)).sum())
        return hits / denom

    @property
    def mAP(self) -> float | None:
        return float(np.mean(self.ap[self.valid])) if self.num_valid else None

    @property
    def mINP(self) -> float | None:
        return float(np.mean(self.inp[self.valid])) if self.num_valid else None

    def summary(self, ks: Sequence[int] = (1, 5, 10, 20), over: str = "valid") -> dict[str, Any]:
        """Plain dict in percent: ``rank-k`` for each k, ``mAP``, ``mINP`` and the probe counts."""
        pct = lambda v: None if v is None else 100.0 * v      # noqa: E731
        out: dict[str, Any] = {f"rank-{k}": pct(self.cmc(k, over)) for k in ks}
        out.update({"mAP": pct(self.mAP), "mINP": pct(self.mINP), "num_probes": self.num_probes,
                    "num_valid": self.num_valid, "num_skipped": self.num_skipped})
        return out

    @staticmethod
    def concat(parts: Sequence["RankingMetrics"]) -> "RankingMetrics":
        """Join results of consecutive probe chunks scored against the same gallery."""
        if not parts:
            return RankingMetrics(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0)
        if len({p.num_gallery for p in parts}) != 1:
            raise ValueError("cannot join ranking results computed against different galleries")
        return RankingMetrics(np.concatenate([p.first_hit for p in parts]), np.concatenate([p.ap for p in parts]),
                              np.concatenate([p.inp for p in parts]), parts[0].num_gallery)


def encode_labels(probe_labels: Any, gallery_labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels of any type -> int64 codes on a shared vocabulary (compared as strings, so 7 == '7')."""
    p = np.asarray(probe_labels).astype(str).reshape(-1)
    g = np.asarray(gallery_labels).astype(str).reshape(-1)
    _, inv = np.unique(np.concatenate([p, g]), return_inverse=True)
    inv = inv.astype(np.int64)
    return inv[:len(p)], inv[len(p):]


def _junk_rows(junk: JunkSpec, rows: np.ndarray, ng: int, device: torch.device) -> torch.Tensor | None:
    if junk is None:
        return None
    block = junk(rows) if callable(junk) else junk[rows[0]:rows[-1] + 1]
    block = torch.as_tensor(np.asarray(block) if not isinstance(block, torch.Tensor) else block, device=device)
    if block.shape != (len(rows), ng):
        raise ValueError(f"junk mask for probes {rows[0]}..{rows[-1]} has shape {tuple(block.shape)}, "
                         f"expected {(len(rows), ng)}")
    return block.bool()


def rank_metrics(dist: Any, probe_labels: Any, gallery_labels: Any, *, junk: JunkSpec = None,
                 chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> RankingMetrics:
    """Per-probe first-match rank, AP and INP of a (n_probe, n_gallery) distance matrix.

    ``junk``: None, a boolean (n_probe, n_gallery) mask of entries to drop from each probe's
    ranking, or a function mapping an array of probe row indices to that block of the mask
    (so huge masks never need to exist whole). ``dist`` may be a numpy array or a tensor on any
    device; the work stays on that device.
    """
    d = dist if isinstance(dist, torch.Tensor) else torch.as_tensor(np.asarray(dist))
    if d.dim() != 2:
        raise ValueError(f"distance matrix must be 2-D (probes x gallery), got shape {tuple(d.shape)}")
    nq, ng = d.shape
    q_codes, g_codes = encode_labels(probe_labels, gallery_labels)
    if len(q_codes) != nq or len(g_codes) != ng:
        raise ValueError(f"distance matrix is {nq} x {ng} but there are {len(q_codes)} probe labels and "
                         f"{len(g_codes)} gallery labels")
    if junk is not None and not callable(junk) and tuple(np.shape(junk)) != (nq, ng):
        raise ValueError(f"junk mask has shape {tuple(np.shape(junk))}, expected {(nq, ng)}")
    dev = d.device
    q = torch.as_tensor(q_codes, device=dev)
    g = torch.as_tensor(g_codes, device=dev)
    first = np.full(nq, -1, np.int64)
    ap = np.full(nq, np.nan)
    inp = np.full(nq, np.nan)
    step = max(1, chunk_elems // max(ng, 1))
    for s in range(0, nq, step):
        rows = np.arange(s, min(nq, s + step))
        dc = d[s:s + len(rows)]
        if torch.isnan(dc).any():
            raise ValueError(f"distance matrix has NaN values (probe rows {s}..{rows[-1]})")
        order = torch.sort(dc, dim=1, stable=True).indices
        match = g[order] == q[s:s + len(rows), None]
        jb = _junk_rows(junk, rows, ng, dev)
        if jb is not None:
            keep = ~torch.gather(jb, 1, order)
            match &= keep
            pos = keep.long().cumsum(1) - 1              # rank among kept entries
        else:
            pos = None
        # Matches are few per probe: work on the list of hits (row-major, so in rank order per row).
        r, c = match.nonzero(as_tuple=True)
        hit_pos = (c if pos is None else pos[r, c]).double()
        nhit = torch.bincount(r, minlength=len(rows))
        begin = nhit.cumsum(0) - nhit
        ordinal = torch.arange(len(r), device=dev) - begin[r] + 1      # 1st, 2nd, ... hit of its row
        ap_c = torch.zeros(len(rows), dtype=torch.float64, device=dev).index_add_(0, r, ordinal / (hit_pos + 1))
        ok = (nhit > 0).cpu().numpy()
        nh = nhit.cpu().numpy()[ok]
        b = begin.cpu().numpy()[ok]
        hp = hit_pos.cpu().numpy()
        first[rows[ok]] = hp[b].astype(np.int64)
        ap[rows[ok]] = ap_c.cpu().numpy()[ok] / nh
        inp[rows[ok]] = nh / (hp[b + nh - 1] + 1)
    return RankingMetrics(first, ap, inp, int(ng))


def top_k(dist: Any, k: int, chunk_elems: int = DEFAULT_CHUNK_ELEMS) -> np.ndarray:
    """(n_probe, min(k, n_gallery)) gallery indices, nearest first, ties kept in gallery order."""
    d = dist if isinstance(dist, torch.Tensor) else torch.as_tensor(np.asarray(dist))
    nq, ng = d.shape
    k = min(int(k), ng)
    step = max(1, chunk_elems // max(ng, 1))
    out = [torch.sort(d[s:s + step], dim=1, stable=True).indices[:, :k].cpu().numpy() for s in range(0, nq, step)]
    return np.concatenate(out).astype(np.int64) if out else np.zeros((0, k), np.int64)
