"""Helpers shared by the tabs: job progress HTML, error reporting, plots, image conversion, and
``wire``, which lets a handler return its outputs by name.

Nothing here holds state: every view is recomputed from the catalog, so a page reload or an app
restart shows the same thing.
"""

from __future__ import annotations

import functools
import html
import logging
import time
from typing import Any, Callable, Iterable

import gradio as gr
import numpy as np

from app.runs_figures import PLOT_TEMPLATE
from core.studio import StudioError, as_rgb, iso_epoch, protocols as P, runs, upscale_nearest

log = logging.getLogger("hybridgait.app")

STATE_COLOURS = {"queued": "#6b7280", "running": "#2563eb", "succeeded": "#16a34a", "failed": "#dc2626",
                 "cancelled": "#d97706", "interrupted": "#d97706"}


# -- errors ------------------------------------------------------------------------------------

def error_text(exc: BaseException) -> str:
    """One line a user can act on; StudioError messages already name the file concerned."""
    if isinstance(exc, StudioError):
        return str(exc)
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, NotADirectoryError)):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected error ({type(exc).__name__}: {exc}); see the app's console for details"


def report_error(exc: BaseException) -> str:
    """Toast the error and return it as Markdown for the tab's error area (never a traceback)."""
    if not isinstance(exc, StudioError):
        log.exception("handler failed")
    msg = error_text(exc)
    try:
        gr.Warning(msg, duration=8)
    except Exception:  # outside a request (tests) there is no page to toast on
        pass
    return error_md(msg)


def error_md(msg: str) -> str:
    return f'<div class="hg-error">⚠️ {html.escape(msg)}</div>'


def ok_md(msg: str) -> str:
    return f'<div class="hg-ok">✓ {html.escape(msg)}</div>'


def skips(*names: str) -> dict[str, Any]:
    """Leave the named outputs as they are."""
    return {n: gr.skip() for n in names}


def wire(handler: Callable[..., dict[str, Any]], outputs: dict[str, Any]) -> dict[str, Any]:
    """Event arguments for a handler that returns ``{output name: value}``: Gradio gets
    ``{component: value}`` over the components named in ``outputs``. Handlers stay callable (and
    testable) without a page, and no output is found by its position."""
    @functools.wraps(handler)     # keeps the signature: Gradio finds gr.SelectData by annotation
    def run(*args, **kwargs):
        return {outputs[k]: v for k, v in handler(*args, **kwargs).items()}

    return {"fn": run, "outputs": list(outputs.values())}


def _fingerprint(value: Any) -> str:
    """A value's identity as sent to the page: equal values, equal strings (arrays by their bytes)."""
    import hashlib
    import json

    def plain(v):
        if isinstance(v, np.ndarray):
            return ["ndarray", v.shape, str(v.dtype), hashlib.sha1(np.ascontiguousarray(v).tobytes()).hexdigest()]
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if hasattr(v, "to_json"):           # plotly figures, pandas frames
            return v.to_json()
        return v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)

    return json.dumps(plain(value), default=repr)


class Poll:
    """What the tabs poll the catalog with, in place of a ``gr.Timer``: a hidden button the page's
    script (assets/hotkeys.js) clicks when ``/hg/changes`` says what the pages show changed in the
    catalog (``Catalog.shown_version``), and every ``main.FALLBACK_SECONDS`` anyway. Each tab's tick answers only the outputs that differ from
    what it last sent to that page.

    Why: a timer fired every tab's tick every two seconds, changed or not, and the page's handling of
    each event (about a second of a busy 2-core machine's browser per tick event) kept the browser
    busy most of the time; a key press in the curation workbench waited behind it. The same events
    now run only when there is something new to show."""

    ELEM_ID = "hg-poll"
    SESSIONS = 64       # pages remembered per tick; the oldest is forgotten first

    def __init__(self):
        self.button = gr.Button("refresh", elem_id=self.ELEM_ID, elem_classes=["hg-hidden"])

    def tick(self, fn: Callable[..., Any], outputs: list, **kwargs: Any):
        sent: dict[str, dict[int, str]] = {}      # page -> output -> mark of what was sent

        def run(request: gr.Request, *args):
            out = fn(*args)
            page = getattr(request, "session_hash", None)
            if not isinstance(out, dict) or page is None:
                return out
            last = sent.pop(page, {})
            marks, result = dict(last), {}
            for comp, value in out.items():
                if isinstance(value, dict) and value.get("__type__") == "update" and len(value) == 1:
                    result[comp] = value       # already a skip
                    continue
                mark = _fingerprint(value)
                result[comp] = gr.skip() if last.get(comp._id) == mark else value
                marks[comp._id] = mark
            sent[page] = marks
            while len(sent) > self.SESSIONS:
                try:
                    sent.pop(next(iter(sent)))
                except (StopIteration, KeyError, RuntimeError):   # another page's tick got there first
                    break
            return result

        return self.button.click(fn=run, outputs=outputs, **kwargs)


