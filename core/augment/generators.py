"""The DLCR chain's two generators of a variant's colour frames: model-free part edits
(:mod:`core.augment.modelfree`) or diffusion inpainting of the clothes (:mod:`core.dlcr.inpaint`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.augment import fallbacks as fb
from core.augment.options import ChainOptions
from core.augment.sources import Planned, SequenceWork
from core.augment.stages import Stages
from core.errors import ConfigError
from core.seeding import stable_seed


METHOD_MODEL_FREE = "model-free"
METHOD_INPAINT = "sd-inpaint"


@dataclass
class Generated:
    rgb: np.ndarray                      # (T, H, W, 3) generated colour frames
    outline: np.ndarray                  # (T, H, W) bool: the outline the generator itself knows
    fields: dict[str, Any] = field(default_factory=dict)   # record fields of this generator
    guidance_strip: np.ndarray | None = None   # source | unguided | guided, when guidance is on


def generate_model_free(work: SequenceWork, planned: Planned, pool: dict, o: ChainOptions) -> Generated:
    from core.augment.modelfree import apply_recipe
    from core.augment.recipes import plan_variants

    sid, seq = work.record["sid"], work.record["seq"]
    colours = {s: e["colour_description"]["colours"] for s, e in pool["entries"].items()}
    recipes = plan_variants(o.per_sequence, seed=stable_seed(o.seed, sid, seq),
                            kinds=list(o.kinds) if o.kinds else None, garment_pool=fb.colour_pool(colours, sid))
    recipe = recipes[planned.index]
    if recipe.kind != planned.kind:   # the plan and the recipes come from one seed; guard the invariant
        raise ConfigError(f"{sid}/{seq}: recipe {planned.index} is a {recipe.kind}, planned as {planned.kind}")
    var = apply_recipe(work.src.rgb, work.parsing.parts, recipe, keypoints=work.src.keypoints)
    donors = sorted(s for s in colours if s != sid)
    return Generated(var.rgb, var.silhouettes > 0, {
        "method": METHOD_MODEL_FREE, "recipe": recipe.to_dict(), "description": recipe.describe(),
        "seed": int(recipe.seed), "prompt": None, "garment_pool_ids": donors,
        "garments": [{"slot": g, "colour": list(c)} for g, c in recipe.colours.items()]})


def generate_inpaint(work: SequenceWork, planned: Planned, outfit, o: ChainOptions, stages: Stages,
             should_stop, progress_frames) -> Generated:
    inpainter = stages.inpainter()
    masks = work.parsing.clothes_mask
    if o.mask_to_person:
        from core.augment.modelfree import person_height

        grow = max(2, int(round(0.04 * person_height(work.person))))
        masks = masks & fb.dilate(work.person, grow)
    res = inpainter.inpaint_sequence(work.src.rgb, masks, outfit, source_id=work.record["sid"],
                                     seq=work.record["seq"], should_stop=should_stop, progress=progress_frames)
    rec = dict(res.record)
    rec.pop("model", None)
    strip = None
    if rec.get("guidance_weight"):
        # The workbench shows the same source with and without guidance: one frame again, same seed
        # and prompt, unguided (batch position changes a pixel by at most 2/255).
        from core.dlcr.guidance import comparison_strip, pick_preview_frame

        i = pick_preview_frame(res.masks)
        plain = inpainter.inpaint_sequence(work.src.rgb[i:i + 1], masks[i:i + 1], outfit, source_id=work.record["sid"],
                                           seq=work.record["seq"], should_stop=should_stop, guidance_weight=0.0)
        strip = comparison_strip(work.src.rgb[i], plain.frames[0], res.frames[i], weight=rec["guidance_weight"])
    recipe = {"kind": "dlcr-inpaint", **{k: rec[k] for k in (
        "prompt", "negative_prompt", "seed", "steps", "guidance", "strength", "height", "width", "mask_dilate_px",
        "crop_margin", "donors", "garments", "guidance_weight", "guidance_t_min", "discriminator",
        "discriminator_sha1") if k in rec}, "mask_to_person": bool(o.mask_to_person)}
    from core.dlcr.prompts import Garment

    description = ", ".join(Garment.from_dict(g).phrase() for g in rec["garments"])
    return Generated(res.frames, work.person, {
        "method": METHOD_INPAINT, "recipe": recipe, "description": description, "seed": int(rec["seed"]),
        "prompt": rec["prompt"], "negative_prompt": rec["negative_prompt"], "steps": rec["steps"],
        "guidance": rec["guidance"], "strength": rec["strength"], "donors": rec["donors"],
        "garments": rec["garments"], "frames_repainted": rec["frames_repainted"],
        "inpaint_seconds": rec["seconds"], "canvas": [rec["height"], rec["width"]]}, guidance_strip=strip)
