"""Runs page · the augmentation experiment: train one model with and without the merged clothing
variants of a dataset, once per seed, and read the protocol's headline numbers (CASIA-B: NM / BG /
CL rank-1) as mean ± spread over the seeds, with each seed's row below."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from app import common as C
from core.studio import Studio, options, protocols as P


HEADLINE = tuple(P.get(P.DEFAULT_PROTOCOL).headline({}))
ARMS = ("with", "without", "Δ")
SEED_COLUMNS = ["experiment", "seed", "state"] + [f"{c} {k}" for c in HEADLINE for k in ARMS]
SUMMARY_COLUMNS = ["experiment", "seeds", "condition", "with", "without", "Δ", "|mean Δ| > s.d. of Δ"]
DEFAULT_SEEDS = options.defaults("experiment")["seeds"]


def start(studio, ds_id, preset, iterations, seeds=DEFAULT_SEEDS):
    ds = studio.dataset(C.as_int(ds_id))
    if ds is None:
        return C.error_md("choose a converted dataset with merged variants")
    try:
        overrides = {"iterations": int(iterations)} if C.as_int(iterations) else {}
        n = C.as_int(seeds) or DEFAULT_SEEDS
        runs = studio.start_experiment(ds["id"], preset=preset or "demo-cpu", seeds=n, **overrides)
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    base = studio.run(runs[0])["name"].split("--seed")[0]
    return C.ok_md(f"queued {len(runs)} runs of experiment {base}: seeds 0–{n - 1}, each trained with and without "
                   "the merged variants (same model and config); they train one after another. The summary "
                   "below fills in as seeds finish.")


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=columns)
    # Experiments on datasets of different protocols have different headline columns: keep them all.
    return pd.DataFrame(rows, columns=list(dict.fromkeys(c for row in rows for c in row)))


def _num(col: str, v):
    # two decimals throughout (a bare 87.5 or 0 beside 96.53 reads as a different precision)
    if v is None or isinstance(v, str) or col in ("seed",):
        return v
    return f"{v:+.2f}" if col.endswith(" Δ") else f"{v:.2f}"


def table(studio) -> pd.DataFrame:
    """One row per experiment and seed."""
    return _frame([{k: _num(k, v) for k, v in r.items()} for r in studio.experiment_rows()], SEED_COLUMNS)


def summary(studio) -> pd.DataFrame:
    """One row per experiment and condition: mean ± spread over its finished seeds. Long form, so the
    with / without / Δ of CL stay on screen instead of past a dozen wide columns."""
    rows = []
    for s in studio.experiment_summary():
        conds = [k[: -len(" Δ beyond spread")] for k in s if k.endswith(" Δ beyond spread")]
        rows += [{"experiment": s["experiment"], "seeds": s["seeds"], "condition": c, "with": s[f"{c} with"],
                  "without": s[f"{c} without"], "Δ": s[f"{c} Δ"],
                  "|mean Δ| > s.d. of Δ": s[f"{c} Δ beyond spread"] or "— (needs 2 finished seeds)"} for c in conds]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def refresh(studio, sig):
    rows = studio.experiment_rows()
    new = json.dumps(rows, default=str)
    if new == sig:
        return {"dataset": gr.skip(), "summary": gr.skip(), "table": gr.skip(), "sig": sig}
    return {"dataset": gr.update(choices=C.dataset_choices(studio, "converted")), "summary": summary(studio),
            "table": table(studio), "sig": new}


def build(studio, timer: gr.Timer) -> None:
    sig = gr.State("")
    with gr.Accordion("Augmentation experiment: with vs without the accepted variants", open=False,
                      elem_id="experiment-box"):
        with gr.Row():
            ds = gr.Dropdown(C.dataset_choices(studio, "converted"), label="Dataset (with merged variants)", scale=3,
                             elem_id="experiment-dataset")
            preset = gr.Dropdown(Studio.presets(), value="demo-cpu", label="Preset", scale=2)
            iters = gr.Textbox(value="", placeholder="the preset's", label="Iterations (blank: the preset's)", scale=1)
            seeds = gr.Number(value=DEFAULT_SEEDS, precision=0, minimum=1, label="Seeds", scale=1,
                              elem_id="experiment-seeds", info=options.field_help("experiment", "seeds"))
            go = gr.Button("Train both arms per seed", variant="primary", scale=1, elem_id="experiment-start")
        msg = gr.HTML(elem_id="experiment-msg")
        summ = gr.Dataframe(value=summary(studio), interactive=False, elem_id="experiment-summary",
                            label="Rank-1 (%) mean ± spread (sample s.d. over seeds): with, without, difference")
        out = gr.Dataframe(value=table(studio), interactive=False, label="Each seed: rank-1 (%) with, without, "
                           "difference", elem_id="experiment-table")
    go.click(lambda *a: start(studio, *a), inputs=[ds, preset, iters, seeds], outputs=msg)
    timer.tick(**C.wire(lambda s: refresh(studio, s), {"dataset": ds, "summary": summ, "table": out, "sig": sig}),
               inputs=sig,
               show_progress="hidden", concurrency_limit=None)
