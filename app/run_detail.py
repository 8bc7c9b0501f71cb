"""Runs page · one run in depth: its results tables and chart, heatmap, CMC, embedding map, config, files.

The CMC curve and embedding map come from ``<run_dir>/eval/embeddings.npz``, which every
evaluation keeps; runs evaluated before that say so and offer the Evaluate button. A
``results['refined']`` entry (test-time refinement) is shown beside the plain evaluation wherever
one is. Each function returns ``{output name: value}`` for the panels it fills (``SHOW`` and
``DETAILS`` name them).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from app import common as C
from app import runs_figures as F
from app.runs_tables import dataset_name, headline_text, no_rows, num
from core.studio import StudioError, protocols as P, runs

SHOW = ("summary", "per_cond", "per_view", "chart")
DETAILS = ("heat", "cmc", "scatter", "config", "ckpt", "exported", "eval_btn")
PANELS = SHOW + DETAILS
HEAVY = ("heat", "cmc", "scatter")   # drawn when their section is open (app.results_tab)
MAX_CMC_RANK = 100           # CCVID / GREW rank sequences; the curve's tail past this says little


def get_run(studio, run_id) -> dict | None:
    return studio.run(C.as_int(run_id))


def not_evaluated_text(studio, run: dict) -> str:
    if studio.is_training(run):
        # No step: this text is redrawn only when the run's results change, so a step would go stale.
        return f"run {run['name']} is still training; results appear when it finishes"
    return f"run {run['name']} has not been evaluated yet: press Evaluate"


# -- results tables ---------------------------------------------------------------------------------

def show(studio, run_id) -> dict[str, Any]:
    """Summary, per-condition table, per-view table and chart of one run's results."""
    run = get_run(studio, run_id)
    if run is None:
        return dict(zip(SHOW, ("No run selected. Train one in step 4, then pick it here.",
                               no_rows("condition", "rank-1 %"), no_rows("condition"),
                               F.empty_figure("no run selected", 300))))
    res = runs.results(run)
    evs = runs.evaluations(res)
    cfg = run.get("config") or {}
    # A training run's step is in the progress bar and the table, which follow every tick; this
    # header is redrawn on results and checkpoints only, so it names the step only once it is final.
    step = ("training (step in the progress bar above)" if studio.is_training(run)
            else f"step {run['step']}/{cfg.get('iterations', '?')}")
    head = (f"### Run #{run['id']} `{run['name']}` · {run['state']} · {step}"
            f"\n\nModel `{run['model']}` · preset `{cfg.get('preset', '') or '—'}` · dataset "
            f"`{dataset_name(studio, run)}` · folder `{run['dir']}`")
    if not evs:
        ok, why = studio.can_evaluate(run)
        hint = "press **Evaluate** to test its latest checkpoint now" if ok else why
        return dict(zip(SHOW, (
            head + f"\n\nRun `{run['name']}` has no results yet — they appear when training finishes (the "
            f"trainer evaluates on the test identities at the end); {hint}.",
            no_rows("condition", "rank-1 %"), no_rows("condition"),
            F.empty_figure(not_evaluated_text(studio, run), 300))))
    counts = res.get("counts") or {}
    chance = res.get("chance")
    protocol = P.protocol_of(res)
    summary = (head + f"\n\nEvaluated at step {res.get('step', run['step'])} · protocol `{protocol}` · "
               f"metric `{res.get('metric', '?')}` · {res.get('num_test_ids', '?')} test identities · "
               f"{res.get('num_gallery', '?')} gallery / {res.get('num_probe', '?')} probe sequences"
               + (f" · chance {chance:.1f}%" if isinstance(chance, (int, float)) else "")
               + (f"\n\n*{res['note']}*" if res.get("note") else ""))
    refined = dict(evs).get("refined")
    if refined:
        summary += f"\n\n**Refined** (test-time refinement): {headline_text(refined) or 'no numbers'}"
    spec = P.get(protocol or P.DEFAULT_PROTOCOL)
    if P.FIG_PER_VIEW not in spec.figures:
        rows = [{"evaluation": label, **{k: num(v) for k, v in P.headline(r).items()}} for label, r in evs]
        return dict(zip(SHOW, (summary, pd.DataFrame(rows), no_rows("condition"), F.empty_figure(
            f"per-view rank-1 is a CASIA-B result; this run was evaluated under {protocol}", 300))))
    per_cond = []
    for c in spec.conditions:
        if isinstance(res.get(c), (int, float)):
            row = {"condition": c, "rank-1 %": round(res[c], 2), "probes": counts.get(c, "")}
            if refined:
                row["refined rank-1 %"] = num(refined.get(c))
            per_cond.append(row)
    per_view = res.get("per_view") or {}
    views = res.get("views") or sorted({v for d in per_view.values() for v in d})
    rows = []
    for label, r in evs:
        pv = r.get("per_view") or {}
        for c in spec.conditions:
            if c in pv:
                row = {"condition": c if label == "plain" else f"{c} ({label})"}
                for v in views:
                    row[v] = num(pv[c].get(v))
                row["mean"] = num(r.get(c))
                rows.append(row)
    return dict(zip(SHOW, (summary, pd.DataFrame(per_cond), pd.DataFrame(rows), C.results_figure(res))))


