"""The DLCR chain as an augmentation job: parse -> describe -> summarise -> inpaint -> re-silhouette
-> align -> score -> variant folders, with a model-free stand-in for every model-backed stage.

Every stage is either a model (a local folder or cached hub id, loaded once per job through
:mod:`core.dlcr`) or a labelled fallback (:mod:`core.augment.fallbacks`). Variants enter training
as real sequences do: their silhouettes are re-extracted from the *generated colour frames* with a
silhouette backend and aligned with the dataset's own alignment, so a coat that widens the
outline, or an inpainting that spills over it, shows in the silhouettes a gait model learns from.

Rules that hold whatever the stages (docs/contracts.md, "DLCR stages" and "Leakage"):

* only training sequences are augmented, and outfits come only from *other training* identities;
* one (prompt, seed) per (sequence, variant): every frame of a variant wears the same outfit;
* each variant folder is written atomically and a rerun reuses every finished ``variant.json``;
* cancellation is checked between sequences and between inpainting batches (JobCancelled); what
  is finished stays, nothing half-written is left.
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core.atomic import write_json
from core.augment import fallbacks as fb
from core.augment.rgb_source import RGBSequence, groundtruth_of, has_rgb, load_rgb_sequence, no_rgb_reason
from core.augment.score import LABEL as CONSISTENCY_LABEL, consistency_score
from core.convert.align import METHODS as ALIGN_METHODS, align
from core.errors import ConfigError, InputError, JobCancelled
from core.indices import spread_indices
from core.dlcr.describe import person_crop
from core.imaging import side_by_side, stack_rows
from core.layout import gei_path, read_frames, read_manifest
from core.augment.options import ChainOptions
from core.records import Sequence
from core.seeding import stable_seed
from core.variants import VariantRecord, is_finished, read_variant, update_record, write_variant

METHOD_MODEL_FREE = "model-free"
METHOD_INPAINT = "sd-inpaint"
DISCRIMINATOR_LABEL = ("discriminator: realism (small CNN trained on this job's real vs generated frames) and "
                       "identity (GEI distance to the source vs other training identities)")
STATE_DIR = ".chain"
SAMPLES = 6          # frames per variant kept (as person crops) for the discriminator
CROP = (64, 32)      # (height, width) of those crops: the discriminator's input size




def model_free_name(source_seq: str, kind: str, index: int) -> str:
    return f"{source_seq}__aug-mf{index}-{kind}"


def inpaint_name(source_seq: str, index: int) -> str:
    return f"{source_seq}__dlcr-{index}"


# ------------------------------------------------------------------------------------ model stages

class Stages:
    """Model-backed stages, each loaded at most once per job (on first use) and released when done."""

    def __init__(self, options: ChainOptions, log: Callable[[str], None] | None = None):
        self.o = options
        self.log = log or (lambda msg: None)
        self._loaded: dict[str, Any] = {}
        self.loads: dict[str, int] = {}

    def _get(self, role: str, build: Callable[[], Any]) -> Any:
        if role not in self._loaded:
            t0 = time.perf_counter()
            self.log(f"loading the {role} model")
            self._loaded[role] = build()
            self.loads[role] = self.loads.get(role, 0) + 1
            self.log(f"{role} model loaded in {time.perf_counter() - t0:.1f} s")
        return self._loaded[role]

    def parser(self):
        from core.dlcr.parsing import HumanParser, ParsingConfig

        return self._get("parsing", lambda: HumanParser(self.o.parsing, device=self.o.device, dtype=self.o.dtype,
                                                        config=ParsingConfig(batch_size=self.o.batch_size)))

    def describer(self):
        from core.dlcr.describe import ClothingDescriber, GenerateOptions

        cfg = GenerateOptions(max_new_tokens=self.o.max_new_tokens, batch_size=self.o.batch_size, seed=self.o.seed)
        return self._get("describe", lambda: ClothingDescriber(self.o.describe, device=self.o.device,
                                                               dtype=self.o.dtype, config=cfg))

    def summarizer(self):
        from core.dlcr.summarize import GarmentSummarizer, SummaryConfig

        cfg = SummaryConfig(batch_size=self.o.batch_size, seed=self.o.seed)
        return self._get("summarize", lambda: GarmentSummarizer(self.o.summarize, device=self.o.device,
                                                                dtype=self.o.dtype, config=cfg))

    def inpainter(self):
        from core.dlcr.inpaint import InpaintConfig, Inpainter

        cfg = InpaintConfig(steps=self.o.steps, guidance=self.o.guidance, strength=self.o.strength,
                            batch_size=self.o.batch_size, height=self.o.height, width=self.o.width, sdxl=self.o.sdxl)
        if self.o.guidance_weight:
            if "guidance_weight" not in InpaintConfig.__dataclass_fields__:
                raise ConfigError("this version of core.dlcr.inpaint has no discriminator guidance")
            cfg.guidance_weight = float(self.o.guidance_weight)
            cfg.discriminator = self.o.guidance_discriminator
        return self._get("inpaint", lambda: Inpainter(self.o.inpaint, device=self.o.device, dtype=self.o.dtype,
                                                      config=cfg))

    def segmenter(self, model: str):
        from core.silhouette import make_silhouette_backend

        return self._get(f"silhouette:{model}", lambda: make_silhouette_backend("segmentation", model=model))

    def release(self, *roles: str) -> None:
        """Free models no later stage needs (a 7B describer should not sit beside the inpainter)."""
        freed = [r for r in roles if self._loaded.pop(r, None) is not None]
        if freed:
            gc.collect()
            try:
                import torch
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except ImportError:   # pragma: no cover - torch is installed wherever models load
                pass


# ------------------------------------------------------------------------------------ sequences

def _choose(manifest: dict, root: Path, o: ChainOptions) -> tuple[list[dict], list[dict], list[str]]:
    """(source records, pool records one per identity, notes). Sources are training sequences, or
    the probes when ``purpose`` is 'refine'; the garment pool is always training identities."""
    split = "probe" if o.purpose == "refine" else "train"
    ok = [r for r in manifest.get("sequences", []) if not r.get("origin") and r.get("status", "ok") == "ok"]
    train = [r for r in ok if r.get("split") == split]
    if not train:
        raise InputError(root, f"the dataset has no {'probe' if split == 'probe' else 'training'} sequence to augment")
    typed = [r for r in train if not o.seq_types or r.get("seq_type") in o.seq_types]
    if not typed:
        raise InputError(root, f"no {split} sequence of type {', '.join(o.seq_types or ())}; "
                               f"types present: {', '.join(sorted({r.get('seq_type', '') for r in train}))}")
    need_gt = str(o.parsing).strip() == "groundtruth"
    usable = [r for r in typed if (groundtruth_of(r) is not None if need_gt else has_rgb(r))]
    lenders = usable if split == "train" else [
        r for r in ok if r.get("split") == "train" and (groundtruth_of(r) is not None if need_gt else has_rgb(r))]
    if not usable:
        if not any(has_rgb(r) for r in typed):
            raise InputError(root, no_rgb_reason(typed[0]))
        raise InputError(root, "no training sequence with part labels to augment; 'groundtruth' parsing needs the "
                               "synthetic set's ground-truth parts: choose parsing 'geometry' or a parsing model")
    notes = []
    if len(usable) < len(typed):
        notes.append(f"{len(typed) - len(usable)} training sequences skipped: "
                     f"{'no ground-truth parts' if need_gt else 'no colour frames'}")
    sources = [r for r in usable if not o.sids or r["sid"] in o.sids]
    if o.max_sequences:
        sources = sources[:int(o.max_sequences)]
    pool, seen = [], set()
    for r in lenders:   # every training identity may lend clothes, not only the chosen sources
        if r["sid"] not in seen:
            seen.add(r["sid"])
            pool.append(r)
    return sources, pool, notes


@dataclass
class Planned:
    index: int
    name: str
    target: Path
    kind: str        # recipe kind (model-free) or 'dlcr-inpaint'

    @property
    def done(self) -> bool:
        return is_finished(self.target)


def _plan(record: dict, vroot: Path, o: ChainOptions) -> list[Planned]:
    sid, seq = record["sid"], record["seq"]
    if o.is_model("inpaint"):
        return [Planned(k, inpaint_name(seq, k), vroot / sid / inpaint_name(seq, k), "dlcr-inpaint")
                for k in range(o.per_sequence)]
    from core.augment.modelfree import plan_variants

    # A recipe's kind depends only on the seed (colours come later from the pool), so finished
    # variants are recognised by name before any garment pool is built.
    recipes = plan_variants(o.per_sequence, seed=stable_seed(o.seed, sid, seq), kinds=list(o.kinds) if o.kinds else None)
    return [Planned(k, model_free_name(seq, r.kind, k), vroot / sid / model_free_name(seq, r.kind, k), r.kind)
            for k, r in enumerate(recipes)]


class SequenceWork:
    """One source sequence's colour frames, person masks and parsing, computed once for all its variants."""

    def __init__(self, record: dict, src: RGBSequence, person: np.ndarray, person_from: str, parsing: fb.Parsing):
        self.record = record
        self.src = src
        self.person = person            # (T, H, W) bool, raw resolution
        self.person_from = person_from
        self.parsing = parsing
        self._background: np.ndarray | None = None

    def background(self) -> np.ndarray:
        """The static camera's background, from the source frames where the person is not: outside
        the repainted clothes the generated frames *are* the source frames, so it is theirs too."""
        if self._background is None:
            self._background = fb.source_background(self.src.rgb, self.person)
        return self._background


