"""Step 5 · Runs: every training run in one table, their curves overlaid, and one run in depth.

Everything is read from the catalog and the run folders on each render (nothing lives only in
the page), so a reload or an app restart shows the same thing. The timer re-renders a part only
when what it shows changed: the table when a run or job changes, the curves when the compared
runs log new steps, the selected run's panels when its results, files or jobs change.

The selected run's CMC curve and embedding map come from ``<run_dir>/eval/embeddings.npz``, which
every evaluation now keeps (``core.evaluate.run``); runs evaluated before that say so and offer
the Evaluate button. A ``results['refined']`` entry (test-time refinement) is shown beside the
plain evaluation wherever one is.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app import common as C, experiment
from app import runs_figures as F
from core.evaluate import protocols as P

# The runs table has a column per headline number of the default protocol (CASIA-B: NM, BG, CL);
# other protocols' headlines go in the evaluation text.
TABLE_PROTOCOL = P.get(P.DEFAULT_PROTOCOL)
CONDS = tuple(TABLE_PROTOCOL.headline({}))
RUN_HEADERS = ["id", "run", "model", "dataset", "status", "step", "evaluation", *CONDS, "created (UTC)"]
DEFAULT_COMPARE = 3          # runs overlaid on first load
MAX_CMC_RANK = 100           # CCVID / GREW rank sequences; the curve's tail past this says little
NO_RUNS = ('<div class="hg-empty"><b>No training runs yet.</b><br>Start one in <b>4 · Train</b>; its loss curves '
           'appear here while it trains and its results when it finishes.</div>')


# -- reading runs ---------------------------------------------------------------------------------

def _results(run: dict | None) -> dict:
    res = (run or {}).get("results")
    return res if isinstance(res, dict) else {}


def evaluations(res: dict) -> list[tuple[str, dict]]:
    """(label, results) per evaluation of a run: the plain one, then 'refined' when present."""
    out = []
    if res and any(k != "refined" for k in res):
        out.append(("plain", res))
    ref = res.get("refined") if res else None
    if isinstance(ref, dict) and ref:
        out.append(("refined", ref))
    return out


protocol_of = P.protocol_of
headline = P.headline       # the numbers a protocol is quoted by, from the registry


def headline_text(res: dict) -> str:
    parts = [f"{k} {v:.1f}%" for k, v in headline(res).items() if isinstance(v, (int, float))]
    return " · ".join(parts)


def _no_rows(*columns: str) -> pd.DataFrame:
    # Named columns, so an empty table shows headers rather than Gradio's placeholder 1, 2, 3.
    return pd.DataFrame(columns=list(columns))


def _num(v: Any) -> float | None:
    return round(float(v), 2) if isinstance(v, (int, float)) else None


def _dataset_name(studio, run: dict) -> str:
    ds = studio.catalog.dataset(run["dataset_id"]) if run.get("dataset_id") else None
    return ds["name"] if ds else Path(str((run.get("config") or {}).get("dataset", "")) or "?").name


def _newest_jobs(studio, kind: str) -> dict[int, dict]:
    """The newest job of ``kind`` per run id."""
    out: dict[int, dict] = {}
    for j in studio.jobs(kind=kind, limit=200):       # newest first
        if j.get("run_id") is not None:
            out.setdefault(int(j["run_id"]), j)
    return out


def run_status(run: dict, train_job: dict | None, eval_job: dict | None) -> str:
    """The run's state, corrected by its jobs: a run whose training job failed or was interrupted
    still says 'running' in the runs table, and an evaluation in progress is worth showing."""
    if eval_job and eval_job["state"] in C.ACTIVE:
        return "evaluating" if eval_job["state"] == "running" else "evaluation queued"
    if train_job and train_job["state"] in ("failed", "interrupted") and run["state"] in ("running", "created"):
        return train_job["state"]
    if train_job and train_job["state"] == "queued":
        return "queued"
    return run["state"]


def runs_table(studio) -> pd.DataFrame:
    """One row per run and evaluation (a refined evaluation gets its own row under the plain one)."""
    trains, evals = _newest_jobs(studio, "train"), _newest_jobs(studio, "eval")
    rows = []
    for r in studio.runs():
        cfg = r.get("config") or {}
        base = {"id": r["id"], "run": r["name"], "model": r["model"], "dataset": _dataset_name(studio, r),
                "status": run_status(r, trains.get(r["id"]), evals.get(r["id"])),
                "step": f"{r['step']}/{cfg.get('iterations', '?')}",
                "created (UTC)": (r.get("created") or "").replace("T", " ").rstrip("Z")}
        evs = evaluations(_results(r))
        if not evs:
            rows.append({**base, "evaluation": "not evaluated"})
        for label, res in evs:
            proto = protocol_of(res)
            row = {**base, "evaluation": f"{label} · {proto}" if proto else label}
            if proto == TABLE_PROTOCOL.name:
                row.update({c: _num(v) for c, v in headline(res).items()})
            else:
                row["evaluation"] += f" · {headline_text(res)}"
            rows.append(row)
    return pd.DataFrame(rows, columns=RUN_HEADERS)


def run_choices(studio) -> list[tuple[str, int]]:
    out = []
    for r in studio.runs():
        res = _results(r)
        text = headline_text(res) if res else ""
        out.append((f"#{r['id']} {r['name']} · {r['state']}" + (f" · {text}" if text else ""), r["id"]))
    return out


def _default_run(studio) -> int | None:
    runs = studio.runs()
    for r in runs:
        if _results(r):
            return r["id"]
    return runs[0]["id"] if runs else None


def _run(studio, run_id) -> dict | None:
    rid = C.as_int(run_id)
    return studio.catalog.run(rid) if rid is not None else None


def _ids(values) -> list[int]:
    out = []
    for v in values or []:
        i = C.as_int(v)
        if i is not None and i not in out:
            out.append(i)
    return out


# -- curves -----------------------------------------------------------------------------------------

def curves(studio, run_ids) -> tuple:
    """(loss, lr, accuracy, other) figures overlaying the runs in ``run_ids``."""
    series = []
    for rid in _ids(run_ids):
        run = studio.catalog.run(rid)
        if run is not None:
            series.append((f"#{rid} {run['name']}", studio.run_metrics(rid)))
    figs = F.curves_figures(series)
    return tuple(figs[f] for f in F.FAMILIES)


# -- one run: results tables ------------------------------------------------------------------------

def show(studio, run_id):
    """(summary, per-condition table, per-view table, chart) of one run's results."""
    run = _run(studio, run_id)
    if run is None:
        return ("No run selected. Train one in step 4, then pick it here.", _no_rows("condition", "rank-1 %"),
                _no_rows("condition"), F.empty_figure("no run selected", 300))
    res = _results(run)
    cfg = run.get("config") or {}
    head = (f"### Run #{run['id']} `{run['name']}` · {run['state']} · step {run['step']}/{cfg.get('iterations', '?')}"
            f"\n\nModel `{run['model']}` · preset `{cfg.get('preset', '') or '—'}` · dataset "
            f"`{_dataset_name(studio, run)}` · folder `{run['dir']}`")
    if not evaluations(res):
        ok, why = can_evaluate(studio, run)
        hint = "press **Evaluate** to test its latest checkpoint now" if ok else why
        return (head + f"\n\nRun `{run['name']}` has no results yet — they appear when training finishes (the "
                f"trainer evaluates on the test identities at the end); {hint}.",
                _no_rows("condition", "rank-1 %"), _no_rows("condition"),
                F.empty_figure(_not_evaluated_text(studio, run), 300))
    counts = res.get("counts") or {}
    chance = res.get("chance")
    summary = (head + f"\n\nEvaluated at step {res.get('step', run['step'])} · protocol `{protocol_of(res)}` · "
               f"metric `{res.get('metric', '?')}` · {res.get('num_test_ids', '?')} test identities · "
               f"{res.get('num_gallery', '?')} gallery / {res.get('num_probe', '?')} probe sequences"
               + (f" · chance {chance:.1f}%" if isinstance(chance, (int, float)) else "")
               + (f"\n\n*{res['note']}*" if res.get("note") else ""))
    refined = dict(evaluations(res)).get("refined")
    if refined:
        summary += f"\n\n**Refined** (test-time refinement): {headline_text(refined) or 'no numbers'}"
    spec = P.get(protocol_of(res) or P.DEFAULT_PROTOCOL)
    if P.FIG_PER_VIEW not in spec.figures:
        rows = [{"evaluation": label, **{k: _num(v) for k, v in headline(r).items()}} for label, r in evaluations(res)]
        return summary, pd.DataFrame(rows), _no_rows("condition"), F.empty_figure(
            f"per-view rank-1 is a CASIA-B result; this run was evaluated under {protocol_of(res)}", 300)
    per_cond = []
    for c in spec.conditions:
        if isinstance(res.get(c), (int, float)):
            row = {"condition": c, "rank-1 %": round(res[c], 2), "probes": counts.get(c, "")}
            if refined:
                row["refined rank-1 %"] = _num(refined.get(c))
            per_cond.append(row)
    per_view = res.get("per_view") or {}
    views = res.get("views") or sorted({v for d in per_view.values() for v in d})
    rows = []
    for label, r in evaluations(res):
        pv = r.get("per_view") or {}
        for c in spec.conditions:
            if c in pv:
                row = {"condition": c if label == "plain" else f"{c} ({label})"}
                for v in views:
                    row[v] = _num(pv[c].get(v))
                row["mean"] = _num(r.get(c))
                rows.append(row)
    return summary, pd.DataFrame(per_cond), pd.DataFrame(rows), C.results_figure(res)


