"""Step 1 · Dataset: what is in the workspace, opening a folder, and the validation report."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from typing import Any

import gradio as gr
import pandas as pd
from gradio.components.base import server

from app import assets, common as C
from core.studio import StudioError, options as O, runs

DEMO_ARGS_ENV = "HYBRIDGAIT_DEMO_ARGS"
EMPTY_COUNTS = pd.DataFrame({"condition": []})
EMPTY_PROBLEMS = pd.DataFrame({"file": [], "reason": [], "severity": []})
EMPTY_DETECT = pd.DataFrame({"format": [], "confidence": [], "reason": []})
EMPTY_PATTERN = pd.DataFrame({"file": [], "matched": [], "sequence": [], "reason": []})
AUTO = "auto-detect"
SHOWN = ("error", "summary", "counts", "problems", "gallery")     # what a shown dataset fills


def demo_kwargs() -> dict:
    """Demo parameters from $HYBRIDGAIT_DEMO_ARGS (JSON), so tests can ask for a tiny set."""
    raw = os.environ.get(DEMO_ARGS_ENV, "").strip()
    if not raw:
        return {}
    try:
        args = json.loads(raw)
    except json.JSONDecodeError:
        C.log.warning("ignoring %s: not JSON: %r", DEMO_ARGS_ENV, raw)
        return {}
    # the demo job's options, except where it goes and its layout (the studio picks those)
    return {k: v for k, v in args.items() if k in set(O.defaults("demo")) - {"layout"}}


# -- handlers -------------------------------------------------------------------------------------

def create_demo(studio, ids=None, frames=None) -> dict[str, Any]:
    """Start the demo generator (``ids`` identities, ``frames`` per sequence; blank: the defaults)
    unless one is already running; the message and progress."""
    active = studio.active_job("demo")
    if active:
        return {"msg": C.ok_md(f"the demo set is already being generated (job #{active['id']})"),
                "progress": C.job_progress_html(active, "demo dataset")}
    try:
        size = {k: int(v) for k, v in (("ids", C.as_int(ids)), ("frames", C.as_int(frames))) if v}
        job_id = studio.create_demo(**{**demo_kwargs(), **size})
    except Exception as exc:  # noqa: BLE001 - shown to the user
        return {"msg": C.report_error(exc), "progress": ""}
    return {"msg": C.ok_md(f"generating the synthetic demo set (job #{job_id}); it appears below when done"),
            "progress": C.job_progress_html(studio.job(job_id), "demo dataset")}


def refresh(studio, current, sig, msg="") -> dict[str, Any]:
    """Timer/load tick: empty state, dataset list (only when the catalog changed) and demo progress;
    a message about a demo job goes once the job is over (the progress line says how it ended)."""
    datasets = studio.datasets()
    new_sig = json.dumps([(d["id"], d["name"]) for d in datasets])
    demo_job = studio.latest_job("demo")
    active = runs.is_active(demo_job)
    show_demo = demo_job is not None and (active or demo_job["state"] == "failed" or not datasets)
    progress = C.job_progress_html(demo_job, "demo dataset") if show_demo else ""
    stale = not active and "(job #" in (msg or "")
    out = {"progress": progress, "msg": "" if stale else gr.skip()}
    if new_sig == sig:
        return {**out, **C.skips("empty", "picker", "sig")}
    choices = C.dataset_choices(studio)
    value = C.keep_value(C.as_int(current), choices, prefer_last=False)
    return {**out, "empty": gr.update(visible=not datasets), "picker": gr.update(choices=choices, value=value),
            "sig": new_sig}


def _report_outputs(studio, report, header: str):
    s = report.summary()
    lines = [header,
             f"**Format:** `{s['format']}` · **root:** `{s['root']}`",
             f"**{s['ids']} identities** ({'–'.join(s['id_range'])}) · **{s['sequences']} sequences** · "
             f"**{s['frames']} frames** · views {', '.join(s['views'])}",
             "**Sequences per condition:** " + ", ".join(f"{k} {v}" for k, v in s["conditions"].items()),
             f"**Problems:** {s['errors']} errors, {s['warnings']} warnings"]
    # Notes quote patterns like <sid>-<type>; escaped so Markdown does not eat them as HTML tags.
    lines += [f"- {html.escape(n)}" for n in s["notes"]]
    counts = pd.DataFrame(report.counts_table()) if report.sequences else EMPTY_COUNTS
    frames = [(C.to_rgb(img), cap) for img, cap in studio.sample_frames(report)]
    return {"error": "", "summary": "\n\n".join(lines), "counts": counts, "problems": _problems_table(report),
            "gallery": frames}


def _problems_table(report) -> pd.DataFrame:
    """Every file's problem, errors first (the first 500)."""
    rows = report.problem_rows()[:500]
    return pd.DataFrame([{"file": r["path"], "reason": r["reason"], "severity": r["severity"]} for r in rows]) \
        if rows else EMPTY_PROBLEMS


