"""The DLCR chain's garment pool: per training identity, the garments it wears and their colours.

Only training identities lend clothes ("Leakage" in docs/contracts.md). The pool is cached in
``<variants>/.chain/pool.json`` under the options that made it, so a resumed job neither reloads
the describer nor asks it again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import write_json
from core.augment import fallbacks as fb
from core.augment.options import ChainOptions
from core.augment.sources import load_work
from core.augment.stages import Stages
from core.dlcr.describe import person_crop
from core.errors import JobCancelled


STATE_DIR = ".chain"


def _pool_key(pool_records: list[dict], o: ChainOptions) -> dict:
    return {"parsing": o.parsing, "describe": o.describe, "summarize": o.summarize,
            "describe_frames": o.describe_frames, "max_new_tokens": o.max_new_tokens, "seed": o.seed,
            "sequences": [[r["sid"], r["seq"]] for r in pool_records]}


def build_pool(root: Path, params: dict, pool_records: list[dict], o: ChainOptions, stages: Stages,
               vroot: Path, *, progress=None, should_stop=None) -> dict:
    """Per training identity: the garments it wears (for other identities' prompts) and their colours.

    Cached in ``<variants>/.chain/pool.json`` under the options that made it, so a resumed job
    neither reloads the describer nor asks it again.
    """
    cache = vroot / STATE_DIR / "pool.json"
    key = _pool_key(pool_records, o)
    if cache.is_file():
        try:
            saved = json.loads(cache.read_text())
        except json.JSONDecodeError:
            saved = {}
        if saved.get("key") == key:
            saved["reused"] = True
            return saved
    entries: dict[str, dict] = {}
    images: dict[str, list[np.ndarray]] = {}
    n = len(pool_records)
    for j, r in enumerate(pool_records):
        if should_stop and should_stop():
            raise JobCancelled(f"garment pool stopped after {j} of {n} identities; nothing was written")
        if progress:
            progress(0, 1, f"garment pool: describing identity {r['sid']} ({j + 1}/{n})")
        work = load_work(root, r, params, o, stages, should_stop, sample=o.describe_frames)
        rgb, parts = work.src.rgb, work.parsing.parts
        colours = fb.describe_colours(rgb, parts)
        entries[r["sid"]] = {"sid": r["sid"], "seq": r["seq"], "frames": list(work.src.names),
                             "colour_description": colours.to_dict(), "descriptions": [colours.text],
                             "garments": list(colours.garments), "garments_from": "colour", "problems": []}
        if o.is_model("describe"):
            images[r["sid"]] = [person_crop(rgb[i], parts[i] > 0) for i in range(len(rgb))]
    models: dict[str, Any] = {
        "parsing": _parsing_provenance(o, stages),
        "describe": fb.stage_provenance("describe", "colour", fb.COLOUR_LABEL),
        "summarize": fb.stage_provenance("summarize", "none", "descriptions used as they are (no language model)"),
    }
    if o.is_model("describe"):
        describer = stages.describer()
        models["describe"] = describer.provenance
        for j, (sid, ims) in enumerate(images.items()):
            texts = describer.describe(ims, should_stop=should_stop)
            entries[sid]["descriptions"] = texts
            if progress:
                progress(0, 1, f"garment pool: described {j + 1}/{len(images)} identities")
    if o.is_model("summarize"):
        summarizer = stages.summarizer()
        models["summarize"] = summarizer.provenance
        summaries = summarizer.summarize({sid: e["descriptions"] for sid, e in entries.items()},
                                         should_stop=should_stop)
        for sid, s in summaries.items():
            entries[sid]["summary"] = s.to_dict()
            entries[sid]["problems"] += list(s.problems)
            if s.garments:
                entries[sid]["garments"] = [g.to_dict() for g in s.garments]
                entries[sid]["garments_from"] = "llm" if s.source == "llm" else "descriptions"
    elif o.is_model("describe"):
        from core.dlcr.summarize import parse_garments

        for e in entries.values():
            found, problems = parse_garments("\n".join(e["descriptions"]))
            e["problems"] += problems
            if found:
                e["garments"] = [g.to_dict() for g in found]
                e["garments_from"] = "descriptions"
    for e in entries.values():
        if (o.is_model("describe") or o.is_model("summarize")) and e["garments_from"] == "colour":
            # The models named no garment we can read (random or unsuitable weights): say so and
            # fall back to the measured colours rather than dropping the identity from the pool.
            e["garments_from"] = "colour (the models' text named no garment)"
    stages.release("describe", "summarize")
    pool = {"key": key, "entries": entries, "models": models, "reused": False}
    write_json(cache, pool)
    return pool


def _parsing_provenance(o: ChainOptions, stages: Stages) -> dict:
    how = str(o.parsing).strip()
    if how == "groundtruth":
        return fb.stage_provenance("parsing", "groundtruth", fb.GROUNDTRUTH_LABEL)
    if how == "geometry":
        return fb.stage_provenance("parsing", "geometry", fb.GEOMETRY_LABEL)
    return stages.parser().provenance
