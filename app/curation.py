"""Step 3 · the curation workbench: filter and page the variants, review one, accept or reject them.

Pages come from SQL (``Studio.variant_page``), so 10,000 variants stay fast; every decision is
written at once, so a reload loses nothing. Handlers return ``{output name: value}``; the names
are the keys of the dict ``build`` returns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from app import common as C

STATUSES = ["all", "pending", "accepted", "rejected"]
SORTS = ["identity", "score ↓", "score ↑", "newest"]
HOTKEYS = ("**Keys** (outside text boxes): **a** accept · **r** reject · **u** undo · **→ / ←** next / previous variant · "
           "**PgDn / PgUp** next / previous page · **?** this help")
PAGE_SIZE = 48
MARK = {"pending": "•", "accepted": "✓", "rejected": "✗"}
NO_SELECTION = "Select a variant in the gallery to review it."
VIEW = ("gallery", "page", "info")
DETAIL = ("compare", "gif", "desc")


def converted(studio, ds_id) -> dict | None:
    return studio.dataset(C.as_int(ds_id), "converted")


def _any(value):
    return None if value in (None, "", "all") else value


def _query(studio, ds_id, status, sid, text, smin, smax, sort):
    ds = converted(studio, ds_id)
    if ds is None:
        return None, {}
    lo, hi = float(smin if smin is not None else 0), float(smax if smax is not None else 1)
    # The full range means "no score filter", so unscored variants are not hidden by default.
    scored = not (lo <= 0 and hi >= 1)
    return ds, {"status": _any(status), "sid": _any(sid), "text": (text or "").strip() or None,
                "score_min": lo if scored else None, "score_max": hi if scored else None}


def page_rows(studio, ds_id, status, sid, text, smin, smax, sort, page) -> tuple[list[dict], int, int, int]:
    """(rows of this page, page, pages, total matching)."""
    ds, f = _query(studio, ds_id, status, sid, text, smin, smax, sort)
    if ds is None:
        return [], 1, 1, 0
    return studio.variant_page(ds["id"], **f, sort=sort if sort in SORTS else "identity",
                               page=C.as_int(page) or 1, page_size=PAGE_SIZE)


def counts_html(studio, ds_id) -> str:
    ds = converted(studio, ds_id)
    if ds is None:
        return ""
    c = studio.variant_counts(ds["id"])
    total = c["pending"] + c["accepted"] + c["rejected"]
    return ('<div class="hg-counts" id="variant-counts">'
            f'<span>total <b>{total}</b></span><span>pending <b>{c["pending"]}</b></span>'
            f'<span>accepted <b>{c["accepted"]}</b></span><span>rejected <b>{c["rejected"]}</b></span>'
            f'<span>merged <b>{c["merged"]}</b></span></div>')


def variant_sig(studio, ds_id) -> str:
    ds = converted(studio, ds_id)
    if ds is None:
        return ""
    return json.dumps([ds["id"], studio.variant_counts(ds["id"])])


def sid_choices(studio, ds_id) -> list[str]:
    ds = converted(studio, ds_id)
    if ds is None:
        return ["all"]
    return ["all"] + studio.variant_sids(ds["id"])


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


def gallery_view(studio, ds_id, status, sid, text, smin, smax, sort, page, selected=None) -> dict[str, Any]:
    """The gallery, page number and page info (``VIEW``) for the current filters."""
    rows, page, pages, total = page_rows(studio, ds_id, status, sid, text, smin, smax, sort, page)
    items = [(_thumb(v) or C.placeholder("no thumb"), _caption(v)) for v in rows]
    ids = [v["id"] for v in rows]
    sel = ids.index(selected) if selected in ids else None
    info = f"page {page} of {pages} · {total} variant(s) match the filters"
    if not rows:
        info = "No variants match. Generate some above, or change the filters." if converted(studio, ds_id) \
            else "Choose a converted dataset (step 2 makes one)."
    return {"gallery": gr.update(value=items, selected_index=sel), "page": page, "info": info}


def details(studio, variant_id) -> dict[str, Any]:
    """The compare image, gif and description (``DETAIL``) of one variant."""
    v = studio.variant(C.as_int(variant_id))
    if v is None:
        return {"compare": None, "gif": None, "desc": NO_SELECTION}
    folder = Path(v["path"])
    compare = folder / "compare.jpg"
    gif = folder / "variant.gif"
    history = studio.decisions(v["id"])
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
    return {"compare": str(compare) if compare.is_file() else None, "gif": str(gif) if gif.is_file() else None,
            "desc": "\n\n".join(lines)}


def select(studio, *filters_and_page, evt: gr.SelectData) -> dict[str, Any]:
    """Map the clicked gallery index back to a variant id by recomputing the page server-side."""
    rows = page_rows(studio, *filters_and_page)[0]
    idx = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else None)
    if idx is None or idx >= len(rows):
        return {"selected": None, "compare": None, "gif": None, "desc": NO_SELECTION}
    vid = rows[idx]["id"]
    return {"selected": vid, **details(studio, vid)}


def step_selection(studio, variant_id, delta, *filters_and_page) -> dict[str, Any]:
    """Arrow keys: the next/previous variant on the page (wrapping to the next/previous page)."""
    rows, page, pages, _ = page_rows(studio, *filters_and_page)
    if not rows:
        return {"selected": None, **C.skips(*DETAIL, *VIEW)}
    ids = [v["id"] for v in rows]
    cur = ids.index(variant_id) if variant_id in ids else (-1 if delta > 0 else len(ids))
    nxt = cur + delta
    if not 0 <= nxt < len(ids) and pages > 1:
        page = page % pages + 1 if delta > 0 else (page - 2) % pages + 1
        rows, page, _, _ = page_rows(studio, *filters_and_page[:-1], page)
        ids = [v["id"] for v in rows]
        nxt = 0 if delta > 0 else len(ids) - 1
    vid = ids[max(0, min(nxt, len(ids) - 1))]
    return {"selected": vid, **details(studio, vid), **gallery_view(studio, *filters_and_page[:-1], page, selected=vid)}


def _after_decision(studio, msg: str, filters_and_page, selected=None) -> dict[str, Any]:
    ds_id = filters_and_page[0]
    return {"msg": msg, **gallery_view(studio, *filters_and_page, selected=selected),
            "counts": counts_html(studio, ds_id), "v_sig": variant_sig(studio, ds_id)}


def decide_one(studio, variant_id, decision, *filters_and_page) -> dict[str, Any]:
    """Persist one decision now; the message, the view, counts, the variant's details and v_sig."""
    vid = C.as_int(variant_id)
    if vid is None:
        return {"msg": C.error_md("select a variant first (click it, or use the arrow keys)"),
                **C.skips(*VIEW, "counts", *DETAIL, "v_sig")}
    n = studio.decide([vid], decision)
    msg = C.ok_md(f"variant #{vid} → {decision}") if n else \
        C.error_md(f"variant #{vid} was already merged into the dataset; its decision can no longer change")
    return {**_after_decision(studio, msg, filters_and_page, selected=vid), **details(studio, vid)}


