"""Runs page · the runs table and the run pickers: one row per run and evaluation, labels with headlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from core.studio import protocols as P, runs

# The runs table has a column per headline number of the default protocol (CASIA-B: NM, BG, CL);
# other protocols' headlines go in the evaluation text.
TABLE_PROTOCOL = P.get(P.DEFAULT_PROTOCOL)
CONDS = tuple(TABLE_PROTOCOL.headline({}))
RUN_HEADERS = ["id", "run", "model", "dataset", "status", "step", "evaluation", *CONDS, "created (UTC)"]


def headline_text(res: dict) -> str:
    parts = [f"{k} {v:.1f}%" for k, v in P.headline(res).items() if isinstance(v, (int, float))]
    return " · ".join(parts)


def no_rows(*columns: str) -> pd.DataFrame:
    # Named columns, so an empty table shows headers rather than Gradio's placeholder 1, 2, 3.
    return pd.DataFrame(columns=list(columns))


def num(v: Any) -> float | None:
    return round(float(v), 2) if isinstance(v, (int, float)) else None


def dataset_name(studio, run: dict) -> str:
    ds = studio.dataset(run["dataset_id"]) if run.get("dataset_id") else None
    return ds["name"] if ds else Path(str((run.get("config") or {}).get("dataset", "")) or "?").name


def runs_table(studio) -> pd.DataFrame:
    """One row per run and evaluation (a refined evaluation gets its own row under the plain one)."""
    trains, evals = studio.newest_jobs("train"), studio.newest_jobs("eval")
    rows = []
    for r in studio.runs():
        cfg = r.get("config") or {}
        base = {"id": r["id"], "run": r["name"], "model": r["model"], "dataset": dataset_name(studio, r),
                "status": runs.status(r, trains.get(r["id"]), evals.get(r["id"])),
                "step": f"{r['step']}/{cfg.get('iterations', '?')}",
                "created (UTC)": (r.get("created") or "").replace("T", " ").rstrip("Z")}
        evs = runs.evaluations(runs.results(r))
        if not evs:
            rows.append({**base, "evaluation": "not evaluated"})
        for label, res in evs:
            proto = P.protocol_of(res)
            row = {**base, "evaluation": f"{label} · {proto}" if proto else label}
            if proto == TABLE_PROTOCOL.name:
                row.update({c: num(v) for c, v in P.headline(res).items()})
            else:
                row["evaluation"] += f" · {headline_text(res)}"
            rows.append(row)
    return pd.DataFrame(rows, columns=RUN_HEADERS)


def run_choices(studio) -> list[tuple[str, int]]:
    out = []
    for r in studio.runs():
        res = runs.results(r)
        text = headline_text(res) if res else ""
        out.append((f"#{r['id']} {r['name']} · {r['state']}" + (f" · {text}" if text else ""), r["id"]))
    return out


def default_run(studio) -> int | None:
    """The newest run with results, else the newest run."""
    all_runs = studio.runs()
    for r in all_runs:
        if runs.results(r):
            return r["id"]
    return all_runs[0]["id"] if all_runs else None
