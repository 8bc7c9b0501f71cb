"""Step 3 · Augment & Curate: generate clothing variants, review them, merge the accepted ones.

The review workbench is ``app.curation``; importing DLCR's own outputs is ``app.dlcr_import_panel``.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr

from app import common as C, curation, dlcr_import_panel
from core.studio import AUGMENT_STAGES, options as O, protocols as P

D = O.defaults("augment")      # every widget starts at the CLI's default
LABEL = ("**DLCR chain.** Each stage runs a model when you give its folder (or a cached hub id) under *Models*; "
         "otherwise a **model-free fallback** runs and says so in every record: parsing from the synthetic set's "
         "part labels (or silhouette + pose geometry), descriptions from colour statistics, recolour / re-texture / "
         "coat edits instead of diffusion — **no generative model is used** then. Outfits come only from *other "
         "training* identities; only training sequences are augmented (or, for test-time refinement, the queries — "
         "those variants are never merged).")


def start(studio, ds_id, per_sequence, seq_types, kinds, parsing=D["parsing"], describe=D["describe"],
          summarize=D["summarize"], inpaint=D["inpaint"], resilhouette=D["resilhouette"],
          discriminator=D["discriminator"], guidance_weight=D["guidance_weight"], purpose=D["purpose"],
          download=D["allow_download"]):
    """The message and progress after submitting the augmentation job."""
    ds = curation.converted(studio, ds_id)
    if ds is None:
        return {"msg": C.error_md("choose a converted dataset first (step 2)"), "progress": gr.skip()}
    if not seq_types and purpose != "refine":
        return {"msg": C.error_md("choose at least one sequence type to augment"), "progress": gr.skip()}
    active = studio.active_job("augment")
    if active:
        return {"msg": C.error_md(f"job #{active['id']} was already generating variants when you pressed this; its "
                                 "progress is below"), "progress": gr.skip()}
    stages = {k: (v or "").strip() or D[k] for k, v in
              (("parsing", parsing), ("describe", describe), ("summarize", summarize), ("inpaint", inpaint))}
    return C.submit(studio, lambda: studio.start_augmentation(
        ds["id"], per_sequence=int(per_sequence or D["per_sequence"]), kinds=list(kinds) or None,
        purpose=purpose or D["purpose"], seq_types=list(seq_types) if purpose != "refine" or seq_types else None,
        **stages, resilhouette=resilhouette or D["resilhouette"], discriminator=bool(discriminator),
        guidance_weight=float(guidance_weight or D["guidance_weight"]), allow_download=bool(download)),
        "generating variants", "augmentation")


def stop(studio):
    return C.stop_active(studio, "augment", "augmentation", "finished variants are kept")


def merge(studio, ds_id):
    """The message and progress after submitting the merge of the accepted variants."""
    ds = curation.converted(studio, ds_id)
    if ds is None:
        return {"msg": C.error_md("choose a converted dataset first"), "progress": gr.skip()}
    if not studio.has_unmerged_accepted(ds["id"]):
        return {"msg": C.error_md("no accepted variants to merge — accept some first"), "progress": gr.skip()}
    try:
        job_id = studio.start_merge(ds["id"])
    except Exception as exc:  # noqa: BLE001
        return {"msg": C.report_error(exc), "progress": gr.skip()}
    return {"msg": C.ok_md(f"merging accepted variants into {ds['name']} (job #{job_id})"),
            "progress": C.job_progress_html(studio.job(job_id), "merge")}


def _for_dataset(ds_id):
    return lambda j: C.as_int((j.get("params") or {}).get("dataset_id")) == ds_id


def jobs_html(studio, ds_id) -> str:
    ds = curation.converted(studio, ds_id)
    if ds is None:
        return ""
    parts = []
    for kind, title in (("augment", "variant generation"), ("import", "DLCR import"), ("merge", "merge")):
        job = studio.latest_job(kind, _for_dataset(ds["id"]))
        if job:
            parts.append(C.job_progress_html(job, title))
            if kind == "merge" and job["state"] == "succeeded":
                r = job.get("result") or {}
                parts.append(C.ok_md(f"merged {r.get('merged', 0)} variant(s) into {r.get('dataset', ds['path'])} "
                                     "as new training sequences"))
            if job["state"] == "failed":
                parts.append(C.error_md(f"{title} failed: {job.get('message')}"))
    return "".join(parts)


def refresh(studio, *args) -> dict[str, Any]:
    """Tick (``ds_id, *curation.FILTERS values, page, ds_sig, v_sig``): datasets list, job progress,
    counts; the gallery, filter choices and decision log only when the variants changed."""
    *fp, ds_sig, v_sig = args
    ds_id, f, page = curation.split_args(fp)
    conv = C.dataset_choices(studio, "converted")
    new_ds_sig = json.dumps(conv)
    out: dict[str, Any] = {"dataset": gr.skip()}
    if new_ds_sig != ds_sig:
        value = C.keep_value(C.as_int(ds_id), conv)
        out["dataset"] = gr.update(choices=conv, value=value)
        ds_id = value
    out["progress"] = jobs_html(studio, ds_id)
    out["stop_btn"] = gr.update(interactive=bool(studio.active_job("augment")))
    new_v_sig = curation.variant_sig(studio, ds_id)
    choices = ("sid", "kind", "source_seq", "condition")
    if new_v_sig == v_sig and new_ds_sig == ds_sig:
        return {**out, **C.skips("counts", *choices, *curation.VIEW, "ds_sig", "v_sig", "log", "undo_pick",
                                 "undo_bulk")}
    updates = curation.choice_updates(studio, ds_id, f)
    f = {**f, **{k: updates[k]["value"] for k in choices}}
    return {**out, "counts": curation.counts_html(studio, ds_id), **updates,
            **curation.gallery_view(studio, ds_id, *(f[k] for k in curation.FILTERS), page),
            **curation.log_view(studio, ds_id), "ds_sig": new_ds_sig, "v_sig": new_v_sig}


def casia_b_sequence_types() -> list[str]:
    """The CASIA-B protocol's sequence types (nm-01 ... cl-02), from the protocol registry."""
    return P.get("casia-b").sequence_types