def decide_shown(studio, decision, *filters_and_page) -> dict[str, Any]:
    """Accept/reject every variant on the current page; the message, the view, counts and v_sig."""
    rows = page_rows(studio, *filters_and_page)[0]
    if not rows:
        return {"msg": C.error_md("no variants shown"), **C.skips(*VIEW, "counts", "v_sig")}
    n = studio.decide([v["id"] for v in rows], decision)
    msg = C.ok_md(f"{n} variant(s) → {decision}" + (f" ({len(rows) - n} already merged)" if n < len(rows) else ""))
    return _after_decision(studio, msg, filters_and_page)


def decide_threshold(studio, decision, threshold, *filters_and_page) -> dict[str, Any]:
    """Bulk: accept every matching variant scoring >= threshold, or reject every one below it.
    Applies to the whole filter (all pages), never to unscored variants."""
    ds, f = _query(studio, *filters_and_page[:-1])
    if ds is None:
        return {"msg": C.error_md("choose a converted dataset first"), **C.skips(*VIEW, "counts", "v_sig")}
    t = float(threshold)
    lo, hi = f["score_min"], f["score_max"]
    if decision == "accepted":
        f["score_min"] = max(t, lo) if lo is not None else t
    else:
        f["score_max"] = min(t - 1e-9, hi) if hi is not None else t - 1e-9
    ids = studio.variant_ids(ds["id"], **f)
    n = studio.decide(ids, decision) if ids else 0
    what = f"score ≥ {t:.2f}" if decision == "accepted" else f"score < {t:.2f}"
    msg = C.ok_md(f"{n} variant(s) with {what} → {decision}") if ids else C.error_md(f"no matching variant has {what}")
    return _after_decision(studio, msg, filters_and_page)


