"""Which sequences the DLCR chain augments, which variants each gets, and one sequence's inputs.

A source sequence is loaded once for all its variants (:class:`SequenceWork`): colour frames, person
masks made the way the conversion made its silhouettes, and the parsing into parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.augment import fallbacks as fb
from core.augment.options import ChainOptions
from core.augment.rgb_source import RGBSequence, groundtruth_of, has_rgb, load_rgb_sequence, no_rgb_reason
from core.augment.stages import Stages
from core.errors import InputError
from core.indices import spread_indices
from core.seeding import stable_seed
from core.variants import is_finished


def model_free_name(source_seq: str, kind: str, index: int) -> str:
    return f"{source_seq}__aug-mf{index}-{kind}"


def inpaint_name(source_seq: str, index: int) -> str:
    return f"{source_seq}__dlcr-{index}"


def choose_sequences(manifest: dict, root: Path, o: ChainOptions) -> tuple[list[dict], list[dict], list[str]]:
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


def plan_sequence(record: dict, vroot: Path, o: ChainOptions) -> list[Planned]:
    sid, seq = record["sid"], record["seq"]
    if o.is_model("inpaint"):
        return [Planned(k, inpaint_name(seq, k), vroot / sid / inpaint_name(seq, k), "dlcr-inpaint")
                for k in range(o.per_sequence)]
    from core.augment.recipes import plan_variants

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


def load_work(root: Path, record: dict, params: dict, o: ChainOptions, stages: Stages,
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
