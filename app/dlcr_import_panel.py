"""Step 3 · bringing in what a DLCR run already produced: preview an import (reads only), then run it as a job."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app import common as C
from core.studio import options as O

IMPORT = O.defaults("import")


def import_preview(studio, path, kind, keep, k) -> dict[str, Any]:
    """The message, summary and problems table of what an import would bring in; reads only."""
    path = (path or "").strip()
    if not path:
        return {"msg": C.error_md("enter the folder holding DLCR outputs"), "summary": "", "problems": None}
    try:
        pv = studio.preview_import(path, kind, keep=int(keep or IMPORT["keep"]), k=C.as_int(k) or None).to_json()
    except Exception as exc:  # noqa: BLE001
        return {"msg": C.report_error(exc), "summary": "", "problems": None}
    lines = [f"**{kd}**: " + ", ".join(f"{n} {what}" for what, n in counts.items())
             for kd, counts in pv["counts"].items()] or ["nothing importable found"]
    lines.append(f"**Problems:** {pv['errors']} errors, {pv['problems_total'] - pv['errors']} warnings"
                 " (bad files are skipped; the rest imports)")
    lines.append("*Preview only — nothing has been imported; the source folder is never modified.*")
    rows = pd.DataFrame(pv["problems"]) if pv["problems"] else None
    return {"msg": "", "summary": "\n\n".join(lines), "problems": rows}


def import_start(studio, ds_id, path, kind, keep, k, masks):
    """The message and progress after submitting the import job."""
    ds = studio.dataset(C.as_int(ds_id), "converted")
    if ds is None:
        return {"msg": C.error_md("choose the converted dataset the variants belong to (above)"), "progress": gr.skip()}
    try:
        job_id = studio.start_import(ds["id"], (path or "").strip(), kind, keep=int(keep or IMPORT["keep"]),
                                     k=C.as_int(k) or None, masks=(masks or "").strip() or None)
    except Exception as exc:  # noqa: BLE001
        return {"msg": C.report_error(exc), "progress": gr.skip()}
    return {"msg": C.ok_md(f"importing {kind} (job #{job_id}); variants appear in the workbench as they are written"),
            "progress": C.job_progress_html(studio.job(job_id), "import")}


def build(studio, dataset: gr.Dropdown) -> dict[str, Any]:
    """The import accordion. Returns ``wire_messages(msg, progress)``, to call once the tab's message and
    progress areas (below the accordion) exist."""
    with gr.Accordion("Import DLCR outputs (strips, generated images, SCHP masks, texts)", open=False,
                      elem_id="import-box"):
        gr.Markdown("Bring in what a DLCR run already produced. Strips hold K variants side by side; keep the "
                    "leftmost N. Variants of test identities are refused. The folder is only read.")
        with gr.Row():
            path = gr.Textbox(label="DLCR folder", scale=4, elem_id="import-path")
            kind = gr.Dropdown(list(O.choices("import", "kind")), value="dlcr-strips", label="Kind", scale=2,
                               elem_id="import-kind")
            keep = gr.Number(value=IMPORT["keep"], precision=0, minimum=1, label="Keep leftmost N", scale=1)
            # A Textbox: a blank gr.Number shows 0, which reads as a value.
            k = gr.Textbox(value="", placeholder="from the strip's size", label="K per strip (blank: from size)",
                           scale=1)
        masks = gr.Textbox(label="Masks of the source frames (SCHP/LIP or silhouettes), optional",
                           elem_id="import-masks")
        with gr.Row():
            preview_btn = gr.Button("Preview import", elem_id="import-preview")
            start_btn = gr.Button("Import", variant="primary", elem_id="import-start")
        summary = gr.Markdown(elem_id="import-summary")
        problems = gr.Dataframe(label="Problems (file, line, reason)", interactive=False, max_height=200,
                                wrap=True, elem_id="import-problems")

    def wire_messages(msg: gr.HTML, progress: gr.HTML) -> None:
        preview_btn.click(**C.wire(lambda *a: import_preview(studio, *a),
                                   {"msg": msg, "summary": summary, "problems": problems}),
                          inputs=[path, kind, keep, k], api_name="import_preview")
        start_btn.click(**C.wire(lambda *a: import_start(studio, *a), {"msg": msg, "progress": progress}),
                        inputs=[dataset, path, kind, keep, k, masks])

    return {"wire_messages": wire_messages}
