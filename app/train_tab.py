"""Step 4 · Train: start a run in a worker, watch it live, stop it (checkpoint saved) and resume it.

Which run is shown comes from the catalog on every tick (the active train job, else the newest),
so a reload or an app restart shows the same run, and button states follow the job's real state.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from app import common as C
from core.studio import Studio, options as O, protocols as P, runs

D = O.defaults("train")
PRESETS = Studio.presets()     # only presets whose model is registered here


def cli_command(studio, ds_id, preset, iterations) -> str:
    ds = studio.dataset(C.as_int(ds_id))
    if ds is None:
        return ""
    return O.cli_command("train", {"dataset": ds["path"], "preset": preset or D["preset"],
                                   "iterations": C.as_int(iterations) or None}, workspace=str(studio.ws.root))


def shown_job(studio) -> dict | None:
    return studio.latest_job("train")


def start(studio, ds_id, preset, iterations):
    ds = studio.dataset(C.as_int(ds_id), "converted")
    if ds is None:
        return C.error_md("choose a converted dataset first (step 2)")
    active = studio.active_job("train")
    if active:
        return C.error_md(f"a training run is already active (job #{active['id']}); stop it first")
    overrides = {}
    n = C.as_int(iterations)
    if n is not None and n < 0:
        return C.error_md(f"iterations must be positive (got {n}); 0 uses the preset's default")
    if n:
        overrides["iterations"] = n
    try:
        job_id, run_id = studio.start_training(ds["id"], preset=preset or D["preset"], **overrides)
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    return C.ok_md(f"training started: run #{run_id}, job #{job_id}")


def stop(studio):
    return C.stop_active(studio, "train", "training", "a checkpoint is saved; Resume continues from it")


def resume(studio):
    job = shown_job(studio)
    if not job or job["state"] not in runs.RESUMABLE:
        return C.error_md("nothing to resume: the latest run is not stopped, interrupted or failed")
    try:
        new_id = studio.resume(job["id"])
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    return C.ok_md(f"resumed job #{job['id']} as job #{new_id}")


def run_md(studio, job: dict | None) -> str:
    if not job:
        return "No training run yet. Choose a converted dataset and press **Start training**."
    run = studio.run(job.get("run_id"))
    if run is None:
        return f"Job #{job['id']} has no run record."
    cfg = run.get("config") or {}
    ds = studio.dataset(run.get("dataset_id"))
    txt = (f"**Run #{run['id']} `{run['name']}`** · state **{run['state']}** · step {run['step']} · "
           f"model `{run['model']}` · preset `{cfg.get('preset', '')}` · {cfg.get('iterations', '?')} iterations · "
           f"dataset `{ds['name'] if ds else cfg.get('dataset', '?')}`")
    if job["state"] == "failed":
        txt += "\n\n" + C.error_md(f"training failed: {job.get('message')} — fix the cause and press Resume")
    elif job["state"] in ("cancelled", "interrupted"):
        txt += f"\n\n*{job['state']}: {job.get('message')}*"
        if studio.resumable(job):
            txt += " — press **Resume** to continue from the last checkpoint."
    elif job["state"] == "succeeded":
        r = run.get("results") or {}
        if r:
            txt += f"\n\n**Finished.** {finished_text(r)} (see step 5)."
    return txt


def finished_text(results: dict) -> str:
    """The run's headline under its protocol: 'Rank-1 NM 95.1% · BG 88.0% · CL 70.2%' on CASIA-B."""
    proto = P.protocol_of(results)
    nums = [f"{k} {v:.1f}%" for k, v in P.headline(results).items() if isinstance(v, (int, float))]
    quantity = P.get(proto).quantity if proto in P.PROTOCOLS else ""
    return (f"{quantity.capitalize()} " if quantity else "") + (" · ".join(nums) or "no numbers")


def preset_note(preset: str | None) -> str:
    """What the chosen preset is, in a line of its own (a dropdown's info text is cut to one line)."""
    p = preset or D["preset"]
    what = ("a small model that trains in minutes on 2 CPU cores" if p.startswith("demo-cpu")
            else "the published recipe for its dataset, sized for a GPU")
    return f"**Preset `{p}`**: {what} · {Studio.preset_iterations(p)} iterations by default"


def step_lines(metrics: dict[str, list], n: int = 5) -> list[str]:
    """The last ``n`` logged steps, one line each with every metric logged at that step (the job log
    itself holds only start, checkpoint and stop lines)."""
    by_step: dict[int, dict[str, float]] = {}
    for name, pts in metrics.items():
        for step, value in pts[-n:]:
            by_step.setdefault(int(step), {})[name] = value
    lines = []
    for step in sorted(by_step)[-n:]:
        vals = " · ".join(f"{k} {v:.4g}" for k, v in sorted(by_step[step].items(), key=lambda kv: (kv[0] != "loss", kv[0])))
        lines.append(f"step {step}: {vals}")
    return lines


