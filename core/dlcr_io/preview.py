"""What an import would bring in, computed before anything is written: counts, first items, problems.

``preview_import`` looks at a DLCR output folder (or one kind of artifact in it) and returns a
``PreviewSummary``; ``persons_preview`` / ``strip_preview`` draw (with :mod:`core.imaging`) images that show
where people were found or which tiles of a strip will be kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.dlcr_io import Problem, problem_rows
from core.errors import InputError
from core.imaging import BOX_COLOURS, draw_boxes

# The kinds the CLI's ``import --kind`` names; 'variants' is DLCR's generated tree
# (docs/contracts.md, "DLCR artifacts").
STRIPS, TEXTS, MASKS, GENERATED = "dlcr-strips", "dlcr-texts", "lip-masks", "variants"
KINDS = (STRIPS, TEXTS, MASKS, GENERATED)
MASK_FOLDER_HINTS = ("mask", "parsing", "schp")

KEEP_COLOUR = (40, 200, 60)
DROP_COLOUR = (150, 150, 150)
PERSON_COLOURS = BOX_COLOURS


@dataclass
class PreviewSummary:
    root: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)     # kind -> what -> how many
    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> first N items
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    def to_json(self, max_problems: int = 200) -> dict[str, Any]:
        return {"root": self.root, "counts": self.counts, "items": self.items,
                "problems": problem_rows(self.problems)[:max_problems], "problems_total": len(self.problems),
                "errors": self.errors}


def _is_mask_path(p: Path, root: Path) -> bool:
    return any(h in part.lower() for part in p.relative_to(root).parts[:-1] for h in MASK_FOLDER_HINTS)


def classify_files(root: str | Path) -> dict[str, list[Path]]:
    """Sort the files of a DLCR output folder by artifact kind, from names and places alone.

    ``.json``/``.jsonl`` are texts; images in a folder whose name mentions mask / parsing / schp
    are masks; images under ``prcc/`` are DLCR's generated tree; other images are strips.
    """
    root = Path(root)
    out: dict[str, list[Path]] = {k: [] for k in KINDS}
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        suf = p.suffix.lower()
        rel = p.relative_to(root).parts
        if suf in (".json", ".jsonl"):
            out[TEXTS].append(p)
        elif suf in (".png", ".jpg", ".jpeg"):
            if _is_mask_path(p, root):
                out[MASKS].append(p)
            elif "prcc" in rel[:-1]:
                out[GENERATED].append(p)
            else:
                out[STRIPS].append(p)
    return out


def _texts(summary: PreviewSummary, files, first_n: int) -> None:
    from core.dlcr_io import texts as T
    from core.dlcr_io.text_read import read_texts

    arts = read_texts(files)
    summary.problems.extend(arts.problems)
    descs, probs = T.join_descriptions(arts.questions, arts.answers)
    if arts.answers:
        summary.problems.extend(probs)
    counts = {k: v for k, v in arts.counts().items()}
    counts["files"] = len(arts.files)
    counts["descriptions"] = len(descs)
    summary.counts[TEXTS] = counts
    items: list[dict[str, Any]] = []
    for d in descs[:first_n]:
        items.append({"kind": "description", "clothes": d.clothes, "person": d.person, "image": d.image,
                      "text": d.text[:200]})
    for key, phrases in list(arts.garments.items())[:first_n]:
        items.append({"kind": "garments", "clothes": key, "garments": phrases})
    for key, text in list(arts.summaries.items())[:first_n]:
        items.append({"kind": "summary", "clothes": key, "garments": T.split_garments(text)})
    summary.items[TEXTS] = items


def _masks(summary: PreviewSummary, files, first_n: int) -> None:
    from core.dlcr_io.lip import read_lip_masks

    masks, probs = read_lip_masks(files)
    summary.problems.extend(probs)
    summary.counts[MASKS] = {"files": len(masks) + len({p.path for p in probs if p.severity == "error"}),
                             "masks": len(masks),
                             "palette": sum(m.mode == "P" for m in masks),
                             "single_channel": sum(m.mode != "P" for m in masks)}
    summary.items[MASKS] = [{"path": m.path, "size": list(m.size), "mode": m.mode, "labels": m.label_counts()}
                            for m in masks[:first_n]]


def _plan(summary: PreviewSummary, kind: str, plan, first_n: int) -> None:
    summary.problems.extend(plan.problems)
    s = plan.summary()
    summary.counts[kind] = {"images": s["images"], "variants": s["variants"], "frames": s["frames"],
                            "identities": s["identities"], **{f"k={k}": n for k, n in s["k"].items()}}
    summary.items[kind] = [{"name": v.name, "sid": v.sid, "source_seq": v.source_seq, "folder": v.folder,
                            "position": v.position, "k": v.k, "clothes_id": v.clothes_id, "frames": len(v.frames)}
                           for v in plan.variants[:first_n]]


def preview_import(root: str | Path, kind: str = "auto", *, keep: int = 10, k: int | None = None,
                   tile_aspect: float | None = None, first_n: int = 5, key_of=None) -> PreviewSummary:
    """Counts per artifact kind, the first ``first_n`` items of each and every problem, reading only.

    ``kind`` 'auto' sorts the folder's files with ``classify_files``; one of ``KINDS`` treats the
    whole folder as that kind. ``keep``/``k``/``tile_aspect`` are the strip options of the import.
    """
    from core.dlcr_io.strips import ccvid_key, plan_generated, plan_strips

    root = Path(root)
    if not root.exists():
        raise InputError(root, "does not exist")
    if kind != "auto" and kind not in KINDS:
        raise InputError(root, f"unknown import kind {kind!r}; use one of {', '.join(KINDS)} or 'auto'")
    key_of = key_of or ccvid_key
    summary = PreviewSummary(str(root))
    if kind == "auto":
        groups = classify_files(root)
    else:
        groups = {kind: None}
    for kd, files in groups.items():
        if files is not None and not files:
            continue
        if kd == TEXTS:
            _texts(summary, files if files is not None else root, first_n)
        elif kd == MASKS:
            _masks(summary, files if files is not None else root, first_n)
        elif kd == STRIPS:
            _plan(summary, kd, plan_strips(root, keep, k=k, tile_aspect=tile_aspect, key_of=key_of, files=files),
                  first_n)
        elif kd == GENERATED:
            _plan(summary, kd, plan_generated(root, key_of=key_of, files=files), first_n)
    return summary


# ------------------------------------------------------------------------------------------------
# images
# ------------------------------------------------------------------------------------------------

def persons_preview(image: np.ndarray, persons) -> np.ndarray:
    """The frame with one box per person found (``persons.find_persons`` / ``split_persons``), numbered
    from 1 left to right."""
    boxes, labels = [], []
    for p in persons:
        pb = getattr(p, "person", p)
        boxes.append(pb.box)
        # Short labels: boxes of people side by side are narrow, and the numbers match the summary rows.
        labels.append(str(pb.index + 1))
    return draw_boxes(image, boxes, labels)


def strip_preview(strip: np.ndarray, k: int, keep: int) -> np.ndarray:
    """A strip with its kept tiles outlined green and numbered, the dropped ones grey."""
    from core.dlcr_io.tiles import tile_boxes

    h, w = np.asarray(strip).shape[:2]
    boxes = tile_boxes(w, h, k)
    labels = [f"{i + 1}" if i < keep else "" for i in range(k)]
    colours = [KEEP_COLOUR if i < keep else DROP_COLOUR for i in range(k)]
    return draw_boxes(strip, boxes, labels, colours)
