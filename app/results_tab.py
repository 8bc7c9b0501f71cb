"""Step 5 · Runs: every training run in one table, their curves overlaid, and one run in depth.

Everything is read from the catalog and the run folders on each render (nothing lives only in
the page), so a reload or an app restart shows the same thing. The timer re-renders a part only
when what it shows changed: the table when a run or job changes, the curves when the compared
runs log new steps, the selected run's panels when its results, files or jobs change.

The table and pickers are ``app.runs_tables``; one run's panels are ``app.run_detail``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app import common as C, experiment
from app import runs_figures as F
from app.run_detail import HEAVY, PANELS, cmc_and_scatter, config_text, get_run, heavy, panels
from app.runs_tables import RUN_HEADERS, default_run, run_choices, runs_table
from core.studio import runs

DEFAULT_COMPARE = 3          # runs overlaid on first load
CURVES = ("loss_plot", "lr_plot", "acc_plot", "other_plot")     # in runs_figures.FAMILIES order
NO_RUNS = ('<div class="hg-empty"><b>No training runs yet.</b><br>Start one in <b>4 · Train</b>; its loss curves '
           'appear here while it trains and its results when it finishes.</div>')


def _ids(values) -> list[int]:
    out = []
    for v in values or []:
        i = C.as_int(v)
        if i is not None and i not in out:
            out.append(i)
    return out


# -- curves -----------------------------------------------------------------------------------------

def curves(studio, run_ids) -> dict[str, Any]:
    """The ``CURVES`` figures (loss, lr, accuracy, other) overlaying the runs in ``run_ids``."""
    series = []
    for rid in _ids(run_ids):
        run = studio.run(rid)
        if run is not None:
            series.append((f"#{rid} {run['name']}", studio.run_metrics(rid)))
    figs = F.curves_figures(series)
    return {name: figs[f] for name, f in zip(CURVES, F.FAMILIES)}


# -- actions ----------------------------------------------------------------------------------------

def evaluate(studio, run_id) -> str:
    """Queue an evaluation of the run's latest checkpoint (results and embeddings land on the run)."""
    run = get_run(studio, run_id)
    ok, why = studio.can_evaluate(run)
    if not ok:
        return C.error_md(why)
    try:
        job_id = studio.evaluate_run(run["id"])
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    busy = [j for j in studio.jobs(states=runs.ACTIVE) if j["slot"] == "device" and j["id"] != job_id]
    wait = f"; it waits for job #{busy[-1]['id']} to finish" if busy else ""
    return C.ok_md(f"evaluating run {run['name']} (job #{job_id}){wait}")


def export_opengait(studio, run_id) -> dict[str, Any]:
    """Write ``<run_dir>/export/opengait.pt`` and offer it for download: the message and the file."""
    run = get_run(studio, run_id)
    if run is None:
        return {"export_msg": C.error_md("select a run first"), "exported": None}
    if runs.checkpoint_file(run) is None:
        return {"export_msg": C.error_md(f"run {run['name']} has no checkpoint to export yet"), "exported": None}
    try:
        path = studio.export_opengait(run["id"])
    except Exception as exc:  # noqa: BLE001 - shown on the page, never a traceback
        return {"export_msg": C.report_error(exc), "exported": None}
    return {"export_msg": C.ok_md(f"wrote {path} (load it in OpenGait with restore_hint)"), "exported": str(path)}


def import_opengait(studio, checkpoint: str, config: str, dataset: str) -> str:
    """An OpenGait checkpoint (its model zoo's, or an OpenGait run's) with its YAML, as an imported
    run on a converted dataset: it then evaluates and exports like any run."""
    missing = [label for label, v in (("checkpoint", checkpoint), ("YAML", config), ("dataset", dataset))
               if not (v or "").strip()]
    if missing:
        return C.error_md(f"give the {', '.join(missing)} path")
    try:
        run_id = studio.import_opengait_run(checkpoint.strip(), config.strip(), dataset.strip())
    except Exception as exc:  # noqa: BLE001 - shown on the page, never a traceback
        return C.report_error(exc)
    run = studio.run(run_id)
    return C.ok_md(f"imported run {run['name']} (#{run_id}, {run['model']}, step {run.get('step')}): "
                   "pick it above and press Evaluate")


