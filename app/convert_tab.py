"""Step 2 · Convert: preview the raw -> GREW-style mapping without writing, then run it as a job."""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pandas as pd

from app import common as C
from core.studio import options as O, runs

D = O.defaults("convert")
SPLITS = ["auto", "official", "first:2", "random:0.5", "none"]     # examples: any split spec may be typed; none = extraction only
ALIGNS = list(O.choices("convert", "align"))
# backends that need a model are typed as NAME:MODEL, not picked from the list
SILHOUETTES = [c for c in O.choices("convert", "silhouette") if c != "segmentation"]
POSES = [c for c in O.choices("convert", "pose") if c != "transformers"]
NO_TRACK = "one per clip"
EMPTY_VALIDATION = pd.DataFrame({"severity": [], "path": [], "reason": []})
MAPPING_LIMIT = 300
# Named columns, so the empty tables show headers rather than Gradio's placeholder 1, 2, 3.
EMPTY_COUNTS = pd.DataFrame(columns=["split", "condition", "sequences", "ids"])
EMPTY_MAPPING = pd.DataFrame(columns=["source", "target", "split", "condition", "view", "frames"])


def _split_arg(split: str | None) -> str | None:
    split = (split or "").strip()
    return None if split in ("", "auto") else split


def _source(studio, ds_id):
    return studio.dataset(C.as_int(ds_id), "raw")


def _options(split, align, silhouette, pose, stride, download=D["allow_download"], gallery="", track=NO_TRACK) -> dict:
    return {"split": _split_arg(split), "align": align or D["align"], "silhouette": (silhouette or D["silhouette"]).strip(),
            "pose": (pose or D["pose"]).strip(), "stride": int(stride or D["stride"]), "allow_download": bool(download),
            "gallery": (gallery or "").strip() or None, "track": None if track in (None, NO_TRACK) else track}


def cli_command(studio, ds_id, split, align, name, silhouette=D["silhouette"], pose=D["pose"], stride=D["stride"],
                pkl=False, download=D["allow_download"], gallery="", track=NO_TRACK) -> str:
    ds = _source(studio, ds_id)
    if ds is None:
        return ""
    out = studio.conversion_out(ds["path"], (name or "").strip() or None)
    scan = studio.scan_args(ds["path"])
    opts = {**_options(split, align, silhouette, pose, stride, download, gallery, track), "source": ds["path"], "out": str(out),
            "opengait_pkl": str(out.with_name(out.name + "-opengait-pkl")) if pkl else None}
    if scan.get("pattern"):    # opened with a pattern (clips, or a tree's sequence folders); others are re-detected
        opts.update(format=scan.get("format") or "video-folder", pattern=scan["pattern"])
    return O.cli_command("convert", opts, workspace=str(studio.ws.root))


def _strip(p: dict) -> list[tuple]:
    """Raw | mask | aligned | GEI | pose overlay for one previewed sequence."""
    if p.get("error"):
        return [(C.placeholder("unreadable"), f"{p['source']}: {p['error']}")]
    tiles = [(C.to_rgb(p["raw"]) if p["raw"] is not None else C.placeholder("unreadable"), f"raw · {p['source']}"),
             (C.to_rgb(p["mask"]) if p["mask"] is not None else C.placeholder("no mask"),
              f"mask · {p.get('silhouette_from', '')}"),
             (C.to_rgb(p["aligned"], 128) if p["aligned"] is not None else C.placeholder("no frame"),
              f"aligned · {p['target']}"),
             (C.to_rgb(p["gei"], 128) if p["gei"] is not None else C.placeholder("no GEI"),
              f"GEI · {p['frames']} kept, {len(p['dropped'])} dropped")]
    if p.get("pose") is not None:
        tiles.append((p["pose"], f"pose · {p.get('pose_from', '')}"))
    else:
        tiles.append((C.placeholder("no pose"), "pose · none chosen"))
    return tiles


