"""The Runs page's heavy material, computed once when an evaluation finishes and kept beside its
embeddings: ``eval/report.json`` holds the CMC curves and the PCA map of the test sequences.

Rendering a run's page then reads one small JSON file instead of loading the embeddings, importing
torch for the ranking and projecting thousands of sequences on every open. The file names the
embeddings file version (size, mtime) and step it was made from; a page finding it out of step
with the embeddings recomputes from them instead (an older evaluation, a copied run folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import write_json
from core.evaluate.report import CMCCurve, load_saved_embeddings, pca_2d, sequence_conditions

REPORT_FILE = "report.json"
MAX_CMC_RANK = 100            # CCVID / GREW rank sequences; the curve's tail past this says little
HOVER = ("labels", "seqs", "views", "roles")


def report_path(embeddings_file: str | Path) -> Path:
    return Path(embeddings_file).with_name(REPORT_FILE)


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def write_report(embeddings_file: str | Path, res: dict[str, Any]) -> Path:
    """Compute the CMC curves and the PCA map from ``embeddings_file`` and store them beside it."""
    from core.evaluate import protocols

    emb = Path(embeddings_file)
    arrays = load_saved_embeddings(emb)
    protocol = str(arrays.get("protocol") or protocols.protocol_of(res) or protocols.DEFAULT_PROTOCOL)
    metric = str(arrays.get("metric") or res.get("metric") or "") or None
    out: dict[str, Any] = {"embeddings": _stamp(emb), "step": res.get("step"), "protocol": protocol,
                           "metric": metric}
    try:
        curves = protocols.cmc_curves(arrays, protocol, metric=metric, max_rank=MAX_CMC_RANK)
        out["cmc"] = [c.to_dict() for c in curves.values()]
    except ValueError as exc:
        out["cmc_error"] = str(exc)
    n = len(arrays["embeddings"])
    proj = pca_2d(arrays["embeddings"])
    out["pca"] = {"xy": np.round(proj.xy, 5).tolist(), "explained": proj.explained,
                  "conditions": sequence_conditions(arrays).tolist(),
                  **{k: (np.asarray(arrays[k]).astype(str).tolist() if arrays.get(k) is not None else [""] * n)
                     for k in HOVER}}
    return write_json(report_path(emb), out)


def read_report(embeddings_file: str | Path) -> dict[str, Any] | None:
    """The stored report of this exact embeddings file version, with CMC curves as ``CMCCurve``;
    None when there is none or it was made from another version."""
    emb = Path(embeddings_file)
    try:
        stored = json.loads(report_path(emb).read_text())
        if stored.get("embeddings") != _stamp(emb):
            return None
    except (OSError, ValueError):
        return None
    stored["cmc"] = {c["name"]: CMCCurve(c["name"], np.asarray(c["values"], dtype=float), int(c["num_probes"]),
                                         c.get("unit", "identity"), list(c.get("notes") or []))
                     for c in stored.get("cmc") or []}
    return stored