# -- one run: embeddings-based panels (cached per file version) -------------------------------------

_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_SIZE = 12


def _cached(key: tuple, make):
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = make()
    _CACHE[key] = value
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path), st.st_mtime_ns, st.st_size)


def embeddings_file(run: dict) -> Path:
    """Where the run's last evaluation kept its embeddings (recorded in the results, else the default)."""
    from core.evaluate.run import embeddings_path

    recorded = _results(run).get("embeddings_file")
    if recorded and Path(recorded).is_file():
        return Path(recorded)
    return embeddings_path(run["dir"])


def _not_evaluated_text(studio, run: dict) -> str:
    train = _newest_jobs(studio, "train").get(run["id"])
    if train and train["state"] in C.ACTIVE:
        return f"run {run['name']} is still training (step {run['step']}); results appear when it finishes"
    return f"run {run['name']} has not been evaluated yet: press Evaluate"


def cmc_and_scatter(studio, run: dict, method: str = "pca") -> tuple:
    """(CMC figure, embedding scatter) from the run's saved embeddings, or figures saying what is missing."""
    from core.evaluate import report
    from core.errors import StudioError

    res = _results(run)
    path = embeddings_file(run)
    if not path.is_file():
        text = (_not_evaluated_text(studio, run) if not evaluations(res) else
                "this evaluation kept no embeddings (made by an older version or from a checkpoint file): "
                "press Evaluate to compute them")
        return F.empty_figure(text, 340, "CMC"), F.empty_figure(text, 460, "Embeddings")
    try:
        key = _file_key(path)
    except OSError as exc:
        text = C.error_text(exc)
        return F.empty_figure(text, 340, "CMC"), F.empty_figure(text, 460, "Embeddings")
    # Only figures are cached (small); the arrays (up to hundreds of MB on GREW) are read when a
    # figure for this file version is first needed and dropped afterwards.
    loaded: dict[str, Any] = {}

    def arrays() -> dict[str, Any]:
        if "a" not in loaded:
            loaded["a"] = report.load_saved_embeddings(path)
        return loaded["a"]

    ctx = (res.get("protocol"), res.get("metric"), res.get("step"))
    try:
        cmc = _cached(key + ("cmc",) + ctx, lambda: _cmc_figure(arrays(), res))
        scatter = _cached(key + ("scatter", method), lambda: _scatter_figure(arrays(), method))
    except (StudioError, OSError) as exc:
        text = C.error_text(exc)
        return F.empty_figure(text, 340, "CMC"), F.empty_figure(text, 460, "Embeddings")
    return cmc, scatter


