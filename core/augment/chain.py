"""The DLCR chain as an augmentation job: parse -> describe -> summarise -> inpaint -> re-silhouette
-> align -> score -> variant folders, with a model-free stand-in for every model-backed stage.

Every stage is either a model (a local folder or cached hub id, loaded once per job through
:mod:`core.dlcr`) or a labelled fallback (:mod:`core.augment.fallbacks`). Variants enter training
as real sequences do: their silhouettes are re-extracted from the *generated colour frames* with a
silhouette backend and aligned with the dataset's own alignment, so a coat that widens the
outline, or an inpainting that spills over it, shows in the silhouettes a gait model learns from.

This module runs the job; its parts each live in one module: :mod:`~core.augment.sources` (which
sequences, which variants, one sequence's inputs), :mod:`~core.augment.stages` (model loading),
:mod:`~core.augment.pool` (the garment pool), :mod:`~core.augment.generators` (model-free edits or
inpainting), :mod:`~core.augment.assemble` (re-silhouetting and the variant record) and
:mod:`~core.augment.discriminate` (discriminator scores).

Rules that hold whatever the stages (docs/contracts.md, "DLCR stages" and "Leakage"):

* only training sequences are augmented, and outfits come only from *other training* identities;
* one (prompt, seed) per (sequence, variant): every frame of a variant wears the same outfit;
* each variant folder is written atomically and a rerun reuses every finished ``variant.json``;
* cancellation is checked between sequences and between inpainting batches (JobCancelled); what
  is finished stays, nothing half-written is left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from core.augment.assemble import make_variant
from core.augment.discriminate import DISCRIMINATOR_LABEL, score_with_discriminator
from core.augment.generators import METHOD_INPAINT, METHOD_MODEL_FREE, generate_inpaint, generate_model_free
from core.augment.options import ChainOptions
from core.augment.pool import build_pool
from core.augment.score import LABEL as CONSISTENCY_LABEL
from core.augment.sources import choose_sequences, load_work, plan_sequence
from core.augment.stages import Stages
from core.convert.align import METHODS as ALIGN_METHODS
from core.errors import ConfigError, InputError, JobCancelled
from core.layout import read_frames, read_manifest
from core.records import Sequence
from core.variants import read_variant

__all__ = ["ChainOptions", "run_chain"]


def run_chain(dataset_root: str | Path, variants_root: str | Path, options: ChainOptions | None = None, *,
              align_method: str | None = None,
              on_variant: Callable[[dict], None] | None = None,
              progress: Callable[[int, int, str], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              log: Callable[[str], None] | None = None) -> dict:
    """Make ``per_sequence`` variants of each chosen training sequence; see the module docstring.

    ``on_variant`` gets every variant record (new or reused) once it is final: at once, or after
    the discriminator has scored them all when it is enabled. Returns a JSON-able summary.
    """
    o = (options or ChainOptions()).validate()
    root, vroot = Path(dataset_root), Path(variants_root)
    manifest = read_manifest(root)
    params = manifest.get("parameters") or {}
    align_method = align_method or params.get("align") or "opengait"
    if align_method not in ALIGN_METHODS:
        raise ConfigError(f"alignment {align_method!r} of {root / 'manifest.json'} is unknown")
    size = int(params.get("size") or 64)
    resil = o.resilhouette_spec()
    if resil[0] == "auto":   # the conversion's own choice, so variants match real sequences
        conv = str(params.get("silhouette") or "bgsub")
        resil = (("groundtruth-outline", None) if conv == "groundtruth" else
                 ("segmentation", conv.partition(":")[2]) if conv.startswith("segmentation:") else ("bgsub", None))
    sources, pool_records, notes = choose_sequences(manifest, root, o)
    train_ids = {r["sid"] for r in manifest["sequences"] if r.get("split") == "train"}
    stages = Stages(o, log)
    plans = {(r["sid"], r["seq"]): plan_sequence(r, vroot, o) for r in sources}
    method = METHOD_INPAINT if o.is_model("inpaint") else METHOD_MODEL_FREE
    todo = [r for r in sources if any(not p.done for p in plans[(r["sid"], r["seq"])])]
    pool = None
    if todo and resil[0] == "segmentation":
        # Loaded before anything is generated: a bad model folder fails the job here, instead of
        # inside every variant, where an unusable input is only that variant's failure.
        stages.segmenter(resil[1])
    if todo:
        pool = build_pool(root, params, pool_records, o, stages, vroot, progress=progress,
                          should_stop=should_stop)
        leaked = set(pool["entries"]) - train_ids
        if leaked:   # "Leakage" in docs/contracts.md: never dress anyone in a test identity's clothes
            raise ConfigError(f"garment pool holds non-training identities {sorted(leaked)}")
    models = dict(pool["models"]) if pool else {}
    pool_ids = sorted(pool["entries"]) if pool else []
    records, new, reused, failed = [], 0, 0, []

    def emit(rec: dict) -> None:
        records.append(rec)
        if on_variant and not o.discriminator:
            on_variant(rec)

    total = len(sources)
    for i, r in enumerate(sources):
        if should_stop and should_stop():
            raise JobCancelled(f"augmentation stopped after {i} of {total} sequences; finished variants are kept")
        sid, seq = r["sid"], r["seq"]
        planned = plans[(sid, seq)]
        missing = [p for p in planned if not p.done]
        for p in planned:
            if p.done:
                emit(read_variant(p.target).to_dict())
                reused += 1
        if missing:
            work = load_work(root, r, params, o, stages, should_stop)
            original = read_frames(root, Sequence.from_dict(r))
            outfits = None
            if method == METHOD_INPAINT:
                from core.dlcr.prompts import Garment, choose_outfits

                garments = {s: [Garment.from_dict(g) for g in e["garments"]] for s, e in pool["entries"].items()}
                outfits = choose_outfits(garments, sid, o.per_sequence, seed=o.seed, seq=seq)
            for p in missing:
                if should_stop and should_stop():
                    raise JobCancelled(f"augmentation stopped at {sid}/{seq} variant {p.index}; "
                                       f"finished variants are kept")
                if method == METHOD_INPAINT:
                    step = (lambda d, t, k=p.index: progress(i, total, f"{sid}/{seq} variant {k}: {d}/{t} frames")
                            ) if progress else None
                    gen = generate_inpaint(work, p, outfits[p.index], o, stages, should_stop, step)
                    models["inpaint"] = stages.inpainter().provenance
                else:
                    gen = generate_model_free(work, p, pool, o)
                if work.parsing.method == "model":
                    models["parsing"] = stages.parser().provenance
                try:
                    rec = make_variant(work, p, gen, resil, stages, o, original, align_method, size, models,
                                        pool_ids)
                except InputError as exc:   # one unusable variant is reported, the job goes on
                    failed.append({"name": p.name, "sid": sid, "reason": str(exc)})
                    continue
                new += 1
                emit(rec)
        if progress:
            progress(i + 1, total, f"{sid}/{seq}: {len(planned)} variants")
    disc_info = None
    score_kind = CONSISTENCY_LABEL
    if o.discriminator:
        if new == 0 and records and all(r.get("score_kind") == DISCRIMINATOR_LABEL for r in records):
            disc_info = {"trained": False, "reason": "every variant was already scored by an earlier job"}
            score_kind = DISCRIMINATOR_LABEL
        else:
            disc_info = score_with_discriminator(records, root, manifest, o, should_stop=should_stop,
                                                 progress=progress)
            score_kind = DISCRIMINATOR_LABEL if disc_info.get("trained") else CONSISTENCY_LABEL
        if on_variant:
            for rec in records:
                on_variant(rec)
    used = records[-1]["models"] if records else models
    return {"sources": total, "variants": len(records), "new": new, "reused": reused, "failed": failed,
            "method": method, "pool_identities": pool_ids, "pool_reused": bool(pool and pool.get("reused")),
            "models": {k: (v.get("model_id") or v.get("method")) for k, v in used.items()},
            "loads": dict(stages.loads), "resilhouette": resil[0] + (f":{resil[1]}" if resil[1] else ""),
            "score_kind": score_kind, "discriminator": disc_info, "notes": notes}