def _scan_failed(exc: Exception) -> dict[str, Any]:
    """The error, and, when no sequence was readable, the problem of every file that was looked at."""
    report = getattr(exc, "report", None)     # NothingReadable carries the scan's report
    return {**_failed(C.report_error(exc)), **({"problems": _problems_table(report)} if report is not None else {})}


def _decode_arg(sample) -> int | None:
    """The decode-sample box: empty is every frame."""
    n = C.as_int(str(sample).strip()) if sample is not None else None
    return None if n is None else max(0, n)


def _bar(progress):
    """A gr.Progress as the studio's progress(done, total, message) callback."""
    if progress is None:
        return None
    return lambda done, total, message: progress(done / max(total, 1), desc=message)


def _converted_outputs(studio, ds: dict):
    info = ds.get("info") or {}
    conv = info.get("conversion") or {}
    counts = studio.sequence_counts(ds["id"])
    lines = [f"### {ds['name']} (converted)",
             f"**Format:** `{ds['format']}` · **path:** `{ds['path']}`",
             f"Converted from `{info.get('source', '?')}`"
             + (f" · {conv.get('sequences')} sequences, {conv.get('frames')} frames, "
                f"{conv.get('dropped_frames')} dropped frames, {conv.get('failed')} failed" if conv else ""),
             f"**Identities:** {conv.get('train_ids', '?')} train, {conv.get('test_ids', '?')} test"]
    table = pd.DataFrame(counts) if counts else EMPTY_COUNTS
    root = Path(ds["path"])
    geis = sorted(root.glob("train/*/*_gei.png"))[:8] + sorted(root.glob("test/*/*/*_gei.png"))[:4]
    gallery = [(str(p), p.name.replace("_gei.png", " · GEI")) for p in geis]
    return {"error": "", "summary": "\n\n".join(lines), "counts": table, "problems": EMPTY_PROBLEMS,
            "gallery": gallery}


def _failed(error: str) -> dict[str, Any]:
    return {"error": error, "summary": "", "counts": EMPTY_COUNTS, "problems": EMPTY_PROBLEMS, "gallery": []}


def show_dataset(studio, ds_id, sample=None, progress=None, shown=None) -> dict[str, Any]:
    """The error, summary, counts, problems and gallery (``SHOWN``) of a catalogued dataset.
    ``shown`` is the dataset already on the page (just opened): it is not scanned again."""
    ds_id = C.as_int(ds_id)
    if ds_id is None or ds_id == C.as_int(shown):  # an empty list refreshing must not wipe an error the user reads
        return C.skips(*SHOWN)
    return {**_show(studio, ds_id, sample, progress), "shown": ds_id}


def _show(studio, ds_id: int, sample, progress) -> dict[str, Any]:
    ds = studio.dataset(ds_id)
    if ds is None:
        return _failed(C.error_md(f"dataset #{ds_id} is no longer in the catalog"))
    try:
        if ds["kind"] == "converted":
            return _converted_outputs(studio, ds)
        opened = studio.open_dataset(ds["path"], decode_sample=_decode_arg(sample), progress=_bar(progress))
        return _report_outputs(studio, opened["report"], f"### {opened['name']} (raw)")
    except Exception as exc:  # noqa: BLE001
        return _scan_failed(exc)


def open_path(studio, path, fmt=AUTO, pattern="", sample=None, progress=None) -> dict[str, Any]:
    """Scan (decoding every frame, or ``sample`` per sequence) and register a folder: ``SHOWN``
    and the dataset picker. With no readable sequence, the problems still list every file."""
    path = (path or "").strip()
    if not path:
        return {"error": C.error_md("enter the path of a dataset folder first, or pick one in the browser"),
                **C.skips("summary", "counts", "problems", "gallery", "picker")}
    try:
        opened = studio.open_dataset(path, format=None if fmt in (None, "", AUTO) else fmt,
                                     pattern=(pattern or "").strip() or None, decode_sample=_decode_arg(sample),
                                     progress=_bar(progress))
    except Exception as exc:  # noqa: BLE001
        return {**_scan_failed(exc), "picker": gr.skip()}
    out = _report_outputs(studio, opened["report"], f"### {opened['name']} (raw, opened from `{path}`)")
    choices = C.dataset_choices(studio)
    return {**out, "picker": gr.update(choices=choices, value=opened["dataset_id"]), "shown": opened["dataset_id"]}


