"""Step 3 · the curation workbench: filter the variants by what they mean, review them one by one or
a source sequence at a time, accept or reject them singly or in bulk.

Filtering and paging happen in SQL (``Studio.variant_page``), so 10,000 variants stay fast, and
the count shown is computed by the same query a bulk action runs, so it is what the action
touches. A bulk action counts first, asks once, leaves hand decisions alone unless told
otherwise, and is one undoable entry of the decision log. A single decision shows in the page at
once (assets/hotkeys.js applies it before the server answers; the server's reply confirms it or
shows that the write failed).

Handlers return ``{output name: value}``; the names are the keys of the dict ``build`` returns.
Every filter-driven handler takes ``ds_id, *FILTERS values, page`` in that order.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import gradio as gr

from app import common as C

STATUSES = ["all", "pending", "accepted", "rejected"]
METHODS = ["all", "model", "model-free", "imported"]
SORTS = ["identity", "score ↓", "score ↑", "newest"]
# Positional order of the filter widgets after the dataset, as every handler receives them.
FILTERS = ("status", "sid", "kind", "method", "source_seq", "condition", "text", "smin", "smax", "sort")
HOTKEYS = ("**Keys** (outside text boxes): **a** accept · **r** reject · **u** undo · **→ / ←** next / previous variant · "
           "**PgDn / PgUp** next / previous page · **?** this help")
PAGE_SIZE = 48
GROUP_PAGE_SIZE = 6
PER_GROUP = 8
MARK = {"pending": "•", "accepted": "✓", "rejected": "✗"}
NO_SELECTION = "Select a variant in the gallery to review it."
VIEW = ("gallery", "page", "info")
DETAIL = ("compare", "gif", "desc", "state")
BULK = {"accept-all": ("accepted", None), "reject-all": ("rejected", None),
        "accept-above": ("accepted", "above"), "reject-below": ("rejected", "below")}
VERB = {"accepted": "Accept", "rejected": "Reject", "pending": "Reset to pending", "undo": "Undo"}


def converted(studio, ds_id) -> dict | None:
    return studio.dataset(C.as_int(ds_id), "converted")


def _any(value):
    return None if value in (None, "", "all") else value


def split_args(args) -> tuple[Any, dict[str, Any], Any]:
    """(dataset id, {filter: value}, page) from ``ds_id, *FILTERS values, page``."""
    ds_id, *vals, page = args
    return ds_id, dict(zip(FILTERS, vals)), page


def _query(studio, ds_id, f: dict[str, Any]) -> tuple[dict | None, dict[str, Any]]:
    """The dataset and the catalog filters the widgets ``f`` mean."""
    ds = converted(studio, ds_id)
    if ds is None:
        return None, {}
    lo = float(f.get("smin") if f.get("smin") is not None else 0)
    hi = float(f.get("smax") if f.get("smax") is not None else 1)
    # The full range means "no score filter", so unscored variants are not hidden by default.
    scored = not (lo <= 0 and hi >= 1)
    return ds, {**{k: _any(f.get(k)) for k in ("status", "sid", "kind", "method", "source_seq", "condition")},
                "text": (f.get("text") or "").strip() or None,
                "score_min": lo if scored else None, "score_max": hi if scored else None}


def _sort(f: dict[str, Any]) -> str:
    return f.get("sort") if f.get("sort") in SORTS else "identity"


def describe_filters(q: dict[str, Any]) -> str:
    """The active filters in words, as a bulk action's confirmation and log name them."""
    parts = [f"{k.replace('_', ' ')} = {v}" for k, v in q.items() if v is not None and k not in
             ("text", "score_min", "score_max")]
    if q.get("text"):
        parts.append(f"text “{q['text']}”")
    if q.get("score_min") is not None or q.get("score_max") is not None:
        lo, hi = q.get("score_min"), q.get("score_max")
        parts.append(f"score {'≥ %.2f' % lo if lo is not None else ''}{' and ' if lo is not None and hi is not None else ''}"
                     f"{'≤ %.2f' % hi if hi is not None else ''}")
    return ", ".join(parts) or "no filter (every variant)"


def page_rows(studio, *fp) -> tuple[list[dict], int, int, int]:
    """(rows of this page, page, pages, total matching)."""
    ds_id, f, page = split_args(fp)
    ds, q = _query(studio, ds_id, f)
    if ds is None:
        return [], 1, 1, 0
    return studio.variant_page(ds["id"], **q, sort=_sort(f), page=C.as_int(page) or 1, page_size=PAGE_SIZE)


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