def _cmc_figure(arrays: dict[str, Any], res: dict):
    from core.errors import StudioError

    protocol = str(arrays.get("protocol") or protocol_of(res) or P.DEFAULT_PROTOCOL)
    metric = str(arrays.get("metric") or res.get("metric") or "") or None
    stale = ""
    if isinstance(arrays.get("step"), int) and res.get("step") not in (None, arrays["step"]):
        stale = f" (embeddings of step {arrays['step']}; results of step {res.get('step')})"
    try:
        curves_ = P.cmc_curves(arrays, protocol, metric=metric, max_rank=MAX_CMC_RANK)
    except (ValueError, StudioError) as exc:
        return F.empty_figure(f"no CMC: {exc}", 340, "CMC")
    return F.cmc_figure(curves_, f"CMC · {protocol} · {metric or 'default metric'}{stale}")


def _scatter_figure(arrays: dict[str, Any], method: str):
    from core.errors import StudioError
    from core.evaluate import report

    n = len(arrays["embeddings"])
    try:
        proj = report.project_2d(arrays["embeddings"], method)
    except (ValueError, StudioError) as exc:
        return F.empty_figure(f"no projection: {exc}", 460, "Embeddings")
    cols = [arrays.get(k) if arrays.get(k) is not None else [""] * n for k in ("labels", "seqs", "views", "roles")]
    hover = [f"id {i} · {s} · view {v} · {r}" for i, s, v, r in zip(*cols)]
    title = f"{proj.method.upper()} of {n} test sequences"
    if proj.explained:
        title += f" · axes explain {proj.explained[0] * 100:.1f}% / {proj.explained[1] * 100:.1f}% of the variance"
    return F.scatter_figure(proj.xy, cols[0], report.sequence_conditions(arrays), hover, title)


