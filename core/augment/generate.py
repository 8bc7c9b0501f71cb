"""Generate clothing variants of training sequences and record them in the catalog.

This first generator is model-free (recolour, re-texture, coat shape edit on the part labels of
the synthetic set) and says so in every record's ``method``. Variants draw garment colours only
from *other training* identities, so nothing from test identities leaks into training.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from core.atomic import atomic_dir, write_json
from core.augment.score import LABEL as SCORE_LABEL, consistency_score
from core.convert.align import align, gait_energy_image
from core.errors import InputError, JobCancelled
from core.layout import read_frames, read_manifest
from core.parts import LOWER, UPPER
from core.records import Sequence

METHOD = "model-free"


@dataclass
class AugmentOptions:
    per_sequence: int = 2
    seq_types: tuple[str, ...] = ("nm-01",)
    sids: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    seed: int = 0
    max_sequences: int | None = None


def _seed_for(*parts: object) -> int:
    return int.from_bytes(hashlib.sha1("|".join(map(str, parts)).encode()).digest()[:4], "little")


def variant_name(source_seq: str, kind: str, index: int) -> str:
    return f"{source_seq}__aug-mf{index}-{kind}"


def candidate_sources(dataset_root: Path, options: AugmentOptions) -> list[tuple[Sequence, Path]]:
    """Training sequences that have the part labels the model-free generator needs."""
    manifest = read_manifest(dataset_root)
    out = []
    for rec in manifest["sequences"]:
        if rec["split"] != "train" or rec.get("origin"):
            continue
        if options.seq_types and rec["seq_type"] not in options.seq_types:
            continue
        if options.sids and rec["sid"] not in options.sids:
            continue
        gt = rec.get("groundtruth")
        if gt and Path(gt).is_file():
            out.append((Sequence.from_dict(rec), Path(gt)))
    return out[:options.max_sequences] if options.max_sequences else out


def garment_pool(sources: list[tuple[Sequence, Path]]) -> dict[str, list[tuple[int, tuple[int, int, int]]]]:
    """Per identity, the garment colours of every *other* training identity (DLCR's outfit swap)."""
    by_sid: dict[str, list[tuple[int, tuple[int, int, int]]]] = {}
    seen: set[str] = set()
    for seq, gt in sources:
        if seq.sid in seen:
            continue
        seen.add(seq.sid)
        with np.load(gt, allow_pickle=False) as z:
            pal = z["palette"]
        by_sid[seq.sid] = [(UPPER, tuple(int(c) for c in pal[UPPER])), (LOWER, tuple(int(c) for c in pal[LOWER]))]
    return {sid: [c for other, cols in by_sid.items() if other != sid for c in cols] for sid in by_sid}


def generate_variants(dataset_root: str | Path, variants_root: str | Path, options: AugmentOptions, *,
                      align_method: str = "opengait",
                      on_variant: Callable[[dict], None] | None = None,
                      progress: Callable[[int, int, str], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> dict:
    from core.augment.modelfree import apply_recipe, plan_variants
    from core.augment.previews import side_by_side, write_animation, write_thumbnail
    from core.demo.groundtruth import load_groundtruth

    dataset_root, variants_root = Path(dataset_root), Path(variants_root)
    sources = candidate_sources(dataset_root, options)
    if not sources:
        raise InputError(dataset_root, "no training sequence with part labels to augment; the model-free generator "
                                       "needs the synthetic set's ground-truth parts (model-backed parsing comes later)")
    pools = garment_pool(sources)
    made = 0
    for i, (seq, gt_path) in enumerate(sources):
        if should_stop and should_stop():
            raise JobCancelled(f"augmentation stopped after {i} of {len(sources)} sequences; finished variants are kept")
        gt = load_groundtruth(gt_path)
        rgb = gt.rgb_all()
        recipes = plan_variants(options.per_sequence, seed=_seed_for(options.seed, seq.sid, seq.seq),
                                kinds=list(options.kinds) if options.kinds else None, garment_pool=pools.get(seq.sid))
        original_aligned = read_frames(dataset_root, seq)
        for k, recipe in enumerate(recipes):
            name = variant_name(seq.seq, recipe.kind, k)
            target = variants_root / seq.sid / name
            if (target / "variant.json").is_file():
                rec = json.loads((target / "variant.json").read_text())
            else:
                rec = _write_variant(target, seq, name, recipe, rgb, gt, original_aligned, align_method,
                                     side_by_side, write_animation, write_thumbnail, apply_recipe)
            made += 1
            if on_variant:
                on_variant(rec)
        if progress:
            progress(i + 1, len(sources), f"{seq.sid}/{seq.seq}: {len(recipes)} variants")
    return {"sources": len(sources), "variants": made, "method": METHOD}


def _write_variant(target, seq, name, recipe, rgb, gt, original_aligned, align_method,
                   side_by_side, write_animation, write_thumbnail, apply_recipe) -> dict:
    var = apply_recipe(rgb, gt.parts, recipe, keypoints=gt.keypoints)
    aligned = [a for a, _ in (align(s, align_method) for s in var.silhouettes) if a is not None]
    if not aligned:
        raise InputError(target, "variant has no usable silhouette frame")
    aligned = np.stack(aligned)
    mid = len(rgb) // 2
    with atomic_dir(target) as tmp:
        frames_dir = tmp / "frames"
        frames_dir.mkdir()
        for j, fr in enumerate(aligned):
            cv2.imwrite(str(frames_dir / f"{j:05d}.png"), fr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        strip = side_by_side([rgb[mid], var.rgb[mid], original_aligned[min(mid, len(original_aligned) - 1)],
                              aligned[min(mid, len(aligned) - 1)]],
                             ["original", "variant", "orig. silhouette", "variant silhouette"])
        write_thumbnail(tmp / "compare.jpg", strip, max_side=720)
        write_thumbnail(tmp / "thumb.jpg", var.rgb[mid], max_side=200)
        write_animation(tmp / "variant.gif", var.rgb, fps=12, max_side=160)
        cv2.imwrite(str(tmp / "gei.png"), gait_energy_image(aligned))
        rec = {"name": name, "sid": seq.sid, "source_seq": seq.seq, "method": METHOD, "recipe": recipe.to_dict(),
               "description": recipe.describe(), "seed": int(recipe.seed), "frames": int(len(aligned)),
               "path": str(target), "thumb": str(target / "thumb.jpg"), "compare": str(target / "compare.jpg"),
               "score": round(consistency_score(aligned, original_aligned), 4), "score_kind": SCORE_LABEL}
        write_json(tmp / "variant.json", rec)
    return rec