def log_text(studio, job: dict, metrics: dict) -> str:
    tail = studio.job_log_tail(job["id"], 12).rstrip("\n")
    steps = step_lines(metrics)
    return tail + ("\n-- latest steps --\n" + "\n".join(steps) if steps else "")


def refresh(studio, metric_sig) -> dict[str, Any]:
    """Tick: run info, progress, plot, log tail, the three buttons and the metric signature."""
    job = shown_job(studio)
    active = runs.is_active(job)
    buttons = {"start_btn": gr.update(interactive=not active), "stop_btn": gr.update(interactive=active),
               "resume_btn": gr.update(interactive=studio.resumable(job))}
    if not job:
        return {"info": run_md(studio, None), "progress": "",
                "plot": gr.skip() if metric_sig == "none" else C.metrics_figure({}), "logs": "", **buttons,
                "metric_sig": "none"}
    metrics = studio.run_metrics(job["run_id"]) if job.get("run_id") else {}
    sig = json.dumps([job.get("run_id"), {k: (len(v), v[-1][0]) for k, v in metrics.items()}])
    return {"info": run_md(studio, job), "progress": C.job_progress_html(job, "training"),
            "plot": gr.skip() if sig == metric_sig else C.metrics_figure(metrics),
            "logs": log_text(studio, job, metrics), **buttons, "metric_sig": sig}


def build(studio, timer: gr.Timer) -> dict:
    metric_sig = gr.State("")
    with gr.Row():
        dataset = gr.Dropdown(label="Converted dataset", choices=C.dataset_choices(studio, "converted"), scale=3,
                              elem_id="train-dataset")
        preset = gr.Dropdown(PRESETS, value=D["preset"], label="Preset", scale=2, elem_id="train-preset")
        # No minimum: a validation error on 0 would block every event that reads this box.
        iterations = gr.Number(value=0, label="Iterations (0 = preset default)", precision=0, scale=2,
                               info=f"demo-cpu default: {Studio.preset_iterations('demo-cpu')}", elem_id="train-iterations")
    note = gr.Markdown(preset_note(D["preset"]), elem_id="train-preset-note")
    with gr.Row():
        start_btn = gr.Button("Start training", variant="primary", elem_id="train-start")
        stop_btn = gr.Button("Stop (saves a checkpoint)", variant="stop", interactive=False, elem_id="train-stop")
        resume_btn = gr.Button("Resume", interactive=False, elem_id="train-resume")
    cli = gr.Textbox(label="Equivalent CLI command", interactive=False, buttons=["copy"], lines=1,
                     elem_id="train-cli")
    msg = gr.HTML(elem_id="train-msg")
    info = gr.Markdown(elem_id="train-info")
    progress = gr.HTML(elem_id="train-progress")
    plot = gr.Plot(label="Loss and accuracy vs step", elem_id="train-plot")
    logs = gr.Textbox(label="Log (tail) and the latest steps", lines=12, max_lines=18, interactive=False, elem_id="train-log")

    opts = [dataset, preset, iterations]
    for comp in opts:
        comp.change(lambda *a: cli_command(studio, *a), inputs=opts, outputs=cli, show_progress="hidden")
    preset.change(lambda p: (gr.update(info=f"{p} default: {Studio.preset_iterations(p)}"), preset_note(p)),
                  inputs=preset, outputs=[iterations, note], show_progress="hidden")
    start_btn.click(lambda *a: start(studio, *a), inputs=opts, outputs=msg)
    stop_btn.click(lambda: stop(studio), outputs=msg)
    resume_btn.click(lambda: resume(studio), outputs=msg)

    sig = gr.State("")

    def refresh_datasets(current, s, p, n):
        conv = C.dataset_choices(studio, "converted")
        new = json.dumps(conv)
        if new == s:
            return gr.skip(), gr.skip(), gr.skip()
        value = C.keep_value(C.as_int(current), conv)
        # The command follows the value set here: after a reload no .change of the user's sets it.
        return gr.update(choices=conv, value=value), new, cli_command(studio, value, p, n)

    ds_tick = dict(fn=refresh_datasets, inputs=[dataset, sig, preset, iterations], outputs=[dataset, sig, cli],
                   show_progress="hidden")
    tick = dict(**C.wire(lambda s: refresh(studio, s),
                         dict(info=info, progress=progress, plot=plot, logs=logs, start_btn=start_btn,
                              stop_btn=stop_btn, resume_btn=resume_btn, metric_sig=metric_sig)),
                inputs=metric_sig, show_progress="hidden")
    timer.tick(**ds_tick, concurrency_limit=None)
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick, "load_datasets": ds_tick}
