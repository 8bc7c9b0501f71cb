"""Step 3 · Augment & Curate: generate clothing variants, review them, merge the accepted ones."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from app import common as C
from core import options as O
from core.augment.options import FALLBACKS

D = O.defaults("augment")      # every widget starts at the CLI's default
IMPORT = O.defaults("import")

STATUSES = ["all", "pending", "accepted", "rejected"]
SORTS = ["identity", "score ↓", "score ↑", "newest"]
HOTKEYS = ("**Keys** (outside text boxes): **a** accept · **r** reject · **u** undo · **→ / ←** next / previous variant · "
           "**PgDn / PgUp** next / previous page · **?** this help")
PAGE_SIZE = 48
LABEL = ("**DLCR chain.** Each stage runs a model when you give its folder (or a cached hub id) under *Models*; "
         "otherwise a **model-free fallback** runs and says so in every record: parsing from the synthetic set's "
         "part labels (or silhouette + pose geometry), descriptions from colour statistics, recolour / re-texture / "
         "coat edits instead of diffusion — **no generative model is used** then. Outfits come only from *other "
         "training* identities; only training sequences are augmented (or, for test-time refinement, the queries — "
         "those variants are never merged).")
MARK = {"pending": "•", "accepted": "✓", "rejected": "✗"}


def _dataset(studio, ds_id):
    i = C.as_int(ds_id)
    ds = studio.catalog.dataset(i) if i is not None else None
    return ds if ds and ds["kind"] == "converted" else None


def _status(status):
    return None if status in (None, "", "all") else status


def _sid(sid):
    return None if sid in (None, "", "all") else sid


def _query(studio, ds_id, status, sid, text, smin, smax, sort):
    ds = _dataset(studio, ds_id)
    if ds is None:
        return None, {}
    lo, hi = float(smin if smin is not None else 0), float(smax if smax is not None else 1)
    # The full range means "no score filter", so unscored variants are not hidden by default.
    scored = not (lo <= 0 and hi >= 1)
    return ds, {"status": _status(status), "sid": _sid(sid), "text": (text or "").strip() or None,
                "score_min": lo if scored else None, "score_max": hi if scored else None}


def page_rows(studio, ds_id, status, sid, text, smin, smax, sort, page) -> tuple[list[dict], int, int, int]:
    """(rows of this page, page, pages, total matching) — SQL pages, so 10,000 variants stay fast."""
    ds, f = _query(studio, ds_id, status, sid, text, smin, smax, sort)
    if ds is None:
        return [], 1, 1, 0
    _, total = studio.catalog.query_variants(ds["id"], **f, limit=0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, C.as_int(page) or 1), pages)
    rows, _ = studio.catalog.query_variants(ds["id"], **f, sort=sort if sort in SORTS else "identity",
                                            offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return rows, page, pages, total


def counts_html(studio, ds_id) -> str:
    ds = _dataset(studio, ds_id)
    if ds is None:
        return ""
    c = studio.catalog.variant_counts(ds["id"])
    total = c["pending"] + c["accepted"] + c["rejected"]
    return ('<div class="hg-counts" id="variant-counts">'
            f'<span>total <b>{total}</b></span><span>pending <b>{c["pending"]}</b></span>'
            f'<span>accepted <b>{c["accepted"]}</b></span><span>rejected <b>{c["rejected"]}</b></span>'
            f'<span>merged <b>{c["merged"]}</b></span></div>')


def variant_sig(studio, ds_id) -> str:
    ds = _dataset(studio, ds_id)
    if ds is None:
        return ""
    return json.dumps([ds["id"], studio.catalog.variant_counts(ds["id"])])


def _caption(v: dict) -> str:
    merged = " · merged" if v.get("merged_seq") else ""
    kind = (v.get("recipe") or {}).get("kind") or v["name"].rsplit("-", 1)[-1]
    score = f" · {v['score']:.2f}" if v.get("score") is not None else ""
    return f"{MARK.get(v['status'], '')} #{v['id']} {v['sid']} {kind}{score}{merged}"


def _thumb(v: dict) -> str | None:
    for p in (v.get("thumb"), str(Path(v["path"]) / "thumb.jpg")):
        if p and Path(p).is_file():
            return p
    return None


def gallery_view(studio, ds_id, status, sid, text, smin, smax, sort, page, selected=None):
    """(gallery update, page number, page info) for the current filters."""
    rows, page, pages, total = page_rows(studio, ds_id, status, sid, text, smin, smax, sort, page)
    items = [(_thumb(v) or C.placeholder("no thumb"), _caption(v)) for v in rows]
    ids = [v["id"] for v in rows]
    sel = ids.index(selected) if selected in ids else None
    info = f"page {page} of {pages} · {total} variant(s) match the filters"
    if not rows:
        info = "No variants match. Generate some above, or change the filters." if _dataset(studio, ds_id) \
            else "Choose a converted dataset (step 2 makes one)."
    return gr.update(value=items, selected_index=sel), page, info


def details(studio, variant_id):
    """(compare image, gif, description) for one variant."""
    v = studio.catalog.variant(C.as_int(variant_id)) if C.as_int(variant_id) is not None else None
    if v is None:
        return None, None, "Select a variant in the gallery to review it."
    folder = Path(v["path"])
    compare = folder / "compare.jpg"
    gif = folder / "variant.gif"
    history = studio.catalog.decisions(v["id"])
    recipe = v.get("recipe") or {}
    lines = [f"### Variant #{v['id']} · identity {v['sid']} · from `{v['source_seq']}`",
             f"**{v['description']}** — status **{v['status']}**"
             + (f", merged as `{v['merged_seq']}`" if v.get("merged_seq") else ""),
             f"method `{v['method']}` · kind `{recipe.get('kind', '?')}` · seed {v.get('seed')}",
             "compare strip: original | variant | orig. silhouette | variant silhouette"]
    if recipe.get("purpose") == "refine":
        lines.append("**refinement variant of a test query** — used only by test-time refinement, never merged")
    if v.get("score") is not None:
        lines.append(f"score **{v['score']:.3f}**")
    if recipe.get("prompt"):
        lines.append(f"prompt: *{recipe['prompt']}*" + (f" (outfits of {', '.join(map(str, recipe['donors']))})"
                                                         if recipe.get("donors") else ""))
    models = recipe.get("models") or {}
    if models:
        lines.append("models: " + "; ".join(f"{stage} `{(m or {}).get('model_id') or (m or {}).get('label') or m}`"
                                            for stage, m in models.items()))
    if history:
        lines.append("decisions: " + ", ".join(f"{h['decision']} ({h['who']}, {h['at']})" for h in history[-5:]))
    return (str(compare) if compare.is_file() else None, str(gif) if gif.is_file() else None, "\n\n".join(lines))


def select(studio, *filters_and_page, evt: gr.SelectData):
    """Map the clicked gallery index back to a variant id by recomputing the page server-side."""
    rows = page_rows(studio, *filters_and_page)[0]
    idx = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else None)
    if idx is None or idx >= len(rows):
        return None, None, None, "Select a variant in the gallery to review it."
    vid = rows[idx]["id"]
    return (vid, *details(studio, vid))


def step_selection(studio, variant_id, delta, *filters_and_page):
    """Arrow keys: the next/previous variant on the page (wrapping to the next/previous page)."""
    rows, page, pages, _ = page_rows(studio, *filters_and_page)
    if not rows:
        return (None, *C.skips(3), *C.skips(3))
    ids = [v["id"] for v in rows]
    cur = ids.index(variant_id) if variant_id in ids else (-1 if delta > 0 else len(ids))
    nxt = cur + delta
    if not 0 <= nxt < len(ids) and pages > 1:
        page = page % pages + 1 if delta > 0 else (page - 2) % pages + 1
        rows, page, _, _ = page_rows(studio, *filters_and_page[:-1], page)
        ids = [v["id"] for v in rows]
        nxt = 0 if delta > 0 else len(ids) - 1
    vid = ids[max(0, min(nxt, len(ids) - 1))]
    return (vid, *details(studio, vid), *gallery_view(studio, *filters_and_page[:-1], page, selected=vid))


def decide_one(studio, variant_id, decision, *filters_and_page):
    """Persist one decision now; (msg, gallery, page, info, counts, compare, gif, desc, sig)."""
    vid = C.as_int(variant_id)
    ds_id = filters_and_page[0]
    if vid is None:
        return (C.error_md("select a variant first (click it, or use the arrow keys)"), *C.skips(8))
    n = studio.decide([vid], decision)
    msg = C.ok_md(f"variant #{vid} → {decision}") if n else \
        C.error_md(f"variant #{vid} was already merged into the dataset; its decision can no longer change")
    return (msg, *gallery_view(studio, *filters_and_page, selected=vid), counts_html(studio, ds_id),
            *details(studio, vid), variant_sig(studio, ds_id))


def decide_shown(studio, decision, *filters_and_page):
    """Accept/reject every variant on the current page; (msg, gallery, page, info, counts, sig)."""
    rows = page_rows(studio, *filters_and_page)[0]
    if not rows:
        return (C.error_md("no variants shown"), *C.skips(5))
    n = studio.decide([v["id"] for v in rows], decision)
    msg = C.ok_md(f"{n} variant(s) → {decision}" + (f" ({len(rows) - n} already merged)" if n < len(rows) else ""))
    return (msg, *gallery_view(studio, *filters_and_page), counts_html(studio, ds_id := filters_and_page[0]),
            variant_sig(studio, ds_id))


def decide_threshold(studio, decision, threshold, *filters_and_page):
    """Bulk: accept every matching variant scoring >= threshold, or reject every one below it.
    Applies to the whole filter (all pages), never to unscored variants."""
    ds, f = _query(studio, *filters_and_page[:-1])
    if ds is None:
        return (C.error_md("choose a converted dataset first"), *C.skips(5))
    t = float(threshold)
    lo, hi = f["score_min"], f["score_max"]
    if decision == "accepted":
        f["score_min"] = max(t, lo) if lo is not None else t
    else:
        f["score_max"] = min(t - 1e-9, hi) if hi is not None else t - 1e-9
    ids = studio.catalog.variant_ids(ds["id"], **f)
    n = studio.decide(ids, decision) if ids else 0
    what = f"score ≥ {t:.2f}" if decision == "accepted" else f"score < {t:.2f}"
    msg = C.ok_md(f"{n} variant(s) with {what} → {decision}") if ids else C.error_md(f"no matching variant has {what}")
    return (msg, *gallery_view(studio, *filters_and_page), counts_html(studio, ds["id"]), variant_sig(studio, ds["id"]))


def start(studio, ds_id, per_sequence, seq_types, kinds, parsing=D["parsing"], describe=D["describe"],
          summarize=D["summarize"], inpaint=D["inpaint"], resilhouette=D["resilhouette"],
          discriminator=D["discriminator"], guidance_weight=D["guidance_weight"], purpose=D["purpose"]):
    ds = _dataset(studio, ds_id)
    if ds is None:
        return C.error_md("choose a converted dataset first (step 2)"), gr.skip()
    if not seq_types and purpose != "refine":
        return C.error_md("choose at least one sequence type to augment"), gr.skip()
    active = studio.active_job("augment")
    if active:
        return C.error_md(f"variants are already being generated (job #{active['id']})"), gr.skip()
    stages = {k: (v or "").strip() or D[k] for k, v in
              (("parsing", parsing), ("describe", describe), ("summarize", summarize), ("inpaint", inpaint))}
    try:
        job_id = studio.start_augmentation(
            ds["id"], per_sequence=int(per_sequence or D["per_sequence"]), kinds=list(kinds) or None,
            purpose=purpose or D["purpose"], seq_types=list(seq_types) if purpose != "refine" or seq_types else None,
            **stages, resilhouette=resilhouette or D["resilhouette"], discriminator=bool(discriminator),
            guidance_weight=float(guidance_weight or D["guidance_weight"]))
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc), gr.skip()
    return C.ok_md(f"generating variants (job #{job_id})"), C.job_progress_html(studio.job(job_id), "augmentation")


def stop(studio):
    return C.stop_active(studio, "augment", "augmentation", "finished variants are kept")


def merge(studio, ds_id):
    ds = _dataset(studio, ds_id)
    if ds is None:
        return C.error_md("choose a converted dataset first"), gr.skip()
    c = studio.catalog.variant_counts(ds["id"])
    if c["accepted"] - c["merged"] <= 0 and not studio.variants(ds["id"], status="accepted"):
        return C.error_md("no accepted variants to merge — accept some first"), gr.skip()
    try:
        job_id = studio.start_merge(ds["id"])
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc), gr.skip()
    return C.ok_md(f"merging accepted variants into {ds['name']} (job #{job_id})"), \
        C.job_progress_html(studio.job(job_id), "merge")


def _for_dataset(ds_id):
    return lambda j: C.as_int((j.get("params") or {}).get("dataset_id")) == ds_id


def jobs_html(studio, ds_id) -> str:
    ds = _dataset(studio, ds_id)
    if ds is None:
        return ""
    parts = []
    for kind, title in (("augment", "variant generation"), ("import", "DLCR import"), ("merge", "merge")):
        job = C.latest_job(studio, kind, _for_dataset(ds["id"]))
        if job:
            parts.append(C.job_progress_html(job, title))
            if kind == "merge" and job["state"] == "succeeded":
                r = job.get("result") or {}
                parts.append(C.ok_md(f"merged {r.get('merged', 0)} variant(s) into {r.get('dataset', ds['path'])} "
                                     "as new training sequences"))
            if job["state"] == "failed":
                parts.append(C.error_md(f"{title} failed: {job.get('message')}"))
    return "".join(parts)


def import_preview(studio, path, kind, keep, k):
    """(message, summary markdown, problems table) of what an import would bring in; reads only."""
    import pandas as pd

    path = (path or "").strip()
    if not path:
        return C.error_md("enter the folder holding DLCR outputs"), "", None
    try:
        pv = studio.preview_import(path, kind, keep=int(keep or IMPORT["keep"]), k=C.as_int(k) or None).to_json()
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc), "", None
    lines = [f"**{kd}**: " + ", ".join(f"{n} {what}" for what, n in counts.items())
             for kd, counts in pv["counts"].items()] or ["nothing importable found"]
    lines.append(f"**Problems:** {pv['errors']} errors, {pv['problems_total'] - pv['errors']} warnings"
                 " (bad files are skipped; the rest imports)")
    lines.append("*Preview only — nothing has been imported; the source folder is never modified.*")
    rows = pd.DataFrame(pv["problems"]) if pv["problems"] else None
    return "", "\n\n".join(lines), rows


def import_start(studio, ds_id, path, kind, keep, k, masks):
    ds = _dataset(studio, ds_id)
    if ds is None:
        return C.error_md("choose the converted dataset the variants belong to (above)"), gr.skip()
    try:
        job_id = studio.start_import(ds["id"], (path or "").strip(), kind, keep=int(keep or IMPORT["keep"]),
                                     k=C.as_int(k) or None, masks=(masks or "").strip() or None)
    except Exception as exc:  # noqa: BLE001
        return C.report_error(exc), gr.skip()
    return C.ok_md(f"importing {kind} (job #{job_id}); variants appear in the workbench as they are written"), \
        C.job_progress_html(studio.job(job_id), "import")


def sid_choices(studio, ds_id) -> list[str]:
    ds = _dataset(studio, ds_id)
    if ds is None:
        return ["all"]
    return ["all"] + studio.catalog.variant_sids(ds["id"])


def refresh(studio, ds_id, status, sid, text, smin, smax, sort, page, ds_sig, v_sig):
    """Tick: datasets list, job progress, counts; the gallery only when the variants changed.

    Returns (dataset dd, progress, counts, sid dd, gallery, page, info, stop btn, ds_sig, v_sig).
    """
    conv = C.dataset_choices(studio, "converted")
    new_ds_sig = json.dumps(conv)
    ds_update = gr.skip()
    if new_ds_sig != ds_sig:
        value = C.keep_value(C.as_int(ds_id), conv)
        ds_update = gr.update(choices=conv, value=value)
        ds_id = value
    active = studio.active_job("augment")
    stop_btn = gr.update(interactive=bool(active))
    new_v_sig = variant_sig(studio, ds_id)
    if new_v_sig == v_sig and new_ds_sig == ds_sig:
        return (ds_update, jobs_html(studio, ds_id), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(),
                stop_btn, gr.skip(), gr.skip())
    sids = sid_choices(studio, ds_id)
    sid = sid if sid in sids else "all"
    return (ds_update, jobs_html(studio, ds_id), counts_html(studio, ds_id), gr.update(choices=sids, value=sid),
            *gallery_view(studio, ds_id, status, sid, text, smin, smax, sort, page), stop_btn,
            new_ds_sig, new_v_sig)


def casia_b_sequence_types() -> list[str]:
    """The CASIA-B protocol's sequence types (nm-01 ... cl-02), from the protocol registry."""
    from core.evaluate.protocols import get

    return get("casia-b").sequence_types