def _person_source(record: dict, params: dict) -> str:
    """How the conversion made this sequence's silhouettes: 'groundtruth', 'bgsub' or 'segmentation:MODEL'."""
    conv = str(params.get("silhouette") or "auto")
    if conv.startswith("segmentation:"):
        return conv
    by_bgsub = conv == "bgsub" or (conv == "auto" and record.get("media") in ("video", "rgb"))
    return "groundtruth" if groundtruth_of(record) is not None and not by_bgsub else "bgsub"


def _person_masks(src: RGBSequence, how: str, stages: Stages) -> np.ndarray:
    """The source's person masks at full resolution, made the way the conversion made its
    silhouettes, so a variant's unchanged pixels keep exactly the real sequence's outline."""
    if how == "groundtruth":
        return src.parts > 0
    if how.startswith("segmentation:"):
        return stages.segmenter(how.partition(":")[2]).masks(src.rgb) > 0
    from core.silhouette.bgsub import BackgroundSubtraction

    return BackgroundSubtraction().masks(src.rgb) > 0


def _parse(src: RGBSequence, person: np.ndarray, o: ChainOptions, stages: Stages,
           should_stop: Callable[[], bool] | None) -> fb.Parsing:
    how = str(o.parsing).strip()
    if how == "groundtruth":
        if src.parts is None:
            raise InputError(src.path, "no ground-truth parts for 'groundtruth' parsing")
        return fb.from_parts(src.parts, "groundtruth")
    if how == "geometry":
        p = fb.parse_geometry(person, src.keypoints)
        p.detail["keypoints_from"] = src.keypoints_from
        return p
    parser = stages.parser()
    parsed = parser.parse(src.rgb, should_stop=should_stop)
    return fb.Parsing(parts=parsed.parts, clothes_mask=parsed.clothes_mask, method="model",
                      detail={"model_id": parser.provenance.get("model_id"),
                              "clothes_labels": parser.provenance.get("clothes_labels")})