# -- jobs ---------------------------------------------------------------------------------------

def stop_active(studio, kind: str, what: str, kept: str) -> str:
    """Ask the running job of one kind to stop; `kept` tells the user what survives the stop."""
    job = studio.active_job(kind)
    if not job:
        return error_md(f"no {what} is running")
    studio.cancel(job["id"])
    return ok_md(f"stopping job #{job['id']}; {kept}")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def job_fraction(job: dict) -> float:
    total = job.get("total") or 0
    if job.get("state") == "succeeded":
        return 1.0
    return max(0.0, min(1.0, (job.get("progress") or 0) / total)) if total else 0.0


def job_eta(job: dict, now: float | None = None) -> tuple[float | None, float | None]:
    """(elapsed, remaining) seconds; remaining is None while the rate is unknown.

    The rate counts only progress made by this job since its first report, so a resumed job that
    starts at 60% does not promise to finish in a third of its elapsed time.
    """
    started = job.get("started_at")
    if not started:
        return None, None
    now = time.time() if now is None else now
    elapsed = max(0.0, now - started)
    if not runs.is_active(job) or not job.get("total"):
        return elapsed, None
    t0 = job.get("progress_t0") or started
    made = (job.get("progress") or 0) - (job.get("progress_start") or 0)
    if made <= 0 or now - t0 < 0.5:
        return elapsed, None
    return elapsed, max(0.0, job["total"] - job["progress"]) * (now - t0) / made


def submit(studio, start: Callable[[], int], started: str, title: str, msg: str = "msg") -> dict[str, Any]:
    """Submit a job through ``start``; the tab's message (under key ``msg``) and progress either
    way: a refusal is reported without touching the progress panel."""
    try:
        job_id = start()
    except Exception as exc:  # noqa: BLE001 - shown to the user, logged when it is a bug
        return {msg: report_error(exc), "progress": gr.skip()}
    return {msg: ok_md(f"{started} (job #{job_id})"), "progress": job_progress_html(studio.job(job_id), title)}


def job_progress_html(job: dict | None, title: str = "", now: float | None = None) -> str:
    """A progress bar with percentage, state, message and ETA for one job row."""
    if not job:
        return ""
    state = job["state"]
    frac = job_fraction(job)
    elapsed, eta = job_eta(job, now)
    colour = STATE_COLOURS.get(state, "#6b7280")
    label = f"{title or job['kind']} · job #{job['id']}"
    if state in runs.ACTIVE:
        timing = f"elapsed {fmt_duration(elapsed)}" + (f" · ETA {fmt_duration(eta)}" if eta is not None else " · ETA —")
    elif job.get("finished") and elapsed is not None:
        timing = f"took {fmt_duration(_took(job))}"
    else:
        timing = ""
    msg = job.get("message") or ""
    if state == "failed" and job.get("error") and not msg:
        msg = job["error"].strip().splitlines()[-1]
    return (
        f'<div class="hg-job" data-state="{state}">'
        f'<div class="hg-job-head"><b>{html.escape(label)}</b>'
        f'<span class="hg-state" style="background:{colour}">{state}</span>'
        f'<span class="hg-pct">{frac * 100:.0f}%</span></div>'
        f'<div class="hg-bar"><div style="width:{frac * 100:.1f}%;background:{colour}"></div></div>'
        f'<div class="hg-job-foot">{html.escape(msg)}<span>{timing}</span></div></div>'
    )


def _took(job: dict) -> float | None:
    end = iso_epoch(job.get("finished"))
    if end is None:
        return None
    # finished has whole-second resolution, started_at not: clamp sub-second jobs at 0.
    return max(0.0, end - job["started_at"]) if job.get("started_at") else None


def jobs_table(studio, limit: int = 30) -> list[list[Any]]:
    rows = []
    for j in studio.jobs(limit=limit):
        rows.append([j["id"], j["kind"], j["state"], f"{job_fraction(j) * 100:.0f}%", j.get("message") or "",
                     (j.get("created") or "").replace("T", " ").rstrip("Z")])
    return rows


JOBS_HEADERS = ["job", "kind", "state", "progress", "message", "created (UTC)"]


def failures_md(studio, limit: int = 5) -> str:
    failed = [j for j in studio.jobs(limit=60) if j["state"] == "failed"][:limit]
    if not failed:
        return "No failed jobs."
    out = ["**Failed jobs** (most recent first):"]
    for j in failed:
        last = (j.get("error") or "").strip().splitlines()
        detail = last[-1] if last else ""
        line = f"- job #{j['id']} ({j['kind']}): {j.get('message') or detail}"
        if detail and detail not in line:
            line += f" — `{detail[:200]}`"
        out.append(line)
    return "\n".join(out)


