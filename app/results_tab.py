"""Step 5 · Results: CASIA-B rank-1 per condition and per view for a run from the catalog."""

from __future__ import annotations

import json

import gradio as gr
import pandas as pd

from app import common as C

CONDS = ("NM", "BG", "CL")


def run_choices(studio) -> list[tuple[str, int]]:
    out = []
    for r in studio.runs():
        res = r.get("results") or {}
        score = f" · NM {res['NM']:.1f}%" if isinstance(res.get("NM"), (int, float)) else ""
        out.append((f"#{r['id']} {r['name']} · {r['state']}{score}", r["id"]))
    return out


def _default_run(studio) -> int | None:
    runs = studio.runs()
    for r in runs:
        if r.get("results"):
            return r["id"]
    return runs[0]["id"] if runs else None


def show(studio, run_id):
    """(summary, per-condition table, per-view table, chart)."""
    rid = C.as_int(run_id)
    run = studio.catalog.run(rid) if rid is not None else None
    if run is None:
        return "No run selected. Train one in step 4.", pd.DataFrame(), pd.DataFrame(), None
    res = run.get("results") or {}
    if not res or not any(c in res for c in CONDS):
        return (f"Run `{run['name']}` is **{run['state']}** and has no results yet — they appear when training "
                "finishes (the trainer evaluates on the test identities at the end).",
                pd.DataFrame(), pd.DataFrame(), None)
    counts = res.get("counts") or {}
    chance = res.get("chance")
    summary = (f"### Run `{run['name']}` · {run['state']} · evaluated at step {res.get('step', run['step'])}\n\n"
               f"Protocol `{res.get('protocol', 'casia-b')}` · metric `{res.get('metric', '?')}` · "
               f"{res.get('num_test_ids', '?')} test identities · {res.get('num_gallery', '?')} gallery / "
               f"{res.get('num_probe', '?')} probe sequences"
               + (f" · chance {chance:.1f}%" if isinstance(chance, (int, float)) else "")
               + (f"\n\n*{res['note']}*" if res.get("note") else ""))
    per_cond = pd.DataFrame([{"condition": c, "rank-1 %": round(res[c], 2), "probes": counts.get(c, "")}
                             for c in CONDS if isinstance(res.get(c), (int, float))])
    per_view = res.get("per_view") or {}
    views = res.get("views") or sorted({v for d in per_view.values() for v in d})
    rows = []
    for c in CONDS:
        if c in per_view:
            row = {"condition": c}
            for v in views:
                val = per_view[c].get(v)
                row[v] = round(val, 2) if isinstance(val, (int, float)) else None
            row["mean"] = round(res[c], 2) if isinstance(res.get(c), (int, float)) else None
            rows.append(row)
    return summary, per_cond, pd.DataFrame(rows), C.results_figure(res)


def evaluate_again(studio, run_id):
    """Re-run the evaluation of a run's latest checkpoint as an 'eval' job."""
    rid = C.as_int(run_id)
    run = studio.catalog.run(rid) if rid is not None else None
    if run is None:
        return C.error_md("select a run first")
    if studio.active_job("eval") or studio.active_job("train"):
        return C.error_md("wait for the active training/evaluation job to finish")
    try:
        job_id = studio.start_eval(run["id"])
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    return C.ok_md(f"evaluating run {run['name']} again (job #{job_id})")


def refresh(studio, current, sig):
    """Tick: (runs dropdown, eval progress, summary, per-cond, per-view, chart, sig)."""
    choices = run_choices(studio)
    job = C.latest_job(studio, "eval")
    # A finished re-evaluation changes results that the labels may not show; include it in the signature.
    new_sig = json.dumps([choices, job and (job["id"], job["state"])])
    progress = C.job_progress_html(job, "evaluation") if job else ""
    if new_sig == sig:
        return (gr.skip(), progress, *C.skips(4), gr.skip())
    rid = C.as_int(current)
    if rid not in [v for _, v in choices]:
        rid = _default_run(studio)
    return (gr.update(choices=choices, value=rid), progress, *show(studio, rid), new_sig)


def build(studio, timer: gr.Timer) -> dict:
    sig = gr.State("")
    with gr.Row():
        run = gr.Dropdown(label="Run", choices=run_choices(studio), scale=4, elem_id="results-run")
        again = gr.Button("Evaluate again", scale=1, elem_id="results-eval")
    msg = gr.HTML()
    progress = gr.HTML(elem_id="results-progress")
    summary = gr.Markdown(elem_id="results-summary")
    with gr.Row():
        per_cond = gr.Dataframe(label="Rank-1 per condition (%)", interactive=False, elem_id="results-cond")
        per_view = gr.Dataframe(label="Rank-1 per probe view (%)", interactive=False, elem_id="results-view")
    chart = gr.Plot(label="Rank-1 per view", elem_id="results-chart")
    run.input(lambda r: show(studio, r), inputs=run, outputs=[summary, per_cond, per_view, chart])
    again.click(lambda r: evaluate_again(studio, r), inputs=run, outputs=msg)
    tick = dict(fn=lambda r, s: refresh(studio, r, s), inputs=[run, sig],
                outputs=[run, progress, summary, per_cond, per_view, chart, sig], show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}