# -- polling --------------------------------------------------------------------------------------------

def _digest(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _mtime(path: str | Path | None) -> int | None:
    try:
        return Path(path).stat().st_mtime_ns if path else None
    except OSError:
        return None


def signature(studio, run_id: int | None, compare: list[int], method: str, fmt: str) -> dict[str, str]:
    """Cheap fingerprints of what each part of the page shows; a part re-renders when its own changes."""
    all_runs = studio.runs()
    jobs = [(j["id"], j["state"], j.get("run_id")) for k in ("train", "eval") for j in studio.jobs(kind=k, limit=50)]
    # The dropdowns' labels carry no step: a training run must not re-send them (and disturb a user
    # picking from them) every tick; the table, which shows the step, follows it.
    choices = _digest([(r["id"], r["name"], r["state"], _digest(r.get("results"))) for r in all_runs])
    table = _digest([[(r["id"], r["step"]) for r in all_runs], choices, jobs])
    metrics = {}
    for rid in compare:
        m = studio.run_metrics(rid)
        metrics[rid] = {k: (len(v), v[-1][0]) for k, v in m.items()}
    run = studio.run(run_id)
    detail = None
    if run is not None:
        rid = run["id"]
        job_states = [(j[0], j[1]) for j in jobs if j[2] == rid]
        # No step here either (the progress bar shows it): the panels follow checkpoints and results.
        detail = [rid, run["state"], _digest(run.get("results")), method, fmt,
                  _mtime(runs.embeddings_file(run)), _mtime(runs.checkpoint_file(run)), _mtime(runs.export_file(run)),
                  job_states]
    return {"choices": choices, "table": table, "curves": _digest([compare, metrics]), "detail": _digest(detail)}


def _progress(studio, run_id: int | None) -> str:
    if run_id is None:
        return ""
    job = studio.latest_job("eval", where=lambda j: j.get("run_id") == run_id)
    train = studio.latest_job("train", where=lambda j: j.get("run_id") == run_id)
    if runs.is_active(train):
        return C.job_progress_html(train, "training")
    return C.job_progress_html(job, "evaluation") if job else ""


def _load_sig(sig: str) -> dict:
    try:
        out = json.loads(sig) if sig else {}
    except (TypeError, ValueError):
        out = {}
    return out if isinstance(out, dict) else {}


def select(studio, run_id, method, fmt, compare, sig, deep=False) -> dict[str, Any]:
    """The user picked a run: render its panels now, and record them so the next tick skips them."""
    rid = C.as_int(run_id)
    old = _load_sig(sig)
    new = signature(studio, rid, _ids(compare), method or "pca", fmt or "JSON")
    # Only this run's panels are rendered here: the table and curves keep their old fingerprints.
    parts = {**{k: old.get(k, "") for k in ("choices", "table", "curves")}, "detail": new["detail"]}
    return {"progress": _progress(studio, rid), **panels(studio, rid, method, fmt, bool(deep)),
            "sig": json.dumps(parts)}


def scatter_only(studio, run_id, method):
    run = get_run(studio, run_id)
    return cmc_and_scatter(studio, run, method)[1] if run else F.empty_figure("no run selected", 460)


def refresh(studio, current, sig, compare=None, method="pca", fmt="JSON", deep=False) -> dict[str, Any]:
    """Tick: the run dropdown, progress, the run's PANELS, table, empty note, compare dropdown,
    the CURVES and sig; parts whose fingerprint is unchanged are skipped."""
    choices = run_choices(studio)
    ids = [v for _, v in choices]
    rid = C.as_int(current)
    if rid not in ids:
        rid = default_run(studio)
    old = _load_sig(sig)
    chosen = [i for i in _ids(compare) if i in ids]
    new = signature(studio, rid, chosen, method or "pca", fmt or "JSON")
    # On first load, and when runs appear or change while none is compared, show the newest
    # runs' curves rather than empty plots.
    if not chosen and ids and (not sig or new["choices"] != old.get("choices")):
        chosen = ids[:DEFAULT_COMPARE]
        new = signature(studio, rid, chosen, method or "pca", fmt or "JSON")
    out: dict[str, Any] = {"progress": _progress(studio, rid)}
    if new["choices"] != old.get("choices") or rid != C.as_int(current):
        out.update(run=gr.update(choices=choices, value=rid),
                   empty=gr.update(value="" if choices else NO_RUNS, visible=not choices),
                   compare=gr.update(choices=choices, value=chosen))
    else:
        out.update(C.skips("run", "empty", "compare"))
    out["table"] = runs_table(studio) if new["table"] != old.get("table") else gr.skip()
    if new["detail"] != old.get("detail"):
        out.update(panels(studio, rid, method or "pca", fmt or "JSON", bool(deep)))
    else:
        out.update(C.skips(*PANELS))
    if new["curves"] != old.get("curves"):
        out.update(curves(studio, chosen))
    else:
        out.update(C.skips(*CURVES))
    out["sig"] = json.dumps(new)
    return out


def select_row(studio, table, method, fmt, compare, sig, deep, evt: gr.SelectData) -> dict[str, Any]:
    """A click on the runs table selects that row's run."""
    rid = None
    row = getattr(evt, "row_value", None)
    if row:
        rid = C.as_int(row[0])
    elif isinstance(table, pd.DataFrame) and evt.index is not None:
        r = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if 0 <= r < len(table):
            rid = C.as_int(table.iloc[r]["id"])
    if rid is None:
        return C.skips("run", "progress", *PANELS, "sig")
    return {"run": gr.update(value=rid), **select(studio, rid, method, fmt, compare, sig, deep)}


# -- layout ---------------------------------------------------------------------------------------------

def build(studio, timer: gr.Timer) -> dict:
    sig = gr.State("")
    choices = run_choices(studio)
    empty = gr.HTML(NO_RUNS if not choices else "", visible=not choices, elem_id="results-empty")
    table = gr.Dataframe(headers=RUN_HEADERS, interactive=False, max_height=320, wrap=True,
                         label="Runs (click a row to show it below)", elem_id="results-table")

    experiment.build(studio, timer)

    gr.Markdown("#### Training curves")
    compare = gr.Dropdown(label="Compare runs", choices=choices, value=[v for _, v in choices[:DEFAULT_COMPARE]],
                          multiselect=True, elem_id="results-compare",
                          info="overlaid below: colour = run, dash = metric")
    with gr.Row():
        loss_plot = gr.Plot(label="Losses", elem_id="results-loss")
        acc_plot = gr.Plot(label="Accuracy", elem_id="results-acc")
    with gr.Row():
        lr_plot = gr.Plot(label="Learning rate", elem_id="results-lr")
        other_plot = gr.Plot(label="Other logged values", elem_id="results-other")

    gr.Markdown("#### One run in depth")
    with gr.Row():
        # An explicit value: left None, the dropdown would show its first (newest) run, not the default.
        run = gr.Dropdown(label="Run", choices=choices, value=default_run(studio), scale=4, elem_id="results-run")
        eval_btn = gr.Button("Evaluate", scale=1, elem_id="results-eval", interactive=False)
    msg = gr.HTML(elem_id="results-msg")
    progress = gr.HTML(elem_id="results-progress")
    summary = gr.Markdown(elem_id="results-summary")
    with gr.Row():
        per_cond = gr.Dataframe(label="Headline (%)", interactive=False, elem_id="results-cond")
        per_view = gr.Dataframe(label="Rank-1 per probe view (%)", interactive=False, elem_id="results-view")
    chart = gr.Plot(label="Rank-1 per view", elem_id="results-chart")
    # The heavy figures are drawn when this section opens, so the page itself opens at once.
    deep = gr.State(False)
    with gr.Accordion("Per-view heatmap, CMC and embedding map", open=False, elem_id="results-deep") as deep_box:
        heat = gr.Plot(label="Rank-1 per probe × gallery view", elem_id="results-heatmap")
        with gr.Row():
            cmc = gr.Plot(label="CMC", elem_id="results-cmc")
            with gr.Column():
                method = gr.Radio(studio.projection_methods(), value="pca", label="Projection",
                                  elem_id="results-projection", info="t-SNE is offered when scikit-learn is installed")
                scatter = gr.Plot(label="Test embeddings", elem_id="results-scatter")
    with gr.Accordion("Config", open=False):
        fmt = gr.Radio(["JSON", "YAML"], value="JSON", label="Format", elem_id="results-config-format")
        config = gr.Code(language="json", label="Run config", interactive=False, max_lines=30,
                         elem_id="results-config")
    with gr.Accordion("Downloads", open=False):
        with gr.Row():
            ckpt = gr.File(label="Checkpoint (checkpoints/latest.pt)", interactive=False, elem_id="results-ckpt")
            with gr.Column():
                export_btn = gr.Button("Export OpenGait checkpoint", elem_id="results-export")
                export_msg = gr.HTML(elem_id="results-export-msg")
                exported = gr.File(label="OpenGait checkpoint (export/opengait.pt)", interactive=False,
                                   elem_id="results-opengait")

    with gr.Accordion("Import an OpenGait checkpoint", open=False):
        gr.Markdown("A checkpoint from OpenGait's model zoo (or your own OpenGait run) and the YAML it was trained "
                    "with become an imported run here, evaluated on a converted dataset without training. The YAML "
                    "must import exactly (see `python -m core train --opengait FILE --check`).")
        with gr.Row():
            og_ckpt = gr.Textbox(label="Checkpoint (.pt)", placeholder="output/CASIA-B/Baseline/GaitBase_DA/"
                                 "checkpoints/GaitBase_DA-60000.pt", elem_id="results-og-ckpt")
            og_yaml = gr.Textbox(label="OpenGait YAML", placeholder="configs/gaitbase/gaitbase_da_casiab.yaml",
                                 elem_id="results-og-yaml")
            og_data = gr.Textbox(label="Converted dataset folder", elem_id="results-og-data")
        og_btn = gr.Button("Import as a run", elem_id="results-og-import")
        og_msg = gr.HTML(elem_id="results-og-msg")
    og_btn.click(lambda a, b, c: import_opengait(studio, a, b, c), inputs=[og_ckpt, og_yaml, og_data], outputs=og_msg)

    detail = dict(summary=summary, per_cond=per_cond, per_view=per_view, chart=chart, heat=heat, cmc=cmc,
                  scatter=scatter, config=config, ckpt=ckpt, exported=exported, eval_btn=eval_btn)
    assert tuple(detail) == PANELS
    plots = dict(zip(CURVES, (loss_plot, lr_plot, acc_plot, other_plot)))
    picked = {"progress": progress, **detail, "sig": sig}
    sel_inputs = [method, fmt, compare, sig, deep]
    run.input(**C.wire(lambda r, *a: select(studio, r, *a), picked), inputs=[run, *sel_inputs])

    def on_row(t, m, f, c, s, d, evt: gr.SelectData):
        return select_row(studio, t, m, f, c, s, d, evt)

    table.select(**C.wire(on_row, {"run": run, **picked}), inputs=[table, *sel_inputs])
    compare.input(**C.wire(lambda c: curves(studio, c), plots), inputs=compare)
    method.input(lambda r, m: scatter_only(studio, r, m), inputs=[run, method], outputs=scatter)
    shown = dict(zip(HEAVY, (heat, cmc, scatter)))
    deep_box.expand(**C.wire(lambda r, m: {"deep": True, **heavy(studio, r, m)}, {"deep": deep, **shown}),
                    inputs=[run, method])
    deep_box.collapse(lambda: False, outputs=deep)
    fmt.input(lambda r, f: config_text(get_run(studio, r), f), inputs=[run, fmt], outputs=config)
    eval_btn.click(lambda r: evaluate(studio, r), inputs=run, outputs=msg)
    export_btn.click(**C.wire(lambda r: export_opengait(studio, r), {"export_msg": export_msg, "exported": exported}),
                     inputs=run)

    ticked = {"run": run, "progress": progress, **detail, "table": table, "empty": empty, "compare": compare,
              **plots, "sig": sig}
    tick = dict(**C.wire(lambda r, s, c, m, f, d: refresh(studio, r, s, c, m, f, d), ticked),
                inputs=[run, sig, compare, method, fmt, deep], show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}