def _not_previewed(error: str) -> dict[str, Any]:
    return {"error": error, "summary": "", "counts": EMPTY_COUNTS, "mapping": EMPTY_MAPPING, "gallery": [],
            "validation": EMPTY_VALIDATION, "report_file": None}


def preview(studio, ds_id, split, align, name, silhouette=D["silhouette"], pose=D["pose"], stride=D["stride"],
            pkl=False, download=D["allow_download"], gallery="", track=NO_TRACK) -> dict[str, Any]:
    """The error, split summary, split counts, mapping table, gallery, validation table and report file.
    Nothing is written except the downloadable report under the workspace."""
    ds = _source(studio, ds_id)
    if ds is None:
        return _not_previewed(C.error_md("choose a raw dataset first (step 1 lists and opens them)"))
    try:
        pv = studio.preview_conversion(ds["path"], name=(name or "").strip() or None,
                                       **_options(split, align, silhouette, pose, stride, download, gallery, track))
        report_file = str(studio.write_validation_report(pv))
    except Exception as exc:  # noqa: BLE001
        return _not_previewed(C.report_error(exc))
    s = pv["split"]
    total = len(pv["mapping"])
    n_err = sum(r["severity"] == "error" for r in pv["validation"])
    extra = "".join(f" · {label}" for label in (
        f"gallery types `{', '.join(s['gallery'])}`" if s.get("gallery") else "",
        f"{s['probe_sequences']} probe sequences listed" if s.get("probe_sequences") is not None else "",
        f"{s['left_out_ids']} identities in neither list left out" if s.get("left_out_ids") else "") if label)
    n_drop = sum(len(p.get("dropped") or []) for p in pv["previews"])
    summary = (f"**Split `{s['spec']}`:** {s['train_ids']} training identities ({s['train_range']}), "
               f"{s['test_ids']} test identities ({s['test_range']}); no identity is in both{extra}.\n\n"
               + (f"**Warning:** {s['unsplit_ids']} identities ({s['unsplit_range']}) unsplit — {s['warning']}.\n\n"
                  if s.get("warning") else "")
               + f"**Protocol:** `{pv['protocol']}`\n\n"
               f"**Output:** `{pv['out']}` · {total} sequences · alignment `{align}` · silhouettes "
               f"`{pv['previews'][0].get('silhouette_from', silhouette) if pv['previews'] else silhouette}` · "
               f"pose `{pose}`\n\n**Validation:** {n_err} errors, {len(pv['validation']) - n_err} warnings "
               "(table below; files with errors are skipped, the rest converts)"
               + f"\n\n**Dropped frames:** {n_drop} in the {len(pv['previews'])} previewed samples; the other "
               "sequences are only read when converting, and the conversion reports its total and lists each "
               "sequence's dropped frames in the manifest"
               + (f"\n\nShowing the first {MAPPING_LIMIT} of {total} mapping rows." if total > MAPPING_LIMIT else "")
               + "".join(f"\n\n{n}" for n in pv.get("notes", []))
               + "\n\n*Preview only — previewing writes nothing to the output folder; **Convert** does.*")
    gallery = [tile for p in pv["previews"] for tile in _strip(p)]
    validation = pd.DataFrame(pv["validation"][:2000]) if pv["validation"] else EMPTY_VALIDATION
    return {"error": "", "summary": summary, "counts": pd.DataFrame(pv["split_counts"]),
            "mapping": pd.DataFrame(pv["mapping"][:MAPPING_LIMIT]), "gallery": gallery, "validation": validation,
            "report_file": report_file}


def start(studio, ds_id, split, align, name, silhouette=D["silhouette"], pose=D["pose"], stride=D["stride"],
          pkl=False, download=D["allow_download"], gallery="", track=NO_TRACK) -> dict[str, Any]:
    """The message (in the error area) and progress after submitting the conversion job."""
    ds = _source(studio, ds_id)
    if ds is None:
        return {"error": C.error_md("choose a raw dataset first"), "progress": gr.skip()}
    # A second writer of the same folder is refused by the studio (the folder's lock), not by a
    # look at the job list, which would be check-then-act and blind to other app instances.
    return C.submit(studio, lambda: studio.start_conversion(ds["path"], name=(name or "").strip() or None,
                                                          opengait_pkl=bool(pkl),
                                                          **_options(split, align, silhouette, pose, stride,
                                                                     download, gallery, track)),
                    "conversion started", "conversion", msg="error")