def heatmap(studio, run: dict):
    res = _results(run)
    evs = evaluations(res)
    if not evs:
        return F.empty_figure(_not_evaluated_text(studio, run), 300, "Rank-1 per probe × gallery view")
    return F.heatmap_figure(evs)


def config_text(run: dict | None, fmt: str = "JSON") -> dict:
    if run is None:
        return gr.update(value="", language="json")
    cfg = run.get("config") or {}
    if str(fmt).upper() == "YAML":
        import yaml

        return gr.update(value=yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None), language="yaml")
    return gr.update(value=json.dumps(cfg, indent=2), language="json")


def checkpoint_file(run: dict) -> str | None:
    from core.train.checkpoint import latest_checkpoint

    p = latest_checkpoint(run["dir"])
    return str(p) if p else None


def export_file(run: dict) -> str | None:
    """The OpenGait export if one exists and is not older than the checkpoint it came from."""
    from core.evaluate.run import OPENGAIT_EXPORT_FILE

    out = Path(run["dir"]) / OPENGAIT_EXPORT_FILE
    ck = checkpoint_file(run)
    if out.is_file() and (ck is None or out.stat().st_mtime >= Path(ck).stat().st_mtime):
        return str(out)
    return None


def can_evaluate(studio, run: dict | None) -> tuple[bool, str]:
    if run is None:
        return False, "select a run first"
    if checkpoint_file(run) is None:
        return False, f"run {run['name']} has no checkpoint yet: it is written during training (step 4)"
    train = _newest_jobs(studio, "train").get(run["id"])
    if train and train["state"] in C.ACTIVE:
        return False, f"run {run['name']} is still training; it is evaluated when training finishes"
    ev = _newest_jobs(studio, "eval").get(run["id"])
    if ev and ev["state"] in C.ACTIVE:
        return False, f"run {run['name']} is already being evaluated (job #{ev['id']})"
    return True, ""


def details(studio, run_id, method: str = "pca", fmt: str = "JSON") -> tuple:
    """(heatmap, CMC, scatter, config, checkpoint file, OpenGait file, Evaluate button) of one run."""
    run = _run(studio, run_id)
    if run is None:
        empty = F.empty_figure("no run selected", 300)
        return (empty, empty, empty, config_text(None), None, None, gr.update(interactive=False))
    cmc, scatter = cmc_and_scatter(studio, run, method or "pca")
    ok, _ = can_evaluate(studio, run)
    return (heatmap(studio, run), cmc, scatter, config_text(run, fmt), checkpoint_file(run), export_file(run),
            gr.update(interactive=ok))


# -- actions ----------------------------------------------------------------------------------------

def _protocol_for(run: dict) -> str:
    """Evaluate again under the protocol used before, else the one the training preset is for."""
    proto = protocol_of(_results(run))
    if proto in P.PROTOCOLS:
        return proto
    preset = str((run.get("config") or {}).get("preset", ""))
    return next((p for p in P.PROTOCOLS if preset.startswith(p)), P.DEFAULT_PROTOCOL)