def detect_table(studio, path):
    """Every format the folder could be, with confidence and reason, best first."""
    path = (path or "").strip()
    if not path or not Path(path).is_dir():
        return EMPTY_DETECT
    try:
        found = studio.detect_formats(path)
    except StudioError as exc:   # outside the roots: say so, never what is there
        return pd.DataFrame([{"format": "—", "confidence": 0.0, "reason": str(exc)}])
    except Exception:  # noqa: BLE001 - the open button reports the real error
        return EMPTY_DETECT
    return pd.DataFrame([{"format": d.format, "confidence": round(d.confidence, 2), "reason": d.reason}
                         for d in found]) if found else EMPTY_DETECT


def pattern_preview(studio, path, pattern, fmt=AUTO) -> dict[str, Any]:
    """The error and table of what the pattern takes from the folder's first names: video file
    names, or the sequence folders of a tree (generic or a preset; chosen or detected)."""
    if not (path or "").strip() or not (pattern or "").strip():
        return {"error": C.error_md("enter a folder and a pattern such as {sid}_{condition}-{seq}_{view} (videos) "
                                    "or {condition}-{seq} (a tree's sequence folders)"),
                "pattern_table": EMPTY_PATTERN}
    try:
        rows = studio.preview_pattern(path.strip(), pattern.strip(), None if fmt in (None, "", AUTO) else fmt)
    except Exception as exc:  # noqa: BLE001
        return {"error": C.report_error(exc), "pattern_table": EMPTY_PATTERN}
    if not rows:
        return {"error": C.error_md(f"{path}: no video files or sequence folders found"),
                "pattern_table": EMPTY_PATTERN}
    return {"error": "", "pattern_table": pd.DataFrame(rows)}


def rooted_explorer(studio) -> type[gr.FileExplorer]:
    """gr.FileExplorer whose listing (callable through the API) never follows a symlink out of the
    studio's roots. A class per studio, because Gradio rebuilds a component from its constructor
    arguments on every update, which would drop anything stored on the instance."""
    class RootedFileExplorer(gr.FileExplorer):
        def get_block_name(self) -> str:    # the page draws it as the ordinary file explorer
            return "fileexplorer"

        @server
        def ls(self, subdirectory: list[str] | None = None) -> list[dict[str, str]] | None:
            inside = set(studio.listing(self._safe_join(subdirectory or [])))
            return [e for e in (super().ls(subdirectory) or []) if e["name"] in inside] if inside else []

    return RootedFileExplorer


def browse_root(root, roots: list[str]):
    """The explorer re-rooted at ``root``, which must be one of the offered roots."""
    return gr.update(root_dir=root, value=None) if root in roots else gr.skip()


def picked(selection, roots_value):
    """A FileExplorer selection -> the folder to open (a file's own folder)."""
    if not selection:
        return gr.skip()
    p = Path(selection if isinstance(selection, str) else selection[0])
    if not p.is_absolute():
        p = Path(roots_value or ".") / p
    return str(p if p.is_dir() else p.parent)


# -- layout ------------------------------------------------------------------------------------------