def _load_work(root: Path, record: dict, params: dict, o: ChainOptions, stages: Stages,
               should_stop, sample: int | None = None) -> SequenceWork:
    """Frames, person masks and parsing of one sequence; ``sample`` keeps that many evenly spread frames."""
    person_from = _person_source(record, params)
    # Background subtraction needs the whole sequence to see the background; ground truth does not.
    whole = person_from != "groundtruth"
    src = load_rgb_sequence(root, record, params, sample=None if whole else sample)
    person = _person_masks(src, person_from, stages)
    if whole and sample is not None:
        keep = spread_indices(len(src), sample)
        src = RGBSequence(rgb=src.rgb[keep], names=[src.names[i] for i in keep], origin=src.origin, path=src.path,
                          parts=None if src.parts is None else src.parts[keep],
                          keypoints=None if src.keypoints is None else src.keypoints[keep],
                          keypoints_from=src.keypoints_from, notes=src.notes)
        person = person[keep]
    parsing = _parse(src, person, o, stages, should_stop)
    parsing.detail["person_from"] = person_from
    return SequenceWork(record, src, person, person_from, parsing)


# ------------------------------------------------------------------------------------ garment pool

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
        work = _load_work(root, r, params, o, stages, should_stop, sample=o.describe_frames)
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