def on_dataset(studio, ds_id, status, _sid, text, smin, smax, sort, _page) -> dict[str, Any]:
    """Another dataset picked: its first page, counts and identities; nothing selected."""
    return {**gallery_view(studio, ds_id, status, "all", text, smin, smax, sort, 1), "counts": counts_html(studio, ds_id),
            "sid": gr.update(choices=sid_choices(studio, ds_id), value="all"), "selected": None, "compare": None,
            "gif": None, "desc": NO_SELECTION, "v_sig": variant_sig(studio, ds_id)}


# -- layout ------------------------------------------------------------------------------------------

def build(studio, dataset: gr.Dropdown, msg: gr.HTML) -> dict[str, Any]:
    """The workbench under the generation controls; returns its components by output name."""
    v_sig, selected = gr.State(""), gr.State(None)
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
            desc = gr.Markdown(NO_SELECTION, elem_id="variant-desc")
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
    view = {"gallery": gallery, "page": page, "info": info}
    detail = {"compare": compare, "gif": gif, "desc": desc}
    decided = {"msg": msg, **view, "counts": counts, "v_sig": v_sig}

    # Explicit parameters: Gradio finds the event argument by annotation and counts the rest.
    def on_select(ds_id, status_, sid_, text_, smin_, smax_, sort_, page_, evt: gr.SelectData):
        return select(studio, ds_id, status_, sid_, text_, smin_, smax_, sort_, page_, evt=evt)

    gallery.select(**C.wire(on_select, {"selected": selected, **detail}), inputs=filters)
    for delta, btn in ((1, next_one), (-1, prev_one)):
        btn.click(**C.wire(lambda v, *a, _d=delta: step_selection(studio, v, _d, *a),
                           {"selected": selected, **detail, **view}), inputs=[selected] + filters)
    for decision, btn in (("accepted", acc_btn), ("rejected", rej_btn), ("pending", undo_btn)):
        btn.click(**C.wire(lambda v, *a, _d=decision: decide_one(studio, v, _d, *a), {**decided, **detail}),
                  inputs=[selected] + filters)
    for decision, btn in (("accepted", acc_all), ("rejected", rej_all)):
        btn.click(**C.wire(lambda *a, _d=decision: decide_shown(studio, _d, *a), decided), inputs=filters)
    for decision, btn in (("accepted", acc_above), ("rejected", rej_below)):
        btn.click(**C.wire(lambda t, *a, _d=decision: decide_threshold(studio, _d, t, *a), decided),
                  inputs=[threshold] + filters)

    def view_at(page_of):
        return C.wire(lambda *a: gallery_view(studio, *a[:-1], page_of(a[-1])), view)

    first = view_at(lambda _: 1)
    for comp in (status, sid, sort):
        comp.input(**first, inputs=filters)
    for comp in (smin, smax):
        comp.release(**first, inputs=filters)
    text.submit(**first, inputs=filters)
    page.submit(**view_at(lambda p: p), inputs=filters)
    prev_btn.click(**view_at(lambda p: (C.as_int(p) or 1) - 1), inputs=filters)
    next_btn.click(**view_at(lambda p: (C.as_int(p) or 1) + 1), inputs=filters)
    dataset.input(**C.wire(lambda *a: on_dataset(studio, *a),
                           {**view, "counts": counts, "sid": sid, "selected": selected, **detail, "v_sig": v_sig}),
                  inputs=filters)
    return {"filters": filters, "counts": counts, "sid": sid, **view, "v_sig": v_sig}