def filter_choices(studio, ds_id) -> dict[str, list[str]]:
    """Each dropdown's choices ('sid', 'kind', 'source_seq', 'condition'), 'all' first."""
    ds = converted(studio, ds_id)
    found = studio.variant_choices(ds["id"]) if ds else {}
    return {k: ["all"] + found.get(k, []) for k in ("sid", "kind", "source_seq", "condition")}


def choice_updates(studio, ds_id, f: dict[str, Any] | None = None) -> dict[str, Any]:
    """Dropdown updates keeping each value that is still offered."""
    f = f or {}
    return {k: gr.update(choices=c, value=f.get(k) if f.get(k) in c else "all")
            for k, c in filter_choices(studio, ds_id).items()}


def sid_choices(studio, ds_id) -> list[str]:
    return filter_choices(studio, ds_id)["sid"]


def _kind(v: dict) -> str:
    return (v.get("recipe") or {}).get("kind") or v["name"].rsplit("-", 1)[-1]


def _caption(v: dict) -> str:
    merged = " · merged" if v.get("merged_seq") else ""
    score = f" · {v['score']:.2f}" if v.get("score") is not None else ""
    return f"{MARK.get(v['status'], '')} #{v['id']} {v['sid']} {_kind(v)}{score}{merged}"


def _thumb(v: dict) -> str | None:
    for p in (v.get("thumb"), str(Path(v["path"]) / "thumb.jpg")):
        if p and Path(p).is_file():
            return p
    return None


def gallery_view(studio, *fp, selected=None) -> dict[str, Any]:
    """The gallery, page number and page info (``VIEW``) for the current filters."""
    rows, page, pages, total = page_rows(studio, *fp)
    items = [(_thumb(v) or C.placeholder("no thumb"), _caption(v)) for v in rows]
    ids = [v["id"] for v in rows]
    sel = ids.index(selected) if selected in ids else None
    info = (f"**{total}** variant(s) match the filters, on all pages: bulk actions act on exactly these"
            f" · page {page} of {pages}")
    if not rows:
        info = "No variants match. Generate some above, or change the filters." if converted(studio, fp[0]) \
            else "Choose a converted dataset (step 2 makes one)."
    return {"gallery": gr.update(value=items, selected_index=sel), "page": page, "info": info}


def state_html(v: dict | None, note: str = "", error: str = "") -> str:
    """The selected variant's decision, the one place the panel shows it: the page's script
    rewrites it the moment a key is pressed, the server's reply confirms or corrects it."""
    if v is None:
        return '<div class="hg-vstate hg-s-none" data-vid=""><span class="hg-vstate-label">nothing selected</span></div>'
    merged = bool(v.get("merged_seq"))
    note = note or ("merged — final" if merged else "decided by hand" if v.get("by_hand") else "")
    err = f'<span class="hg-vstate-error">⚠ {html.escape(error)}</span>' if error else ""
    return (f'<div class="hg-vstate hg-s-{v["status"]}" data-vid="{v["id"]}" data-status="{v["status"]}"'
            f' data-merged="{int(merged)}"><span class="hg-vstate-id">#{v["id"]}</span>'
            f'<span class="hg-vstate-label">{v["status"]}</span>'
            f'<span class="hg-vstate-note">{html.escape(note)}</span>{err}</div>')