# -- embeddings-based panels (cached per file version) -------------------------------------

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


def cmc_and_scatter(studio, run: dict, method: str = "pca") -> tuple:
    """(CMC figure, embedding scatter) from the run's saved embeddings, or figures saying what is missing."""
    res = runs.results(run)
    path = runs.embeddings_file(run)
    if not path.is_file():
        text = (not_evaluated_text(studio, run) if not runs.evaluations(res) else
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
            loaded["a"] = studio.saved_embeddings(path)
        return loaded["a"]

    stored = studio.stored_report(path)
    if stored is not None and (method or "pca") == "pca":
        return _stored_cmc(stored, res), _stored_scatter(stored["pca"])
    ctx = (res.get("protocol"), res.get("metric"), res.get("step"))
    try:
        cmc = _cached(key + ("cmc",) + ctx, lambda: _cmc_figure(arrays(), res))
        scatter = _cached(key + ("scatter", method), lambda: _scatter_figure(studio, arrays(), method))
    except (StudioError, OSError) as exc:
        text = C.error_text(exc)
        return F.empty_figure(text, 340, "CMC"), F.empty_figure(text, 460, "Embeddings")
    return cmc, scatter


def _stale(made_at: Any, res: dict) -> str:
    if isinstance(made_at, int) and res.get("step") not in (None, made_at):
        return f" (embeddings of step {made_at}; results of step {res.get('step')})"
    return ""


def _stored_cmc(stored: dict, res: dict):
    """The CMC figure from the curves stored when the evaluation finished."""
    if stored.get("cmc_error"):
        return F.empty_figure(f"no CMC: {stored['cmc_error']}", 340, "CMC")
    return F.cmc_figure(stored["cmc"], f"CMC · {stored['protocol']} · {stored.get('metric') or 'default metric'}"
                        + _stale(stored.get("step"), res))


def _stored_scatter(pca: dict):
    """The PCA map from the projection stored when the evaluation finished."""
    hover = [f"id {i} · {s} · view {v} · {r}" for i, s, v, r in zip(*(pca[k] for k in ("labels", "seqs", "views",
                                                                                       "roles")))]
    return _map_figure(pca["xy"], "pca", pca.get("explained"), pca["labels"], pca["conditions"], hover)


def _map_figure(xy, method: str, explained, labels, conditions, hover):
    title = f"{method.upper()} of {len(xy)} test sequences"
    if explained:
        title += f" · axes explain {explained[0] * 100:.1f}% / {explained[1] * 100:.1f}% of the variance"
    return F.scatter_figure(xy, labels, conditions, hover, title)


def _cmc_figure(arrays: dict[str, Any], res: dict):
    protocol = str(arrays.get("protocol") or P.protocol_of(res) or P.DEFAULT_PROTOCOL)
    metric = str(arrays.get("metric") or res.get("metric") or "") or None
    stale = _stale(arrays.get("step"), res)
    try:
        curves_ = P.cmc_curves(arrays, protocol, metric=metric, max_rank=MAX_CMC_RANK)
    except (ValueError, StudioError) as exc:
        return F.empty_figure(f"no CMC: {exc}", 340, "CMC")
    return F.cmc_figure(curves_, f"CMC · {protocol} · {metric or 'default metric'}{stale}")


def _scatter_figure(studio, arrays: dict[str, Any], method: str):
    n = len(arrays["embeddings"])
    try:
        proj = studio.project_2d(arrays["embeddings"], method)
    except (ValueError, StudioError) as exc:
        return F.empty_figure(f"no projection: {exc}", 460, "Embeddings")
    cols = [arrays.get(k) if arrays.get(k) is not None else [""] * n for k in ("labels", "seqs", "views", "roles")]
    hover = [f"id {i} · {s} · view {v} · {r}" for i, s, v, r in zip(*cols)]
    return _map_figure(proj.xy, proj.method, proj.explained, cols[0], studio.sequence_conditions(arrays), hover)


def heatmap(studio, run: dict):
    evs = runs.evaluations(runs.results(run))
    if not evs:
        return F.empty_figure(not_evaluated_text(studio, run), 300, "Rank-1 per probe × gallery view")
    return F.heatmap_figure(evs)


# -- config and files ----------------------------------------------------------------------------

def config_text(run: dict | None, fmt: str = "JSON") -> dict:
    if run is None:
        return gr.update(value="", language="json")
    cfg = run.get("config") or {}
    if str(fmt).upper() == "YAML":
        import yaml

        return gr.update(value=yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None), language="yaml")
    return gr.update(value=json.dumps(cfg, indent=2), language="json")