def build(studio, timer: gr.Timer, roots: list[Path] | None = None) -> dict:
    roots = roots or (studio.roots.folders if studio.roots else [Path.cwd()])
    roots = [str(Path(r).resolve()) for r in roots if Path(r).is_dir()] or [str(Path.cwd())]
    sig = gr.State("")
    with gr.Column(visible=not studio.datasets(), elem_classes=["hg-empty"]) as empty:
        gr.Markdown("### No dataset in this workspace yet\n"
                    "Start with the **synthetic demo set** (walking people rendered in CASIA-B's silhouette "
                    "layout, with part labels for the model-free augmentation), or open a dataset folder below.")
        size = {**O.defaults("demo"), **demo_kwargs()}
        with gr.Row():
            demo_ids = gr.Number(value=size["ids"], precision=0, minimum=2, label="Identities", scale=1,
                                 info=O.field_help("demo", "ids"), elem_id="demo-ids")
            demo_frames = gr.Number(value=size["frames"], precision=0, minimum=4, label="Frames per sequence",
                                    scale=1, info=O.field_help("demo", "frames"), elem_id="demo-frames")
            demo_btn = gr.Button("Create demo dataset", variant="primary", scale=2, elem_id="create-demo")
    demo_msg = gr.HTML(elem_id="demo-msg")
    demo_progress = gr.HTML(elem_id="demo-progress")
    with gr.Row():
        picker = gr.Dropdown(label="Datasets in this workspace", choices=C.dataset_choices(studio), value=None,
                             scale=3, elem_id="dataset-picker")
    with gr.Row():
        path = gr.Textbox(label="Open a dataset folder", placeholder="/data/CASIA-B/silhouettes", scale=4,
                          elem_id="open-path")
        fmt = gr.Dropdown([AUTO, *O.choices("scan", "format")], value=AUTO, label="Format", scale=2, elem_id="open-format")
        # a Textbox, not a Number: a Number shows an empty value as 0, which here would mean "decode none"
        sample = gr.Textbox(value="", placeholder="all frames", label="Frames decoded per sequence (empty: all)",
                            info=O.field_help("scan", "decode_sample"), scale=2, elem_id="open-decode-sample")
        open_btn = gr.Button("Open", scale=1, elem_id="open-btn")
    with gr.Accordion("Browse folders", open=False, elem_id="browse"):
        root = gr.Dropdown(roots, value=roots[0], label="Browse under", info="start the studio with --data-root DIR "
                           "to browse other places; nothing outside these folders is listed", elem_id="browse-root")
        # Hidden entries (.git, the converter's .progress) are never datasets; matched on the full path.
        explorer = rooted_explorer(studio)(root_dir=roots[0], file_count="single", ignore_glob="*/.*",
                                   label="Pick a dataset folder (or any file inside it)", height=260,
                                   elem_id="browse-explorer")
    with gr.Accordion("File-name / sequence-folder pattern", open=False, elem_id="pattern-box"):
        examples = assets.file_patterns()
        gr.Markdown("For a folder of clips, say where the identity, condition, sequence and view sit in each name; "
                    "for a `<sid>/<seq>/<view>/<frames>` tree (generic or a preset), what the sequence folder's "
                    "name says (no `{sid}`: the identity is the folder above). For example:\n\n"
                    + "\n".join(f"- `{e['pattern']}` for `{e['example']}`"
                                 f"{' (tree)' if e.get('kind') == 'tree' else ''} ({e['note']})" for e in examples)
                    + "\n\nCheck it on the real names first; condition names outside nm/bg/cl are kept as they are.")
        with gr.Row():
            pattern = gr.Textbox(label="Pattern", placeholder=examples[0]["pattern"], scale=4,
                                 elem_id="open-pattern")
            check_btn = gr.Button("Check pattern", scale=1, elem_id="pattern-check")
        pattern_table = gr.Dataframe(value=EMPTY_PATTERN, interactive=False, max_height=240, wrap=True,
                                     label="How the first names are read", elem_id="pattern-table")
    detected = gr.Dataframe(value=EMPTY_DETECT, interactive=False, max_height=160, label="Format detection",
                            elem_id="detect-table")
    error = gr.HTML(elem_id="dataset-error")
    summary = gr.Markdown(elem_id="dataset-summary")
    with gr.Row():
        counts = gr.Dataframe(label="Sequences per condition × view", value=EMPTY_COUNTS, interactive=False,
                              max_height=300)
        problems = gr.Dataframe(label="Problems (file, reason)", value=EMPTY_PROBLEMS, interactive=False,
                                max_height=300, wrap=True)
    gallery = gr.Gallery(label="Sample frames (one per condition × view)", columns=6, height=300,
                         object_fit="contain", elem_id="dataset-gallery")

    shown = dict(error=error, summary=summary, counts=counts, problems=problems, gallery=gallery)
    demo_btn.click(**C.wire(lambda i, f: create_demo(studio, i, f), {"msg": demo_msg, "progress": demo_progress}),
                   inputs=[demo_ids, demo_frames])
    on_page = gr.State(None)      # the dataset open_path just showed: picking it (as open_path does) rescans nothing
    picker.change(**C.wire(lambda v, n, s, progress=gr.Progress(): show_dataset(studio, v, n, progress, s),
                           {**shown, "shown": on_page}), inputs=[picker, sample, on_page])
    open_inputs = [path, fmt, pattern, sample]
    # decode_sample has a default so that API callers may leave it out (every frame)
    opened = C.wire(lambda path, fmt, pattern, decode_sample=None, progress=gr.Progress():
                    open_path(studio, path, fmt, pattern, decode_sample, progress),
                    {**shown, "picker": picker, "shown": on_page})
    open_btn.click(**opened, inputs=open_inputs, api_name="open_path")
    path.submit(**opened, inputs=open_inputs)
    path.change(lambda p: detect_table(studio, p), inputs=path, outputs=detected, show_progress="hidden",
                api_name="detect_formats")
    check_btn.click(**C.wire(lambda p, q, f: pattern_preview(studio, p, q, f),
                             {"error": error, "pattern_table": pattern_table}),
                    inputs=[path, pattern, fmt], api_name="check_pattern")
    root.change(lambda r: browse_root(r, roots), inputs=root, outputs=explorer)
    explorer.change(picked, inputs=[explorer, root], outputs=path, show_progress="hidden")
    tick = dict(**C.wire(lambda v, s, m: refresh(studio, v, s, m),
                         {"empty": empty, "picker": picker, "progress": demo_progress, "msg": demo_msg, "sig": sig}),
                inputs=[picker, sig, demo_msg], show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick, "picker": picker}
