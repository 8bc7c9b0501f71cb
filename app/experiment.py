"""Runs page · the augmentation experiment: train one model with and without the merged clothing
variants of a dataset and read the protocol's headline numbers (CASIA-B: NM / BG / CL rank-1) side
by side."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from app import common as C
from core.studio import Studio, protocols as P


def columns(headline_keys) -> list[str]:
    return ["experiment", "state"] + [f"{c} {k}" for c in headline_keys for k in ("with", "without", "Δ")]


COLUMNS = columns(P.get(P.DEFAULT_PROTOCOL).headline({}))
EMPTY = pd.DataFrame({c: [] for c in COLUMNS})


def start(studio, ds_id, preset, iterations):
    ds = studio.dataset(C.as_int(ds_id))
    if ds is None:
        return C.error_md("choose a converted dataset with merged variants")
    try:
        overrides = {"iterations": int(iterations)} if C.as_int(iterations) else {}
        runs = studio.start_experiment(ds["id"], preset=preset or "demo-cpu", **overrides)
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    names = [studio.run(r)["name"] for r in runs]
    return C.ok_md(f"queued {names[0]} and {names[1]}: same model, config and seed; the second leaves the "
                   "merged variants out. Results appear below when both finish.")


def table(studio) -> pd.DataFrame:
    rows = studio.experiment_rows()
    if not rows:
        return EMPTY
    # Pairs on datasets of different protocols have different headline columns: keep them all.
    cols = list(dict.fromkeys(c for row in rows for c in row))
    return pd.DataFrame(rows, columns=cols)


def refresh(studio, sig):
    rows = studio.experiment_rows()
    new = json.dumps(rows, default=str)
    if new == sig:
        return {"dataset": gr.skip(), "table": gr.skip(), "sig": sig}
    return {"dataset": gr.update(choices=C.dataset_choices(studio, "converted")), "table": table(studio), "sig": new}


def build(studio, timer: gr.Timer) -> None:
    sig = gr.State("")
    with gr.Accordion("Augmentation experiment: with vs without the accepted variants", open=False,
                      elem_id="experiment-box"):
        with gr.Row():
            ds = gr.Dropdown(C.dataset_choices(studio, "converted"), label="Dataset (with merged variants)", scale=3,
                             elem_id="experiment-dataset")
            preset = gr.Dropdown(Studio.presets(), value="demo-cpu", label="Preset", scale=2)
            iters = gr.Number(value=None, precision=0, label="Iterations (blank: the preset's)", scale=1)
            go = gr.Button("Train both", variant="primary", scale=1, elem_id="experiment-start")
        msg = gr.HTML(elem_id="experiment-msg")
        out = gr.Dataframe(value=table(studio), interactive=False, label="Rank-1 (%) with, without, difference",
                           elem_id="experiment-table")
    go.click(lambda *a: start(studio, *a), inputs=[ds, preset, iters], outputs=msg)
    timer.tick(**C.wire(lambda s: refresh(studio, s), {"dataset": ds, "table": out, "sig": sig}), inputs=sig,
               show_progress="hidden", concurrency_limit=None)
