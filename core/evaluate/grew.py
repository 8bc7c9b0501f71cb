"""GREW protocol: rank-1/5/10/20 of probes against the gallery, and the official submission CSV.

Follows OpenGait's real-scene evaluation: part-averaged Euclidean distance by default, every
probe with a known id counts (one whose id has no gallery sequence is simply a miss), each
rank-k is rounded to two decimals in percent. The submission lists, per probe sequence, the ids
of its 20 nearest gallery *sequences* in order (an id may repeat), under the header
``videoId,rank1,...,rank20``; numeric ids are written as integers (``00042`` -> ``42``) as
OpenGait's writer does.

Official GREW test probes hide their identity (sid ``HIDDEN_SID``): for those only the CSV can
be produced, and rank-k is computed over the probes whose ids are known, if any.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from core.atomic import write_text
from core.evaluate.distance import part_distance
from core.evaluate.metrics import RankingMetrics, rank_metrics, top_k
from core.readers.base import HIDDEN_SID

PROBE_ROLES = ("probe", "query")
SUBMISSION_TOP = 20
HIDDEN_LABELS = (HIDDEN_SID, "")
PROBE_CHUNK = 1024          # probes per distance block: bounds memory on GREW's large test set


def _csv_cell(value: Any, what: str) -> str:
    text = str(value)
    if any(c in text for c in ",\n\r\""):
        raise ValueError(f"{what} {text!r} cannot be written to a CSV cell (comma, quote or newline)")
    return text


def submission_id(label: Any) -> str:
    """Gallery id as OpenGait writes it: numeric ids as integers, others unchanged."""
    text = str(label).strip()
    return str(int(text)) if text.isdigit() else text


def write_grew_submission(path: str | Path, probe_seqs: Sequence[Any], ranked_gallery_ids: Any) -> Path:
    """Write ``videoId,rank1..rankK`` then one row per probe, atomically; K = columns given (20 officially)."""
    ranked = np.asarray(ranked_gallery_ids, dtype=object)
    probe_seqs = list(probe_seqs)
    if ranked.ndim != 2:
        if ranked.size or probe_seqs:
            raise ValueError(f"ranked_gallery_ids must be 2-D (probes x ranks), got shape {ranked.shape}")
        ranked = np.zeros((0, 0), dtype=object)
    if len(ranked) != len(probe_seqs):
        raise ValueError(f"{len(probe_seqs)} probe sequences but {len(ranked)} rows of ranked gallery ids")
    k = ranked.shape[1]
    lines = [",".join(["videoId"] + [f"rank{i}" for i in range(1, k + 1)])]
    for seq, row in zip(probe_seqs, ranked):
        lines.append(",".join([_csv_cell(seq, "probe sequence id")] +
                              [_csv_cell(submission_id(x), "gallery id") for x in row]))
    return write_text(path, "\n".join(lines) + "\n")


def evaluate_grew(embeddings: Any, labels: Any, roles: Any, seqs: Any, *, metric: str = "euc",
                  ks: Sequence[int] = (1, 5, 10, 20), submission: str | Path | None = None,
                  top: int = SUBMISSION_TOP, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Rank-k (percent, two decimals) of probes with known ids; optionally the submission CSV for all probes."""
    emb = torch.as_tensor(np.asarray(embeddings, dtype=np.float32), device=device)
    labels, roles, seqs = (np.asarray(a).astype(str).reshape(-1) for a in (labels, roles, seqs))
    n = len(emb)
    bad = {k: len(v) for k, v in (("labels", labels), ("roles", roles), ("seqs", seqs)) if len(v) != n}
    if bad:
        raise ValueError(f"embeddings have {n} rows but " + ", ".join(f"{k} has {v}" for k, v in bad.items()))
    roles = np.char.lower(np.char.strip(roles))
    pi = np.flatnonzero(np.isin(roles, PROBE_ROLES))
    gi = np.flatnonzero(roles == "gallery")
    hidden = np.isin(labels[pi], HIDDEN_LABELS)
    result: dict[str, Any] = {"protocol": "grew", "metric": metric, "num_probe": int(len(pi)),
                              "num_gallery": int(len(gi)), "num_hidden_probe": int(hidden.sum())}
    if not len(gi):
        raise ValueError("GREW evaluation needs gallery rows (role 'gallery')")
    g_emb, g_lab = emb[torch.as_tensor(gi, device=emb.device)], labels[gi]
    parts: list[RankingMetrics] = []
    ranked: list[np.ndarray] = []
    for s in range(0, len(pi), PROBE_CHUNK):
        rows = pi[s:s + PROBE_CHUNK]
        dist = part_distance(emb[torch.as_tensor(rows, device=emb.device)], g_emb, metric)
        if submission is not None:
            ranked.append(g_lab[top_k(dist, top)])
        known = ~hidden[s:s + PROBE_CHUNK]
        if known.any():
            parts.append(rank_metrics(dist[torch.as_tensor(known, device=dist.device)], labels[rows[known]], g_lab))
    m = RankingMetrics.concat(parts)
    if m.num_probes:
        # OpenGait divides by every probe and rounds each rank to two decimals.
        for k in ks:
            result[f"rank-{k}"] = round(100.0 * m.cmc(k, over="all"), 2)
        result["mAP"] = None if m.mAP is None else 100.0 * m.mAP
        result["mINP"] = None if m.mINP is None else 100.0 * m.mINP
        result["num_probe_without_gallery_id"] = m.num_skipped
    else:
        for k in ks:
            result[f"rank-{k}"] = None
        result["note"] = "probe identities are hidden: only the submission file can be produced"
    if submission is not None:
        probe_ranked = np.concatenate(ranked) if ranked else np.zeros((0, min(top, len(gi))), dtype=object)
        result["submission"] = str(write_grew_submission(submission, seqs[pi], probe_ranked))
        if probe_ranked.shape[1] < SUBMISSION_TOP:
            result["submission_note"] = (f"only {probe_ranked.shape[1]} ranks per probe (the gallery is smaller "
                                         f"than {SUBMISSION_TOP}); the official server expects {SUBMISSION_TOP}")
    return result