def build(studio, timer: gr.Timer) -> dict:
    ds_sig = gr.State("")
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
        gr.Markdown("A model folder or hub id runs that stage; the keyword runs its model-free fallback. A hub "
                    "id not in the local cache is downloaded by the job only when the box is ticked (with byte "
                    "progress below); otherwise nothing is downloaded.")
        with gr.Row():
            stage = {k: gr.Textbox(value=D[k], label=label, info=O.field_help("augment", k), elem_id=f"stage-{k}")
                     for k, label in zip(AUGMENT_STAGES, ("Human parsing", "Descriptions (VLM)", "Summaries (LLM)",
                                                          "Generation"))}
            download = gr.Checkbox(value=D["allow_download"], label="Download models not in the cache",
                                   info=O.field_help("augment", "allow_download"), elem_id="augment-download")
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
    imports = dlcr_import_panel.build(studio, dataset)
    msg = gr.HTML(elem_id="augment-msg")
    progress = gr.HTML(elem_id="augment-progress")
    bench = curation.build(studio, dataset, msg)

    sent = {"msg": msg, "progress": progress}
    gen_btn.click(**C.wire(lambda *a: start(studio, *a), sent),
                  inputs=[dataset, per_seq, seq_types, kinds, *stage.values(), resil, disc, gweight, purpose, download])
    imports["wire_messages"](msg, progress)
    stop_btn.click(lambda: stop(studio), outputs=msg)
    merge_btn.click(**C.wire(lambda d: merge(studio, d), sent), inputs=dataset)

    ticked = {"dataset": dataset, "progress": progress, "stop_btn": stop_btn, "ds_sig": ds_sig,
              **{k: bench[k] for k in ("counts", "sid", "kind", "source_seq", "condition", *curation.VIEW, "v_sig",
                                       "log", "undo_pick", "undo_bulk")}}
    tick = dict(**C.wire(lambda *a: refresh(studio, *a), ticked), inputs=bench["filters"] + [ds_sig, bench["v_sig"]],
                show_progress="hidden")
    timer.tick(**tick, concurrency_limit=None)
    return {"load": tick}
