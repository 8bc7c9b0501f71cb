"""Re-silhouetting and assembling a generated variant: its silhouettes are re-extracted from the
*generated colour frames* and aligned with the dataset's own alignment, so a coat that widens the
outline, or an inpainting that spills over it, shows in the silhouettes a gait model learns from.
The variant folder itself is written by :func:`core.variants.write_variant`.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from core.augment import fallbacks as fb
from core.augment.discriminate import SAMPLES, person_samples
from core.augment.generators import METHOD_INPAINT, METHOD_MODEL_FREE, Generated
from core.augment.options import ChainOptions
from core.augment.score import LABEL as CONSISTENCY_LABEL, consistency_score
from core.augment.sources import Planned, SequenceWork
from core.augment.stages import Stages
from core.convert.align import align
from core.errors import InputError
from core.imaging import side_by_side, stack_rows
from core.indices import spread_indices
from core.variants import VariantRecord, write_variant


def _resilhouette(gen: Generated, work: SequenceWork, resil: tuple[str, str | None], stages: Stages
                  ) -> tuple[np.ndarray, dict]:
    name, model = resil
    if name == "groundtruth-outline":
        if gen.fields["method"] == METHOD_MODEL_FREE:
            label = f"outline of the edited part map ({work.parsing.method} parts, no model)"
        else:
            label = f"the source's outline kept as it is ({work.person_from}); garment shape changes are not seen"
        return gen.outline.astype(np.uint8) * np.uint8(255), {"method": "groundtruth-outline", "label": label}
    if name == "segmentation":
        backend = stages.segmenter(model)
        return backend.masks(gen.rgb), {"method": f"segmentation:{model}", "label": backend.label}
    from core.silhouette.bgsub import BackgroundSubtraction

    # Pixels the generator left alone keep the source's silhouette (how the real sequence was
    # extracted); changed pixels are foreground where they differ from the background.
    backend = BackgroundSubtraction(background_image=work.background())
    detected = backend.masks(gen.rgb) > 0
    changed = fb.changed_pixels(gen.rgb, work.src.rgb)
    merged = np.where(changed, detected, work.person).astype(np.uint8) * np.uint8(255)
    # Close seams where the two sources meet, but only there: the real silhouette stays as it was.
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    closed = np.stack([cv2.morphologyEx(f, cv2.MORPH_CLOSE, close) for f in merged])
    sil = np.where(changed, closed, merged)
    return sil, {"method": "bgsub", "label": backend.label + "; background from the source frames without the "
                 f"person; unchanged pixels keep the source silhouette ({work.person_from})",
                 "changed_fraction": round(float(changed.mean()), 4)}


def _write_variant(rec: VariantRecord, work: SequenceWork, gen: Generated, masks: np.ndarray,
                   aligned: np.ndarray, original: np.ndarray, keep_rgb: bool) -> VariantRecord:
    src = work.src.rgb
    mid = len(src) // 2
    pick = spread_indices(len(src), SAMPLES)
    strip = side_by_side([src[mid], gen.rgb[mid], original[min(mid, len(original) - 1)],
                          aligned[min(mid, len(aligned) - 1)]],
                         ["original", "variant", "orig. silhouette", "variant silhouette"])
    if gen.guidance_strip is not None:   # shown under the comparison in the workbench
        strip = stack_rows([strip, side_by_side([gen.guidance_strip], height=strip.shape[0])])
    # Person crops of a few real and generated frames: what the discriminator learns from,
    # kept so a later job can score this variant without generating it again.
    samples = {"real": person_samples(src, work.person, pick), "fake": person_samples(gen.rgb, masks, pick)}
    return write_variant(rec, silhouettes=aligned, compare=strip, thumb=gen.rgb[mid],
                         rgb=gen.rgb if keep_rgb else None, guidance=gen.guidance_strip, animation=gen.rgb,
                         samples=samples)


def make_variant(work: SequenceWork, planned: Planned, gen: Generated, resil, stages: Stages, o: ChainOptions,
                  original: np.ndarray, align_method: str, size: int, models: dict, pool_ids: list[str]) -> dict:
    masks, sil_info = _resilhouette(gen, work, resil, stages)
    aligned, dropped = [], 0
    for m in masks:
        a, _ = align(m, align_method, size)
        if a is None:
            dropped += 1
        else:
            aligned.append(a)
    if not aligned:
        raise InputError(planned.target, f"no usable silhouette in the generated frames "
                                         f"({sil_info['method']} found no person in any of {len(masks)} frames)")
    aligned = np.stack(aligned)
    target = planned.target
    stage_models = {**models, "silhouette": {"role": "silhouette", "model_free": not sil_info["method"].startswith(
        "segmentation"), **sil_info}}
    if gen.fields["method"] == METHOD_MODEL_FREE:
        stage_models["inpaint"] = fb.stage_provenance("inpaint", "model-free",
                                                      "recolour / retexture / coat / skirt edits of the parsed "
                                                      "parts (core.augment.modelfree)")
    consistency = round(consistency_score(aligned, original), 4)
    provenance = {k: v for k, v in gen.fields.items() if k not in ("method", "recipe", "description", "seed")}
    rec = VariantRecord.in_folder(
        target, name=planned.name, sid=work.record["sid"], source_seq=work.record["seq"],
        **{k: gen.fields[k] for k in ("method", "recipe", "description", "seed")}, frames=int(len(aligned)),
        score=consistency,
        extra={"score_kind": CONSISTENCY_LABEL, "scores": {"consistency": consistency}, **provenance,
               "models": stage_models, "parsing": {"method": work.parsing.method, **work.parsing.detail},
               "silhouette": sil_info, "alignment": {"method": align_method, "size": size, "dropped_frames": dropped},
               "rgb_from": {"origin": work.src.origin, "path": work.src.path, "frames": len(work.src),
                            "keypoints_from": work.src.keypoints_from},
               "pool_identities": pool_ids, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    if gen.fields["method"] == METHOD_INPAINT:
        # The manifest keeps only ``recipe`` when a variant is merged: name the models there too.
        rec.recipe["models"] = {k: {"model_id": v.get("model_id"), "revision": v.get("revision")}
                                for k, v in stage_models.items() if not v.get("model_free")}
    return _write_variant(rec, work, gen, masks, aligned, original, o.keep_rgb).to_dict()