def stop(studio):
    return C.stop_active(studio, "convert", "conversion", "finished sequences are kept and a rerun continues")


def result_md(job: dict | None) -> str:
    if not job:
        return ""
    if job["state"] == "succeeded":
        r = job.get("result") or {}
        where = (f" in {r['dropped_sequences']} sequences" if r.get("dropped_sequences") is not None else "")
        reasons = "; ".join(f"{n} × {why}" for why, n in (r.get("dropped_reasons") or {}).items())
        txt = (f"**Converted** `{r.get('out', '')}`: {r.get('sequences')} sequences, {r.get('frames')} frames "
               f"({r.get('dropped_frames')} empty/unreadable frames dropped{where}"
               + (f": {reasons}" if reasons else "")
               + ("; each sequence's list is `dropped` in manifest.json" if r.get("dropped_frames") else "")
               + f"), {r.get('failed')} failed, "
               f"{r.get('skipped_done')} already done. {r.get('train_ids')} train / {r.get('test_ids')} test ids. "
               "It is now available in steps 3–5.")
        fails = r.get("failures") or []
        if fails:
            txt += "\n\n" + "\n".join(f"- {f}" for f in fails[:20])
        dropped = r.get("dropped") or []
        if dropped:
            more = r.get("dropped_frames", len(dropped)) - len(dropped)
            txt += ("\n\n**Dropped frames** (every one is in the manifest's `dropped`, with its reason):\n"
                    + "\n".join(f"- `{d}`" for d in dropped) + (f"\n- … and {more} more" if more > 0 else ""))
        return txt
    if job["state"] == "failed":
        return C.error_md(f"conversion failed: {job.get('message')}")
    return ""


def refresh(studio, current, sig) -> dict[str, Any]:
    """Tick: the source dropdown (when the raw datasets changed), progress, result and stop button."""
    raws = C.dataset_choices(studio, "raw")
    new_sig = json.dumps(raws)
    job = studio.latest_job("convert")
    out = {"progress": C.job_progress_html(job, "conversion"), "result": result_md(job),
           "stop_btn": gr.update(interactive=runs.is_active(job))}
    if new_sig == sig:
        return {**out, **C.skips("source", "sig")}
    return {**out, "source": gr.update(choices=raws, value=C.keep_value(C.as_int(current), raws)), "sig": new_sig}