# ------------------------------------------------------------------------------------ generation

@dataclass
class Generated:
    rgb: np.ndarray                      # (T, H, W, 3) generated colour frames
    outline: np.ndarray                  # (T, H, W) bool: the outline the generator itself knows
    fields: dict[str, Any] = field(default_factory=dict)   # record fields of this generator
    guidance_strip: np.ndarray | None = None   # source | unguided | guided, when guidance is on


def _model_free(work: SequenceWork, planned: Planned, pool: dict, o: ChainOptions) -> Generated:
    from core.augment.modelfree import apply_recipe, plan_variants

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


def _inpaint(work: SequenceWork, planned: Planned, outfit, o: ChainOptions, stages: Stages,
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


def _samples(frames: np.ndarray, masks: np.ndarray, idx: list[int]) -> np.ndarray:
    h, w = CROP
    out = [cv2.resize(person_crop(frames[i], masks[i] > 0), (w, h), interpolation=cv2.INTER_AREA) for i in idx]
    return np.stack(out) if out else np.zeros((0, h, w, 3), np.uint8)


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
    samples = {"real": _samples(src, work.person, pick), "fake": _samples(gen.rgb, masks, pick)}
    return write_variant(rec, silhouettes=aligned, compare=strip, thumb=gen.rgb[mid],
                         rgb=gen.rgb if keep_rgb else None, guidance=gen.guidance_strip, animation=gen.rgb,
                         samples=samples)


def _make_variant(work: SequenceWork, planned: Planned, gen: Generated, resil, stages: Stages, o: ChainOptions,
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


# ------------------------------------------------------------------------------------ discriminator

def _gei_vector(path: Path) -> np.ndarray | None:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return None if img is None else img.astype(np.float32).ravel() / 255.0


def score_with_discriminator(records: list[dict], root: Path, manifest: dict, o: ChainOptions, *,
                             should_stop=None, progress=None) -> dict:
    """Realism + identity scores for ``records`` (updated in place and in their variant.json).

    Realism: a small CNN trained on real vs generated person crops of this job, in two folds by
    identity so no variant is scored by a net that saw it (in-sample, and said so, when one fold
    would be too small). Identity: the GEI of the variant against its source's, ranked among the
    GEIs of the other training identities (model-free; a trained gait model can replace it).
    """
    from core.dlcr.discriminator import DiscriminatorConfig, VariantDiscriminator, identity_score

    items = []
    for rec in records:
        f = Path(rec["path"]) / "samples.npz"
        if f.is_file():
            with np.load(f, allow_pickle=False) as z:
                items.append((rec, z["real"], z["fake"]))
    if not items:
        return {"trained": False, "reason": "no variant carries samples.npz (made by an older version)"}
    sids = sorted({rec["sid"] for rec, _, _ in items})
    folds = [[s for i, s in enumerate(sids) if i % 2 == k] for k in (0, 1)]

    def frames(part: list[tuple], which: int) -> np.ndarray:
        seen, out = set(), []
        for rec, real, fake in part:
            if which == 1:
                key = (rec["sid"], rec["source_seq"])   # several variants share their source's real frames
                if key in seen:
                    continue
                seen.add(key)
            out.append(real if which == 1 else fake)
        return np.concatenate(out) if out else np.zeros((0, *CROP, 3), np.uint8)

    plans = []
    if all(folds):
        for k in (0, 1):
            train = [it for it in items if it[0]["sid"] not in folds[k]]
            test = [it for it in items if it[0]["sid"] in folds[k]]
            plans.append((train, test))
    ok = plans and all(len(frames(tr, 1)) >= 2 and len(frames(tr, 0)) >= 2 for tr, _ in plans)
    scheme = "held-out fold (2 folds by identity)"
    if not ok:
        plans, scheme = [(items, items)], "in-sample (too few identities for held-out folds)"
        if len(frames(items, 1)) < 2 or len(frames(items, 0)) < 2:
            return {"trained": False, "reason": "fewer than 2 real or 2 generated frames to train on"}
    # Identity references: one GEI per *other* training identity, from the layout.
    geis: dict[str, list[np.ndarray]] = {}
    for r in manifest.get("sequences", []):
        if r.get("split") == "train" and not r.get("origin"):
            v = _gei_vector(gei_path(root, Sequence.from_dict(r)))
            if v is not None:
                geis.setdefault(r["sid"], []).append(v)
    metrics = []
    cfg = DiscriminatorConfig(seed=o.seed, height=CROP[0], width=CROP[1])
    for n, (train, test) in enumerate(plans):
        disc = VariantDiscriminator(cfg, device=o.device)
        metrics.append(disc.fit(frames(train, 1), frames(train, 0), should_stop=should_stop))
        for rec, _, fake in test:
            var_gei = _gei_vector(Path(rec["path"]) / "gei.png")
            src_gei = _gei_vector(gei_path(root, Sequence(sid=rec["sid"], seq=rec["source_seq"])))
            ident = None
            if var_gei is not None and src_gei is not None and var_gei.shape == src_gei.shape:
                refs = [g for s, gs in geis.items() if s != rec["sid"] for g in gs if g.shape == src_gei.shape]
                ident, _ = identity_score(src_gei, var_gei, refs or None)
            realism = float(disc.realism(fake).mean()) if len(fake) else 0.0
            w = cfg.weight_realism
            combined = realism if ident is None else w * realism + (1 - w) * ident
            rec["scores"] = {**rec.get("scores", {}), "realism": round(realism, 4),
                             "identity": None if ident is None else round(float(ident), 4),
                             "combined": round(float(combined), 4)}
            rec["score"] = round(float(np.clip(combined, 0, 1)), 4)
            rec["score_kind"] = DISCRIMINATOR_LABEL
            rec.setdefault("models", {})["discriminator"] = {
                "role": "discriminator", "model_free": False, "trained_on": "this job's frames", "scheme": scheme,
                "fold": n, "config": {k: v for k, v in asdict(cfg).items() if k != "channels"},
                "metrics": {k: v for k, v in metrics[-1].items() if k != "loss"},
                "identity": "GEI distance vs other training identities (model-free)"}
            update_record(rec)
        if progress:
            progress(n + 1, len(plans), f"discriminator: scored fold {n + 1}/{len(plans)}")
    return {"trained": True, "scheme": scheme, "folds": len(plans),
            "val_accuracy": [m.get("val_accuracy") for m in metrics], "variants": len(items)}


# ------------------------------------------------------------------------------------ the job

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
    sources, pool_records, notes = _choose(manifest, root, o)
    train_ids = {r["sid"] for r in manifest["sequences"] if r.get("split") == "train"}
    stages = Stages(o, log)
    plans = {(r["sid"], r["seq"]): _plan(r, vroot, o) for r in sources}
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
            work = _load_work(root, r, params, o, stages, should_stop)
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
                    gen = _inpaint(work, p, outfits[p.index], o, stages, should_stop, step)
                    models["inpaint"] = stages.inpainter().provenance
                else:
                    gen = _model_free(work, p, pool, o)
                if work.parsing.method == "model":
                    models["parsing"] = stages.parser().provenance
                try:
                    rec = _make_variant(work, p, gen, resil, stages, o, original, align_method, size, models,
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