def evaluate(studio, run_id) -> str:
    """Queue an evaluation of the run's latest checkpoint (results and embeddings land on the run)."""
    run = _run(studio, run_id)
    ok, why = can_evaluate(studio, run)
    if not ok:
        return C.error_md(why)
    try:
        job_id = studio.start_eval(run["id"], protocol=_protocol_for(run))
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc)
    busy = [j for j in studio.jobs(states=C.ACTIVE) if j["slot"] == "device" and j["id"] != job_id]
    wait = f"; it waits for job #{busy[-1]['id']} to finish" if busy else ""
    return C.ok_md(f"evaluating run {run['name']} (job #{job_id}){wait}")


def export_opengait(studio, run_id) -> tuple[str, str | None]:
    """Write ``<run_dir>/export/opengait.pt`` and offer it for download: (message, file)."""
    from core.evaluate.run import export_opengait as export

    run = _run(studio, run_id)
    if run is None:
        return C.error_md("select a run first"), None
    if checkpoint_file(run) is None:
        return C.error_md(f"run {run['name']} has no checkpoint to export yet"), None
    try:
        path = export(run["dir"])
    except Exception as exc:  # noqa: BLE001 - shown on the page, never a traceback
        return C.report_error(exc), None
    return C.ok_md(f"wrote {path} (load it in OpenGait with restore_hint)"), str(path)


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
    runs = studio.runs()
    jobs = [(j["id"], j["state"], j.get("run_id")) for k in ("train", "eval") for j in studio.jobs(kind=k, limit=50)]
    # The dropdowns' labels carry no step: a training run must not re-send them (and disturb a user
    # picking from them) every tick; the table, which shows the step, follows it.
    choices = _digest([(r["id"], r["name"], r["state"], _digest(r.get("results"))) for r in runs])
    table = _digest([[(r["id"], r["step"]) for r in runs], choices, jobs])
    metrics = {}
    for rid in compare:
        m = studio.run_metrics(rid)
        metrics[rid] = {k: (len(v), v[-1][0]) for k, v in m.items()}
    run = studio.catalog.run(run_id) if run_id is not None else None
    detail = None
    if run is not None:
        rid = run["id"]
        job_states = [(j[0], j[1]) for j in jobs if j[2] == rid]
        # No step here either (the progress bar shows it): the panels follow checkpoints and results.
        detail = [rid, run["state"], _digest(run.get("results")), method, fmt,
                  _mtime(embeddings_file(run)), _mtime(checkpoint_file(run)), _mtime(export_file(run)), job_states]
    return {"choices": choices, "table": table, "curves": _digest([compare, metrics]), "detail": _digest(detail)}


def _progress(studio, run_id: int | None) -> str:
    if run_id is None:
        return ""
    job = C.latest_job(studio, "eval", where=lambda j: j.get("run_id") == run_id)
    train = C.latest_job(studio, "train", where=lambda j: j.get("run_id") == run_id)
    if train and train["state"] in C.ACTIVE:
        return C.job_progress_html(train, "training")
    return C.job_progress_html(job, "evaluation") if job else ""


def _load_sig(sig: str) -> dict:
    try:
        out = json.loads(sig) if sig else {}
    except (TypeError, ValueError):
        out = {}
    return out if isinstance(out, dict) else {}


DETAIL_OUTPUTS = 11    # summary, per-condition, per-view, chart, heatmap, CMC, scatter, config, 2 files, button


def select(studio, run_id, method, fmt, compare, sig):
    """The user picked a run: render its panels now, and record them so the next tick skips them."""
    rid = C.as_int(run_id)
    old = _load_sig(sig)
    new = signature(studio, rid, _ids(compare), method or "pca", fmt or "JSON")
    # Only this run's panels are rendered here: the table and curves keep their old fingerprints.
    parts = {**{k: old.get(k, "") for k in ("choices", "table", "curves")}, "detail": new["detail"]}
    return (_progress(studio, rid), *show(studio, rid), *details(studio, rid, method, fmt), json.dumps(parts))


def scatter_only(studio, run_id, method):
    run = _run(studio, run_id)
    return cmc_and_scatter(studio, run, method)[1] if run else F.empty_figure("no run selected", 460)