def build(studio, timer: gr.Timer) -> dict:
    ds_sig, v_sig, selected = gr.State(""), gr.State(""), gr.State(None)
    gr.Markdown(LABEL, elem_classes=["hg-note"], elem_id="augment-label")
    with gr.Row():
        dataset = gr.Dropdown(label="Converted dataset", choices=C.dataset_choices(studio, "converted"), scale=3,
                              elem_id="augment-dataset")
        per_seq = gr.Slider(1, 8, value=D["per_sequence"], step=1, label="Variants per sequence", scale=2)
    with gr.Row():
        seq_types = gr.CheckboxGroup(casia_b_sequence_types(), value=list(D["seq_types"]),
                                     label="Sequence types to augment (training ids only)")
        kinds = gr.CheckboxGroup(list(O.choices("augment", "kinds")), value=list(O.implied("augment", "kinds")),
                                 label="Kinds of edit (model-free)")
    with gr.Accordion("Models (DLCR stages) and purpose", open=False, elem_id="models-box"):
        gr.Markdown("A model folder (or a hub id already in the local cache) runs that stage; the keyword runs "
                    "its model-free fallback. Nothing is downloaded.")
        with gr.Row():
            stage = {k: gr.Textbox(value=D[k], label=label, info=O.field_help("augment", k), elem_id=f"stage-{k}")
                     for k, label in zip(FALLBACKS, ("Human parsing", "Descriptions (VLM)", "Summaries (LLM)",
                                                     "Generation"))}
            parsing, describe, summarize, inpaint = stage.values()
        with gr.Row():
            # 'segmentation' needs a model, so it is typed (segmentation:MODEL) rather than picked
            resil = gr.Dropdown([r for r in O.choices("augment", "resilhouette") if r != "segmentation"], value=D["resilhouette"],
                                allow_custom_value=True, label="Silhouettes of generated frames",
                                info="or segmentation:MODEL")
            disc = gr.Checkbox(value=D["discriminator"], label="Score with a discriminator trained here")
            gweight = gr.Slider(0, 5, value=D["guidance_weight"], step=0.1,
                                label="Discriminator guidance weight (0 = off)")
            purpose = gr.Radio(list(O.choices("augment", "purpose")), value=D["purpose"], label="Purpose",
                               info="refine: variants of the test queries, for test-time refinement only")
    with gr.Row():
        gen_btn = gr.Button("Generate", variant="primary", elem_id="augment-generate")
        stop_btn = gr.Button("Stop", variant="stop", interactive=False, elem_id="augment-stop")
        merge_btn = gr.Button("Merge accepted into dataset", elem_id="augment-merge")
    with gr.Accordion("Import DLCR outputs (strips, generated images, SCHP masks, texts)", open=False,
                      elem_id="import-box"):
        gr.Markdown("Bring in what a DLCR run already produced. Strips hold K variants side by side; keep the "
                    "leftmost N. Variants of test identities are refused. The folder is only read.")
        with gr.Row():
            imp_path = gr.Textbox(label="DLCR folder", scale=4, elem_id="import-path")
            imp_kind = gr.Dropdown(list(O.choices("import", "kind")), value="dlcr-strips", label="Kind", scale=2,
                                   elem_id="import-kind")
            imp_keep = gr.Number(value=IMPORT["keep"], precision=0, minimum=1, label="Keep leftmost N", scale=1)
            imp_k = gr.Number(value=None, precision=0, minimum=1, label="K per strip (blank: from size)", scale=1)
        imp_masks = gr.Textbox(label="Masks of the source frames (SCHP/LIP or silhouettes), optional",
                               elem_id="import-masks")
        with gr.Row():
            imp_prev_btn = gr.Button("Preview import", elem_id="import-preview")
            imp_btn = gr.Button("Import", variant="primary", elem_id="import-start")
        imp_summary = gr.Markdown(elem_id="import-summary")
        imp_problems = gr.Dataframe(label="Problems (file, line, reason)", interactive=False, max_height=200,
                                    wrap=True, elem_id="import-problems")
    msg = gr.HTML(elem_id="augment-msg")
    progress = gr.HTML(elem_id="augment-progress")
    counts = gr.HTML(elem_id="augment-counts")
    with gr.Row():
        status = gr.Dropdown(STATUSES, value="all", label="Status", scale=1, elem_id="filter-status")
        sid = gr.Dropdown(["all"], value="all", label="Identity", scale=1, elem_id="filter-sid")
        text = gr.Textbox(label="Search prompt / description / name", placeholder="coat, red, stripes…", scale=2,
                          elem_id="filter-text")
        sort = gr.Dropdown(SORTS, value="identity", label="Sort", scale=1, elem_id="filter-sort")
    with gr.Row():
        smin = gr.Slider(0, 1, value=0, step=0.01, label="Score from", scale=2, elem_id="filter-score-min")
        smax = gr.Slider(0, 1, value=1, step=0.01, label="Score to", scale=2, elem_id="filter-score-max")
        page = gr.Number(value=1, label="Page", precision=0, scale=1, elem_id="page")
    with gr.Row():
        prev_btn = gr.Button("◀ Previous page", size="sm", elem_id="prev-page")
        next_btn = gr.Button("Next page ▶", size="sm", elem_id="next-page")
        acc_all = gr.Button("Accept all shown", size="sm", elem_id="accept-shown")
        rej_all = gr.Button("Reject all shown", size="sm", elem_id="reject-shown")
    with gr.Row():
        threshold = gr.Slider(0, 1, value=0.8, step=0.01, label="Score threshold for bulk decisions", scale=3,
                              info="applies to every variant matching the filters, on all pages",
                              elem_id="bulk-threshold")
        acc_above = gr.Button("Accept ≥ threshold", size="sm", scale=1, elem_id="accept-above")
        rej_below = gr.Button("Reject < threshold", size="sm", scale=1, elem_id="reject-below")
    info = gr.Markdown(elem_id="page-info")
    with gr.Row():
        with gr.Column(scale=3):
            gallery = gr.Gallery(label="Variants (click one, or use the arrow keys)", columns=4, height=460,
                                 object_fit="contain", allow_preview=False, elem_id="variant-gallery")
        with gr.Column(scale=2):
            desc = gr.Markdown("Select a variant in the gallery to review it.", elem_id="variant-desc")
            with gr.Row():
                acc_btn = gr.Button("Accept (a)", variant="primary", elem_id="accept-one")
                rej_btn = gr.Button("Reject (r)", variant="stop", elem_id="reject-one")
                undo_btn = gr.Button("Undo (u)", elem_id="undo-one")
            with gr.Row():
                prev_one = gr.Button("◀ previous (←)", size="sm", elem_id="prev-variant")
                next_one = gr.Button("next (→) ▶", size="sm", elem_id="next-variant")
            gif = gr.Image(label="variant, playing", type="filepath", interactive=False, height=220,
                           elem_id="variant-gif")
            gr.Markdown(HOTKEYS, elem_id="hotkeys-help")
    compare = gr.Image(label="original | variant | orig. silhouette | variant silhouette (and, with guidance: source | "
                       "unguided | guided, same seed)", type="filepath",
                       interactive=False, height=340, elem_id="variant-compare")

    filters = [dataset, status, sid, text, smin, smax, sort, page]
    view_out = [gallery, page, info]
    detail_out = [selected, compare, gif, desc]
    gen_btn.click(lambda *a: start(studio, *a), inputs=[dataset, per_seq, seq_types, kinds, parsing, describe,
                                                        summarize, inpaint, resil, disc, gweight, purpose],
                  outputs=[msg, progress])
    imp_prev_btn.click(lambda *a: import_preview(studio, *a), inputs=[imp_path, imp_kind, imp_keep, imp_k],
                       outputs=[msg, imp_summary, imp_problems])
    imp_btn.click(lambda *a: import_start(studio, *a), inputs=[dataset, imp_path, imp_kind, imp_keep, imp_k, imp_masks],
                  outputs=[msg, progress])
    stop_btn.click(lambda: stop(studio), outputs=msg)
    merge_btn.click(lambda d: merge(studio, d), inputs=dataset, outputs=[msg, progress])

    # Explicit parameters: Gradio finds the event argument by annotation and counts the rest.
    def on_select(ds_id, status_, sid_, text_, smin_, smax_, sort_, page_, evt: gr.SelectData):
        return select(studio, ds_id, status_, sid_, text_, smin_, smax_, sort_, page_, evt=evt)

    gallery.select(on_select, inputs=filters, outputs=detail_out)
    for delta, btn in ((1, next_one), (-1, prev_one)):
        btn.click(lambda v, *a, _d=delta: step_selection(studio, v, _d, *a), inputs=[selected] + filters,
                  outputs=detail_out + view_out)
    for decision, btn in (("accepted", acc_btn), ("rejected", rej_btn), ("pending", undo_btn)):
        btn.click(lambda v, *a, _d=decision: decide_one(studio, v, _d, *a), inputs=[selected] + filters,
                  outputs=[msg] + view_out + [counts, compare, gif, desc, v_sig])
    for decision, btn in (("accepted", acc_all), ("rejected", rej_all)):
        btn.click(lambda *a, _d=decision: decide_shown(studio, _d, *a), inputs=filters,
                  outputs=[msg] + view_out + [counts, v_sig])
    for decision, btn in (("accepted", acc_above), ("rejected", rej_below)):
        btn.click(lambda t, *a, _d=decision: decide_threshold(studio, _d, t, *a), inputs=[threshold] + filters,
                  outputs=[msg] + view_out + [counts, v_sig])

    def refilter(*a):
        return gallery_view(studio, *a[:-1], 1)

    for comp in (status, sid, sort):
        comp.input(refilter, inputs=filters, outputs=view_out)
    for comp in (smin, smax):
        comp.release(refilter, inputs=filters, outputs=view_out)
    text.submit(refilter, inputs=filters, outputs=view_out)
    page.submit(lambda *a: gallery_view(studio, *a), inputs=filters, outputs=view_out)
    prev_btn.click(lambda *a: gallery_view(studio, *a[:-1], (C.as_int(a[-1]) or 1) - 1), inputs=filters,
                   outputs=view_out)
    next_btn.click(lambda *a: gallery_view(studio, *a[:-1], (C.as_int(a[-1]) or 1) + 1), inputs=filters,
                   outputs=view_out)

    def on_dataset(ds_id, status_, _sid, text_, smin_, smax_, sort_, _page):
        return (*gallery_view(studio, ds_id, status_, "all", text_, smin_, smax_, sort_, 1), counts_html(studio, ds_id),
                gr.update(choices=sid_choices(studio, ds_id), value="all"), None, None, None,
                "Select a variant in the gallery to review it.", variant_sig(studio, ds_id))

    dataset.input(on_dataset, inputs=filters, outputs=view_out + [counts, sid, selected, compare, gif, desc, v_sig])
    tick = dict(fn=lambda *a: refresh(studio, *a), inputs=filters + [ds_sig, v_sig],
                outputs=[dataset, progress, counts, sid] + view_out + [stop_btn, ds_sig, v_sig],
                show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}