def _path_text(p: Path | None) -> str | None:
    return str(p) if p else None


def heavy(studio, run_id, method: str = "pca") -> dict[str, Any]:
    """The heatmap, CMC and embedding map of one run (``HEAVY``)."""
    run = get_run(studio, run_id)
    if run is None:
        empty = F.empty_figure("no run selected", 300)
        return dict(zip(HEAVY, (empty, empty, empty)))
    cmc, scatter = cmc_and_scatter(studio, run, method or "pca")
    return dict(zip(HEAVY, (heatmap(studio, run), cmc, scatter)))


def details(studio, run_id, method: str = "pca", fmt: str = "JSON", with_heavy: bool = True) -> dict[str, Any]:
    """Config, checkpoint file, OpenGait file and Evaluate button of one run, and the ``HEAVY``
    figures when ``with_heavy`` (else they are left as they are, to be drawn when shown)."""
    run = get_run(studio, run_id)
    figs = heavy(studio, run_id, method) if with_heavy else {k: gr.skip() for k in HEAVY}
    if run is None:
        return {**figs, **dict(zip(DETAILS[3:], (config_text(None), None, None, gr.update(interactive=False))))}
    ok, _ = studio.can_evaluate(run)
    return {**figs, **dict(zip(DETAILS[3:], (config_text(run, fmt), _path_text(runs.checkpoint_file(run)),
                                             _path_text(runs.export_file(run)), gr.update(interactive=ok))))}


def panels(studio, run_id, method: str = "pca", fmt: str = "JSON", with_heavy: bool = True) -> dict[str, Any]:
    """Every panel of one run (``PANELS``); the ``HEAVY`` ones only ``with_heavy``."""
    return {**show(studio, run_id), **details(studio, run_id, method, fmt, with_heavy)}