def refresh(studio, current, sig, compare=None, method="pca", fmt="JSON"):
    """Tick: (run dropdown, progress, 11 run panels, table, empty note, compare dropdown,
    4 curve figures, sig); parts whose fingerprint is unchanged are skipped."""
    choices = run_choices(studio)
    ids = [v for _, v in choices]
    rid = C.as_int(current)
    if rid not in ids:
        rid = _default_run(studio)
    old = _load_sig(sig)
    chosen = [i for i in _ids(compare) if i in ids]
    new = signature(studio, rid, chosen, method or "pca", fmt or "JSON")
    # On first load, and when runs appear or change while none is compared, show the newest
    # runs' curves rather than empty plots.
    if not chosen and ids and (not sig or new["choices"] != old.get("choices")):
        chosen = ids[:DEFAULT_COMPARE]
        new = signature(studio, rid, chosen, method or "pca", fmt or "JSON")
    progress = _progress(studio, rid)
    if new["choices"] != old.get("choices") or rid != C.as_int(current):
        run_dd = gr.update(choices=choices, value=rid)
        empty = gr.update(value="" if choices else NO_RUNS, visible=not choices)
        compare_dd = gr.update(choices=choices, value=chosen)
    else:
        run_dd, empty, compare_dd = gr.skip(), gr.skip(), gr.skip()
    table = runs_table(studio) if new["table"] != old.get("table") else gr.skip()
    if new["detail"] != old.get("detail"):
        panels = (*show(studio, rid), *details(studio, rid, method or "pca", fmt or "JSON"))
    else:
        panels = C.skips(DETAIL_OUTPUTS)
    plots = curves(studio, chosen) if new["curves"] != old.get("curves") else C.skips(4)
    return (run_dd, progress, *panels, table, empty, compare_dd, *plots, json.dumps(new))


def select_row(studio, table, method, fmt, compare, sig, evt: gr.SelectData):
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
        return (gr.skip(),) + C.skips(DETAIL_OUTPUTS + 2)
    return (gr.update(value=rid), *select(studio, rid, method, fmt, compare, sig))


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
        run = gr.Dropdown(label="Run", choices=choices, value=_default_run(studio), scale=4, elem_id="results-run")
        eval_btn = gr.Button("Evaluate", scale=1, elem_id="results-eval", interactive=False)
    msg = gr.HTML(elem_id="results-msg")
    progress = gr.HTML(elem_id="results-progress")
    summary = gr.Markdown(elem_id="results-summary")
    with gr.Row():
        per_cond = gr.Dataframe(label="Headline (%)", interactive=False, elem_id="results-cond")
        per_view = gr.Dataframe(label="Rank-1 per probe view (%)", interactive=False, elem_id="results-view")
    chart = gr.Plot(label="Rank-1 per view", elem_id="results-chart")
    heat = gr.Plot(label="Rank-1 per probe × gallery view", elem_id="results-heatmap")
    with gr.Row():
        cmc = gr.Plot(label="CMC", elem_id="results-cmc")
        with gr.Column():
            from core.evaluate.report import projection_methods

            method = gr.Radio(projection_methods(), value="pca", label="Projection", elem_id="results-projection",
                              info="t-SNE is offered when scikit-learn is installed")
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

    detail = [summary, per_cond, per_view, chart, heat, cmc, scatter, config, ckpt, exported, eval_btn]
    assert len(detail) == DETAIL_OUTPUTS
    sel_inputs = [method, fmt, compare, sig]
    run.input(lambda r, *a: select(studio, r, *a), inputs=[run, *sel_inputs], outputs=[progress, *detail, sig])

    def on_row(t, m, f, c, s, evt: gr.SelectData):
        return select_row(studio, t, m, f, c, s, evt)

    table.select(on_row, inputs=[table, *sel_inputs], outputs=[run, progress, *detail, sig])
    compare.input(lambda c: curves(studio, c), inputs=compare, outputs=[loss_plot, lr_plot, acc_plot, other_plot])
    method.input(lambda r, m: scatter_only(studio, r, m), inputs=[run, method], outputs=scatter)
    fmt.input(lambda r, f: config_text(_run(studio, r), f), inputs=[run, fmt], outputs=config)
    eval_btn.click(lambda r: evaluate(studio, r), inputs=run, outputs=msg)
    export_btn.click(lambda r: export_opengait(studio, r), inputs=run, outputs=[export_msg, exported])

    tick = dict(fn=lambda r, s, c, m, f: refresh(studio, r, s, c, m, f), inputs=[run, sig, compare, method, fmt],
                outputs=[run, progress, *detail, table, empty, compare, loss_plot, lr_plot, acc_plot, other_plot, sig],
                show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}