def build(studio, timer: gr.Timer) -> dict:
    sig = gr.State("")
    gr.Markdown("Convert a raw dataset to the unified GREW-style layout (`train/`, `test/gallery/`, `test/probe/`, "
                "64×64 aligned silhouettes, GEIs, manifest). **Preview** shows what will happen without writing.")
    with gr.Row():
        source = gr.Dropdown(label="Raw dataset", choices=C.dataset_choices(studio, "raw"), scale=3,
                             elem_id="convert-source")
        split = gr.Dropdown(label="Split", choices=SPLITS, value="auto", allow_custom_value=True, scale=2,
                            info="auto · official (CASIA-B ids, CCVID lists, GREW folders, OU-MVLP/CCPG/SUSTech1K "
                                 "presets) · first:K · random:F[,SEED] · the path of an OpenGait partition .json "
                                 "(TRAIN_SET/TEST_SET[/PROBE_SET], e.g. Gait3D.json) · none (extraction only: "
                                 "one video or one walker, written unsplit; not trainable)",
                            elem_id="convert-split")
        align = gr.Radio(ALIGNS, value=D["align"], label="Alignment", scale=2)
        name = gr.Textbox(label="Output name", placeholder="<raw name>-grew", scale=2, elem_id="convert-name")
    with gr.Row():
        silhouette = gr.Dropdown(SILHOUETTES, value=D["silhouette"], allow_custom_value=True, label="Silhouettes", scale=2,
                                 info="auto = the source's masks, else background subtraction · groundtruth = demo "
                                      "sets only · segmentation:MODEL_DIR_OR_HUB_ID for a network", elem_id="convert-silhouette")
        pose = gr.Dropdown(POSES, value=D["pose"], allow_custom_value=True, label="2D pose", scale=2,
                           info="given = the source's _2d_pose.txt (or demo ground truth) · transformers:MODEL_DIR_OR_HUB_ID",
                           elem_id="convert-pose")
        stride = gr.Number(value=D["stride"], minimum=1, precision=0, label="Frame stride (videos, frame folders)", scale=1)
    with gr.Row():   # a second row: eight fields in one squeezed every label and help text
        download = gr.Checkbox(value=D["allow_download"], label="Download models not in the cache", scale=1,
                               info=O.field_help("convert", "allow_download"), elem_id="convert-download")
        pkl = gr.Checkbox(value=False, label="Also export an OpenGait pkl tree", scale=1)
        gallery_types = gr.Textbox(label="Gallery sequence types", placeholder="e.g. nm-01,nm-02 or walk", scale=2,
                                   info=O.field_help("convert", "gallery"), elem_id="convert-gallery-types")
        track = gr.Dropdown([NO_TRACK, *O.choices("convert", "track")], value=NO_TRACK, label="Walkers per video",
                            info="one person per clip, or track each walker into its own sequence "
                                 "(boxes from bgsub blobs or OpenCV's HOG detector)", scale=2, elem_id="convert-track")
    with gr.Row():
        preview_btn = gr.Button("Preview", elem_id="convert-preview")
        start_btn = gr.Button("Convert", variant="primary", elem_id="convert-start")
        stop_btn = gr.Button("Stop", variant="stop", interactive=False, elem_id="convert-stop")
    cli = gr.Textbox(label="Equivalent CLI command", interactive=False, buttons=["copy"], lines=1)
    error = gr.HTML(elem_id="convert-error")
    progress = gr.HTML(elem_id="convert-progress")
    result = gr.Markdown(elem_id="convert-result")
    summary = gr.Markdown(elem_id="convert-summary")
    gallery = gr.Gallery(label="Before / after per sample: raw | mask | aligned | GEI | pose", columns=5,
                         object_fit="contain", elem_id="convert-gallery")
    with gr.Row():
        counts = gr.Dataframe(value=EMPTY_COUNTS, label="Split counts", interactive=False, max_height=300, scale=1)
        mapping = gr.Dataframe(value=EMPTY_MAPPING, label="Mapping (source → target)", interactive=False,
                               max_height=300, scale=2)
    with gr.Row():
        validation = gr.Dataframe(value=EMPTY_VALIDATION, label="Validation report (errors first)", interactive=False,
                                  max_height=300, wrap=True, scale=3, elem_id="convert-validation")
        report_file = gr.File(label="Validation report (JSON)", interactive=False, scale=1, elem_id="convert-report")

    opts = [source, split, align, name, silhouette, pose, stride, pkl, download, gallery_types, track]
    previewed = dict(error=error, summary=summary, counts=counts, mapping=mapping, gallery=gallery,
                     validation=validation, report_file=report_file)
    preview_btn.click(**C.wire(lambda *a: preview(studio, *a), previewed), inputs=opts)
    start_btn.click(**C.wire(lambda *a: start(studio, *a), {"error": error, "progress": progress}), inputs=opts)
    stop_btn.click(lambda: stop(studio), outputs=error)
    for comp in opts:
        comp.change(lambda *a: cli_command(studio, *a), inputs=opts, outputs=cli, show_progress="hidden")
    tick = dict(**C.wire(lambda v, s: refresh(studio, v, s),
                         dict(source=source, progress=progress, result=result, stop_btn=stop_btn, sig=sig)),
                inputs=[source, sig], show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}