def details(studio, variant_id, note: str = "", error: str = "") -> dict[str, Any]:
    """The compare image, gif, description and decision badge (``DETAIL``) of one variant."""
    v = studio.variant(C.as_int(variant_id))
    if v is None:
        return {"compare": None, "gif": None, "desc": NO_SELECTION, "state": state_html(None)}
    folder = Path(v["path"])
    compare = folder / "compare.jpg"
    gif = studio.variant_preview(v)
    history = studio.decisions(v["id"])
    recipe = v.get("recipe") or {}
    lines = [f"### Variant #{v['id']} · identity {v['sid']} · from `{v['source_seq']}`",
             f"**{v['description']}**" + (f", merged as `{v['merged_seq']}`" if v.get("merged_seq") else ""),
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
        # one bullet per stage: inline code spans of long labels wrapped mid-phrase and ran the stages together
        lines.append("models used:\n" + "\n".join(
            f"- **{stage}**: {(m or {}).get('model_id') or (m or {}).get('label') or m}" for stage, m in models.items()))
    if history:
        lines.append("decisions: " + ", ".join(
            f"{h['decision']} ({h['who']}, {h['at']}{', bulk #%d' % h['batch_id'] if h.get('batch_id') else ''})"
            for h in history[-5:]))
    return {"compare": str(compare) if compare.is_file() else None, "gif": str(gif) if gif else None,
            "desc": "\n\n".join(lines), "state": state_html(v, note, error)}


def select(studio, *fp, evt: gr.SelectData) -> dict[str, Any]:
    """Map the clicked gallery index back to a variant id by recomputing the page server-side."""
    rows = page_rows(studio, *fp)[0]
    idx = evt.index if isinstance(evt.index, int) else (evt.index[0] if evt.index else None)
    if idx is None or idx >= len(rows):
        return {"selected": None, **details(studio, None)}
    vid = rows[idx]["id"]
    return {"selected": vid, **details(studio, vid)}


def step_selection(studio, variant_id, delta, *fp) -> dict[str, Any]:
    """Arrow keys: the next/previous variant on the page (wrapping to the next/previous page)."""
    rows, page, pages, _ = page_rows(studio, *fp)
    if not rows:
        return {"selected": None, **C.skips(*DETAIL, *VIEW)}
    ids = [v["id"] for v in rows]
    cur = ids.index(variant_id) if variant_id in ids else (-1 if delta > 0 else len(ids))
    nxt = cur + delta
    if not 0 <= nxt < len(ids) and pages > 1:
        page = page % pages + 1 if delta > 0 else (page - 2) % pages + 1
        rows, page, _, _ = page_rows(studio, *fp[:-1], page)
        ids = [v["id"] for v in rows]
        nxt = 0 if delta > 0 else len(ids) - 1
    vid = ids[max(0, min(nxt, len(ids) - 1))]
    return {"selected": vid, **details(studio, vid), **gallery_view(studio, *fp[:-1], page, selected=vid)}


def _after_decision(studio, msg: str, fp, selected=None) -> dict[str, Any]:
    ds_id = fp[0]
    return {"msg": msg, **gallery_view(studio, *fp, selected=selected),
            "counts": counts_html(studio, ds_id), "v_sig": variant_sig(studio, ds_id)}


def decide_one(studio, variant_id, decision, *fp) -> dict[str, Any]:
    """Persist one hand decision now. The page already shows it (assets/hotkeys.js), so the reply
    is kept small: the badge confirmed (or the error and the stored state), the history, counts; the
    gallery only when the view must change: a status filter the variant may have left, or a write
    that failed (its thumbnail is put right)."""
    vid = C.as_int(variant_id)
    if vid is None:
        return {"msg": C.error_md("select a variant first (click it, or use the arrow keys)"),
                **C.skips(*VIEW, "counts", *DETAIL, "v_sig")}
    try:
        n = studio.decide([vid], decision)
        error = "" if n else "already merged into the dataset; its decision can no longer change"
    except Exception as exc:  # noqa: BLE001 - a failed write must show on the page, not only in a log
        error = f"not saved: {C.error_text(exc)}"
    msg = C.error_md(f"variant #{vid}: {error}") if error else C.ok_md(f"variant #{vid} → {decision}")
    shown = details(studio, vid, note="" if error else "saved", error=error)
    out = {"msg": msg, "counts": counts_html(studio, fp[0]), "v_sig": variant_sig(studio, fp[0]),
           "state": shown["state"], "desc": shown["desc"], **C.skips("compare", "gif")}
    if error or split_args(fp)[1].get("status") not in (None, "", "all"):
        return {**out, **gallery_view(studio, *fp, selected=vid)}
    return {**out, **C.skips(*VIEW)}


# -- bulk actions: count, ask once, apply as one batch, undo as one -------------------------------

def _bulk_query(studio, action, threshold, fp) -> tuple[dict | None, str, dict[str, Any], str]:
    """(dataset, decision, catalog filters, label) of a bulk action over the current filters."""
    ds_id, f, _ = split_args(fp)
    ds, q = _query(studio, ds_id, f)
    decision, side = BULK[action]
    label = describe_filters(q)
    if side is not None:   # the threshold narrows the filter; it never reaches unscored variants
        t = float(threshold)
        if side == "above":
            q["score_min"] = max(t, q["score_min"]) if q["score_min"] is not None else t
            label += f"; score ≥ {t:.2f}"
        else:
            q["score_max"] = min(t - 1e-9, q["score_max"]) if q["score_max"] is not None else t - 1e-9
            label += f"; score < {t:.2f}"
    return ds, decision, q, label


def confirm_text(plan: dict[str, int], decision: str, label: str) -> str:
    verb = VERB[decision].lower()
    keep = plan["change"] - plan["by_hand"]
    lines = [f"**{VERB[decision]} {keep} variant(s)?** Filters: {label}.",
             f"{plan['matching']} match; {plan['change']} are not {decision} yet"
             + (f"; {plan['merged']} merged (final, never changed)" if plan["merged"] else "") + "."]
    if plan["by_hand"]:
        lines.append(f"**{plan['by_hand']} of the {plan['change']} were decided by hand** and are kept as they are — "
                     f"tick *including hand decisions* to {verb} all {plan['change']}.")
    else:
        lines.append("None of them was decided by hand.")
    return "\n\n".join(lines)


def ask_bulk(studio, action, threshold, *fp) -> dict[str, Any]:
    """First step of a bulk action: what it would change, and the confirmation box."""
    ds, decision, q, label = _bulk_query(studio, action, threshold, fp)
    if ds is None:
        return {"msg": C.error_md("choose a converted dataset first"), **C.skips("confirm_box", "confirm_md",
                                                                                 "pending", "include_hand")}
    plan = studio.plan_bulk(ds["id"], decision, **q)
    if not plan["change"]:
        why = f"all {plan['matching']} matching variant(s) are already {decision} or merged" if plan["matching"] \
            else "no variant matches the filters"
        return {"msg": C.error_md(f"nothing to {VERB[decision].lower()}: {why}"), "confirm_box": gr.update(visible=False),
                "confirm_md": "", "pending": None, "include_hand": False}
    pending = {"ds": ds["id"], "decision": decision, "filters": q, "label": label}
    return {"msg": "", "confirm_box": gr.update(visible=True), "confirm_md": confirm_text(plan, decision, label),
            "pending": pending, "include_hand": False}


def log_view(studio, ds_id) -> dict[str, Any]:
    """The decision log table and the choice of bulk actions that can still be undone."""
    ds = converted(studio, ds_id)
    batches = studio.decision_log(ds["id"]) if ds else []
    if not batches:
        table = '<div class="hg-empty">No bulk action yet. Bulk accepts and rejects appear here, each undoable as one.</div>'
    else:
        rows = "".join(
            f"<tr><td>#{b['id']}</td><td>{html.escape(b['at'])}</td><td>{html.escape(b['who'])}</td>"
            f"<td>{html.escape(VERB.get(b['decision'], b['decision']))}</td><td>{b['changed']}</td>"
            f"<td>{html.escape(b['label'])}</td><td>{'undone by #%d' % b['undone_by'] if b['undone_by'] else ''}</td></tr>"
            for b in batches)
        table = ('<table class="hg-log" id="decision-log-table"><thead><tr><th>#</th><th>when</th><th>who</th>'
                 f'<th>action</th><th>changed</th><th>filters</th><th>undo</th></tr></thead><tbody>{rows}</tbody></table>')
    undoable = [(f"#{b['id']} · {VERB.get(b['decision'], b['decision'])} {b['changed']} · {b['label']}"[:90], b["id"])
                for b in batches if b["undone_by"] is None and b["undoes"] is None and b["changed"]]
    return {"log": table, "undo_pick": gr.update(choices=undoable, value=undoable[0][1] if undoable else None),
            "undo_bulk": gr.update(interactive=bool(undoable))}


def _after_bulk(studio, msg, fp, selected) -> dict[str, Any]:
    # The panel of the selected variant is re-read too, so the thumbnails and it never disagree.
    return {**_after_decision(studio, msg, fp, selected=C.as_int(selected)), **log_view(studio, fp[0]),
            **details(studio, selected), "confirm_box": gr.update(visible=False), "pending": None}


def confirm_bulk(studio, pending, include_hand, selected, *fp) -> dict[str, Any]:
    """Second step: apply the bulk action that was counted, as one batch of the decision log."""
    if not pending:
        return {"msg": C.error_md("nothing to confirm"), "confirm_box": gr.update(visible=False),
                **C.skips(*VIEW, "counts", "v_sig", "log", "undo_pick", "undo_bulk", *DETAIL, "pending")}
    label = pending["label"] + ("; including hand decisions" if include_hand else "")
    batch, n = studio.decide_bulk(pending["ds"], pending["decision"], label=label, include_hand=bool(include_hand),
                                  **pending["filters"])
    kept = "" if include_hand else studio.plan_bulk(pending["ds"], pending["decision"], **pending["filters"])["by_hand"]
    msg = C.ok_md(f"{n} variant(s) → {pending['decision']} (bulk action #{batch}"
                  + (f"; {kept} hand decision(s) kept" if kept else "") + ") — undo it from the decision log")
    return _after_bulk(studio, msg, fp, selected)


def cancel_bulk() -> dict[str, Any]:
    return {"confirm_box": gr.update(visible=False), "pending": None, "msg": C.ok_md("bulk action cancelled; nothing changed")}


def undo_bulk(studio, batch_id, selected, *fp) -> dict[str, Any]:
    """Undo one bulk action as one: every variant it changed and nobody decided since goes back."""
    bid = C.as_int(batch_id)
    if bid is None:
        return {"msg": C.error_md("no bulk action to undo"), **C.skips(*VIEW, "counts", "v_sig", "log", "undo_pick",
                                                                      "undo_bulk", *DETAIL, "confirm_box", "pending")}
    try:
        r = studio.undo_batch(bid)
    except Exception as exc:  # noqa: BLE001
        return {"msg": C.report_error(exc), **log_view(studio, fp[0]),
                **C.skips(*VIEW, "counts", "v_sig", *DETAIL, "confirm_box", "pending")}
    msg = C.ok_md(f"bulk action #{bid} undone: {r['restored']} variant(s) restored"
                  + (f", {r['kept']} kept (decided again since, or merged)" if r["kept"] else ""))
    return _after_bulk(studio, msg, fp, selected)


# -- review by source sequence ---------------------------------------------------------------------

def _file_url(path) -> str:
    return "/gradio_api/file=" + html.escape(str(Path(path).resolve()))


def _figure(src, caption: str, cls: str) -> str:
    img = f'<img src="{_file_url(src)}" alt="{html.escape(caption)}" loading="lazy">' if src else \
        '<div class="hg-noprev">no frames</div>'
    return f'<figure class="{cls}">{img}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _group_html(studio, ds_id, g: dict, q: dict[str, Any]) -> str:
    scope = {**q, "sid": g["sid"], "source_seq": g["source_seq"]}
    key = html.escape(f"{g['sid']}|{g['source_seq']}")
    buttons = []
    for decision, cls in (("accepted", "hg-acc"), ("rejected", "hg-rej")):
        plan = studio.plan_bulk(ds_id, decision, **scope)
        n = plan["change"] - plan["by_hand"]
        tip = (f"{n} of the {g['count']} change" + (f"; {plan['by_hand']} decided by hand are kept" if plan["by_hand"]
                                                    else "") + (f"; {plan['merged']} merged" if plan["merged"] else ""))
        buttons.append(f'<button class="hg-group-act {cls}" data-act="{decision}|{key}" title="{html.escape(tip)}"'
                       f'{"" if n else " disabled"}>{VERB[decision]} {n}</button>')
    head = (f'<div class="hg-group-head"><b>{html.escape(g["sid"])} · {html.escape(g["source_seq"])}</b>'
            f'<span>{g["count"]} variant(s): {g["accepted"]} accepted · {g["rejected"]} rejected · {g["pending"]} pending'
            f'{" · %d by hand" % g["by_hand"] if g["by_hand"] else ""}</span>{"".join(buttons)}</div>')
    figs = [_figure(g["original"], f"original ({g['original_shows']})", "hg-orig")]
    figs += [_figure(v.get("preview"), f"{MARK[v['status']]} #{v['id']} {_kind(v)}", f"hg-v hg-s-{v['status']}")
             for v in g["variants"]]
    more = g["count"] - len(g["variants"])
    if more > 0:
        figs.append(f'<div class="hg-more">+{more} more<br><small>(group buttons change them too)</small></div>')
    return f'<div class="hg-group" data-group="{key}">{head}<div class="hg-group-strip">{"".join(figs)}</div></div>'


def groups_view(studio, *fp) -> dict[str, Any]:
    """The review by source sequence: one row per sequence (original first, then its variants,
    each playing), with group-level accept / reject; and its page number."""
    ds_id, f, page = split_args(fp)
    ds, q = _query(studio, ds_id, f)
    if ds is None:
        return {"groups": '<div class="hg-empty">Choose a converted dataset (step 2 makes one).</div>', "gpage": 1}
    groups, page, pages, total = studio.variant_groups(ds["id"], **q, page=C.as_int(page) or 1,
                                                       page_size=GROUP_PAGE_SIZE, per_group=PER_GROUP)
    if not groups:
        return {"groups": '<div class="hg-empty">No variants match the filters.</div>', "gpage": page}
    info = (f'<div class="hg-group-info">{total} source sequence(s) with matching variants · page {page} of {pages}'
            " · previews play; group buttons leave hand decisions alone and are undoable from the decision log</div>")
    return {"groups": info + "".join(_group_html(studio, ds["id"], g, q) for g in groups), "gpage": page}


def group_action(studio, action, selected, gpage, *fp) -> dict[str, Any]:
    """A group's Accept / Reject (``action`` 'decision|sid|source_seq'): every matching variant of
    that source sequence, hand decisions kept, as one undoable batch. ``gpage``: the groups' page."""
    parts = str(action or "").split("|", 2)
    ds_id, f, _ = split_args(fp)
    ds, q = _query(studio, ds_id, f)
    if len(parts) != 3 or parts[0] not in ("accepted", "rejected") or ds is None:
        return {"msg": C.error_md(f"unknown group action {action!r}"), **C.skips(
            *VIEW, "counts", "v_sig", "log", "undo_pick", "undo_bulk", *DETAIL, "confirm_box", "pending", "groups", "gpage")}
    decision, sid, seq = parts
    scope = {**q, "sid": sid, "source_seq": seq}
    kept = studio.plan_bulk(ds["id"], decision, **scope)["by_hand"]
    batch, n = studio.decide_bulk(ds["id"], decision, label=f"group {sid} · {seq}; " + describe_filters(q), **scope)
    msg = C.ok_md(f"{sid} · {seq}: {n} variant(s) → {decision} (bulk action #{batch}"
                  + (f"; {kept} hand decision(s) kept" if kept else "") + ")")
    return {**_after_bulk(studio, msg, fp, selected), **groups_view(studio, *fp[:-1], gpage)}


def on_dataset(studio, *fp) -> dict[str, Any]:
    """Another dataset picked: its first page, counts and filter choices; nothing selected."""
    ds_id, f, _ = split_args(fp)
    f = {**f, **{k: "all" for k in ("sid", "kind", "source_seq", "condition")}}
    args = (ds_id, *(f[k] for k in FILTERS), 1)
    return {**gallery_view(studio, *args), "counts": counts_html(studio, ds_id), **choice_updates(studio, ds_id),
            "selected": None, **details(studio, None), "v_sig": variant_sig(studio, ds_id), **log_view(studio, ds_id)}


# -- layout ------------------------------------------------------------------------------------------

def _hidden(component):
    """Present in the page (the script fills and clicks it) but never shown: Gradio leaves an
    invisible component out of the page altogether."""
    component.elem_classes = [*(component.elem_classes or []), "hg-hidden"]
    return component


def build(studio, dataset: gr.Dropdown, msg: gr.HTML) -> dict[str, Any]:
    """The workbench under the generation controls; returns its components by output name."""
    v_sig, selected, pending = gr.State(""), gr.State(None), gr.State(None)
    counts = gr.HTML(elem_id="augment-counts")
    with gr.Row():
        status = gr.Dropdown(STATUSES, value="all", label="Status", scale=1, elem_id="filter-status")
        sid = gr.Dropdown(["all"], value="all", label="Identity", scale=1, elem_id="filter-sid")
        kind = gr.Dropdown(["all"], value="all", label="Edit kind", scale=1, elem_id="filter-kind")
        method = gr.Dropdown(METHODS, value="all", label="Method", scale=1, elem_id="filter-method",
                             info="model · model-free · imported from DLCR")
        source = gr.Dropdown(["all"], value="all", label="Source sequence", scale=1, elem_id="filter-source")
        condition = gr.Dropdown(["all"], value="all", label="Condition", scale=1, elem_id="filter-condition")
    with gr.Row():
        text = gr.Textbox(label="Search prompt / description / name", placeholder="coat, red, stripes… (Enter)",
                          scale=3, elem_id="filter-text")
        sort = gr.Dropdown(SORTS, value="identity", label="Sort", scale=1, elem_id="filter-sort")
        smin = gr.Slider(0, 1, value=0, step=0.01, label="Score from", scale=2, elem_id="filter-score-min")
        smax = gr.Slider(0, 1, value=1, step=0.01, label="Score to", scale=2, elem_id="filter-score-max")
    info = gr.Markdown(elem_id="page-info")
    with gr.Row(equal_height=True):
        acc_all = gr.Button("✓ Accept all matching…", elem_id="accept-shown", elem_classes=["hg-bulk", "hg-bulk-acc"])
        rej_all = gr.Button("✗ Reject all matching…", elem_id="reject-shown", elem_classes=["hg-bulk", "hg-bulk-rej"])
        threshold = gr.Slider(0, 1, value=0.8, step=0.01, label="Score threshold", scale=2,
                              elem_id="bulk-threshold")
        acc_above = gr.Button("✓ Accept matching ≥ threshold…", elem_id="accept-above",
                              elem_classes=["hg-bulk", "hg-bulk-acc"])
        rej_below = gr.Button("✗ Reject matching < threshold…", elem_id="reject-below",
                              elem_classes=["hg-bulk", "hg-bulk-rej"])
    with gr.Group(visible=False, elem_id="bulk-confirm", elem_classes=["hg-confirm"]) as confirm_box:
        confirm_md = gr.Markdown(elem_id="bulk-confirm-text")
        with gr.Row():
            include_hand = gr.Checkbox(False, label="including hand decisions", elem_id="bulk-include-hand", scale=2)
            confirm_btn = gr.Button("Confirm", variant="primary", elem_id="bulk-confirm-yes", scale=1)
            cancel_btn = gr.Button("Cancel", elem_id="bulk-confirm-no", scale=1)
    with gr.Accordion("Decision log (bulk actions; undo one as a whole)", open=False, elem_id="decision-log"):
        log = gr.HTML(elem_id="decision-log-html")
        with gr.Row():
            undo_pick = gr.Dropdown([], label="Bulk action to undo", scale=3, elem_id="undo-pick")
            undo_btn_bulk = gr.Button("↶ Undo this bulk action", interactive=False, scale=1, elem_id="undo-bulk",
                                      elem_classes=["hg-bulk"])
    with gr.Tabs(elem_id="review-tabs"):
        with gr.Tab("One by one", id="one", elem_id="review-one"):
            with gr.Row():
                prev_btn = gr.Button("◀ Previous page", size="sm", elem_id="prev-page")
                page = gr.Number(value=1, label="Page", precision=0, elem_id="page", min_width=80)
                next_btn = gr.Button("Next page ▶", size="sm", elem_id="next-page")
            with gr.Row():
                with gr.Column(scale=3):
                    gallery = gr.Gallery(label="Variants (click one, or use the arrow keys)", columns=4, height=460,
                                         object_fit="contain", allow_preview=False, elem_id="variant-gallery")
                with gr.Column(scale=2):
                    state = gr.HTML(state_html(None), elem_id="variant-state")
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
            compare = gr.Image(label="original | variant | orig. silhouette | variant silhouette (and, with guidance: "
                               "source | unguided | guided, same seed)", type="filepath",
                               interactive=False, height=340, elem_id="variant-compare")
        with gr.Tab("By sequence", id="groups", elem_id="review-groups") as groups_tab:
            with gr.Row():
                gprev = gr.Button("◀ Previous sequences", size="sm", elem_id="groups-prev")
                gpage = gr.Number(value=1, label="Page", precision=0, elem_id="groups-page", min_width=80)
                gnext = gr.Button("Next sequences ▶", size="sm", elem_id="groups-next")
            groups = gr.HTML('<div class="hg-empty">Open this tab to review variants a source sequence at a time.</div>',
                             elem_id="variant-groups")
            group_act = _hidden(gr.Textbox(elem_id="group-action", show_label=False, container=False))
            group_apply = _hidden(gr.Button("apply group action", elem_id="group-apply"))

    filters = [dataset, status, sid, kind, method, source, condition, text, smin, smax, sort, page]
    gfilters = filters[:-1] + [gpage]
    view = {"gallery": gallery, "page": page, "info": info}
    detail = {"compare": compare, "gif": gif, "desc": desc, "state": state}
    decided = {"msg": msg, **view, "counts": counts, "v_sig": v_sig}
    logged = {"log": log, "undo_pick": undo_pick, "undo_bulk": undo_btn_bulk}
    bulked = {**decided, **logged, **detail, "confirm_box": confirm_box, "pending": pending}
    grouped = {"groups": groups, "gpage": gpage}

    # Explicit parameters: Gradio finds the event argument by annotation and counts the rest.
    def on_select(ds_id, status_, sid_, kind_, method_, source_, condition_, text_, smin_, smax_, sort_, page_,
                  evt: gr.SelectData):
        return select(studio, ds_id, status_, sid_, kind_, method_, source_, condition_, text_, smin_, smax_, sort_,
                      page_, evt=evt)

    gallery.select(**C.wire(on_select, {"selected": selected, **detail}), inputs=filters)
    for delta, btn in ((1, next_one), (-1, prev_one)):
        btn.click(**C.wire(lambda v, *a, _d=delta: step_selection(studio, v, _d, *a),
                           {"selected": selected, **detail, **view}), inputs=[selected] + filters)
    for decision, btn in (("accepted", acc_btn), ("rejected", rej_btn), ("pending", undo_btn)):
        btn.click(**C.wire(lambda v, *a, _d=decision: decide_one(studio, v, _d, *a), {**decided, **detail}),
                  inputs=[selected] + filters, show_progress="hidden")
    asked = {"msg": msg, "confirm_box": confirm_box, "confirm_md": confirm_md, "pending": pending,
             "include_hand": include_hand}
    for action, btn in (("accept-all", acc_all), ("reject-all", rej_all), ("accept-above", acc_above),
                        ("reject-below", rej_below)):
        btn.click(**C.wire(lambda t, *a, _a=action: ask_bulk(studio, _a, t, *a), asked), inputs=[threshold] + filters)
    confirm_btn.click(**C.wire(lambda p, h, s, *a: confirm_bulk(studio, p, h, s, *a), bulked),
                      inputs=[pending, include_hand, selected] + filters)
    cancel_btn.click(**C.wire(cancel_bulk, {"confirm_box": confirm_box, "pending": pending, "msg": msg}))
    undo_btn_bulk.click(**C.wire(lambda b, s, *a: undo_bulk(studio, b, s, *a), bulked),
                        inputs=[undo_pick, selected] + filters)
    group_apply.click(**C.wire(lambda act, s, gp, *a: group_action(studio, act, s, gp, *a), {**bulked, **grouped}),
                      inputs=[group_act, selected, gpage] + filters)

    def view_at(page_of):
        return C.wire(lambda *a: gallery_view(studio, *a[:-1], page_of(a[-1])), view)

    def groups_at(page_of):
        return C.wire(lambda *a: groups_view(studio, *a[:-1], page_of(a[-1])), grouped)

    first, gfirst = view_at(lambda _: 1), groups_at(lambda _: 1)
    for comp in (status, sid, kind, method, source, condition, sort):
        comp.input(**first, inputs=filters).then(**gfirst, inputs=gfilters)
    for comp in (smin, smax):
        comp.release(**first, inputs=filters).then(**gfirst, inputs=gfilters)
    text.submit(**first, inputs=filters).then(**gfirst, inputs=gfilters)
    page.submit(**view_at(lambda p: p), inputs=filters)
    prev_btn.click(**view_at(lambda p: (C.as_int(p) or 1) - 1), inputs=filters)
    next_btn.click(**view_at(lambda p: (C.as_int(p) or 1) + 1), inputs=filters)
    groups_tab.select(**groups_at(lambda p: p), inputs=gfilters)
    gpage.submit(**groups_at(lambda p: p), inputs=gfilters)
    gprev.click(**groups_at(lambda p: (C.as_int(p) or 1) - 1), inputs=gfilters)
    gnext.click(**groups_at(lambda p: (C.as_int(p) or 1) + 1), inputs=gfilters)
    chosen = {"sid": sid, "kind": kind, "source_seq": source, "condition": condition}
    dataset.input(**C.wire(lambda *a: on_dataset(studio, *a),
                           {**view, "counts": counts, **chosen, "selected": selected, **detail, "v_sig": v_sig,
                            **logged}), inputs=filters)
    return {"filters": filters, "counts": counts, **chosen, **view, "v_sig": v_sig, **logged}