# -- choices ------------------------------------------------------------------------------------

def dataset_choices(studio, kind: str | None = None) -> list[tuple[str, int]]:
    return [(f"{d['name']} · {d['kind']} · {d['format']}", d["id"]) for d in studio.datasets(kind)]


def keep_value(value: Any, choices: list[tuple[str, Any]], prefer_last: bool = True) -> Any:
    """Keep the user's selection when it is still offered, else pick the newest entry."""
    values = [v for _, v in choices]
    if value in values:
        return value
    if not values:
        return None
    return values[-1] if prefer_last else values[0]


def as_int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# -- images and plots ---------------------------------------------------------------------------

def to_rgb(img: np.ndarray | None, min_side: int = 0) -> np.ndarray | None:
    """uint8 gray or RGB -> RGB, upscaled (nearest) so tiny 64x64 silhouettes stay visible."""
    return None if img is None else upscale_nearest(as_rgb(img), min_side)


def placeholder(text: str = "no frame", size: int = 64) -> np.ndarray:
    import cv2

    img = np.full((size * 2, size * 2, 3), 40, np.uint8)
    cv2.putText(img, text, (6, size), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (220, 220, 220), 1, cv2.LINE_AA)
    return img


def metrics_figure(metrics: dict[str, list[tuple[int, float]]], title: str = ""):
    """Losses on the left, accuracy (and any eval_* rank-1) on the right, both against step."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "train accuracy / eval rank-1"))
    for name, colour in (("loss", "#111827"), ("triplet", "#2563eb"), ("ce", "#d97706")):
        pts = metrics.get(name) or []
        if pts:
            xs, ys = zip(*pts)
            fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines+markers", marker={"size": 4},
                                     line={"color": colour}), row=1, col=1)
    pts = metrics.get("acc") or []
    if pts:
        xs, ys = zip(*pts)
        fig.add_trace(go.Scatter(x=xs, y=[100 * y if y <= 1 else y for y in ys], name="train acc %",
                                 mode="lines+markers", marker={"size": 4}, line={"color": "#16a34a"}), row=1, col=2)
    for name in sorted(k for k in metrics if k.startswith("eval_")):
        xs, ys = zip(*metrics[name])
        # Periodic evaluation logs its protocol's headline: CASIA-B's are rank-1 per condition
        # (eval_NM), the others name their number (eval_rank-5, eval_general mAP).
        label = name[5:] if any(w in name for w in ("rank", "mAP")) else f"{name[5:]} rank-1"
        fig.add_trace(go.Scatter(x=xs, y=ys, name=f"{label} %", mode="lines+markers"), row=1, col=2)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="%", range=[0, 102], row=1, col=2)
    fig.update_layout(height=340, margin={"l": 40, "r": 10, "t": 40, "b": 40}, title=title or None,
                      legend={"orientation": "h", "y": -0.25}, template=PLOT_TEMPLATE)
    if not metrics:
        fig.add_annotation(text="waiting for the first logged step…", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    return fig


def results_figure(results: dict):
    """Rank-1 per view for each condition, grouped, with the overall mean and chance marked."""
    import plotly.graph_objects as go

    fig = go.Figure()
    conds = [c for c in P.get(P.protocol_of(results) or P.DEFAULT_PROTOCOL).conditions if c in results]
    per_view = results.get("per_view") or {}
    views = results.get("views") or sorted({v for c in per_view.values() for v in c})
    colours = {"NM": "#16a34a", "BG": "#2563eb", "CL": "#d97706"}
    for c in conds:
        xs = [f"view {v}" for v in views] + ["mean"]
        ys = [(per_view.get(c) or {}).get(v) for v in views] + [results.get(c)]
        fig.add_trace(go.Bar(x=xs, y=ys, name=c, marker_color=colours.get(c),
                             text=[f"{y:.1f}" if isinstance(y, (int, float)) else "" for y in ys],
                             textposition="outside"))
    if isinstance(results.get("chance"), (int, float)):
        fig.add_hline(y=results["chance"], line_dash="dot", line_color="#6b7280")
        # Labelled in the right margin: inside the plot the label sat on the last bar.
        fig.add_annotation(text=f"chance {results['chance']:.1f}%", x=1, xref="paper", xanchor="left",
                           y=results["chance"], yref="y", showarrow=False, font={"size": 11, "color": "#6b7280"})
    fig.update_layout(barmode="group", height=360, yaxis={"title": "rank-1 %", "range": [0, 110]},
                      margin={"l": 40, "r": 90, "t": 50, "b": 40}, template=PLOT_TEMPLATE,
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    return fig


def md_table(rows: Iterable[dict], columns: list[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return ""
    columns = columns or list(rows[0])
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = "\n".join("| " + " | ".join(str(r.get(c, "")) for c in columns) + " |" for r in rows)
    return head + "\n" + body

