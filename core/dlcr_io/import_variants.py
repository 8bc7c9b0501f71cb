"""Imported DLCR variants written as variant folders: one folder per planned variant
(:mod:`core.dlcr_io.strips`), through :func:`core.variants.write_variant`, with silhouettes from
masks of the source frames when they are given.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import cv2
import numpy as np
from PIL import Image

from core.dlcr_io import Problem
from core.dlcr_io.strips import ImportPlan, PlannedVariant
from core.dlcr_io.tiles import TileRef, load_tile, put_file, read_rgb
from core.errors import InputError
from core.imaging import encode_png, side_by_side
from core.variants import VariantRecord, read_variant, write_variant


METHOD = "dlcr-import"


SilhouetteFn = Callable[[PlannedVariant, TileRef, np.ndarray], "np.ndarray | None"]


def _binary_silhouette(path: Path) -> np.ndarray | None:
    """A black/white silhouette file (mode '1', or gray holding only 0 and 255); None for anything else."""
    try:
        with Image.open(path) as img:
            if img.mode not in ("1", "L"):
                return None
            a = np.asarray(img.convert("L"))
    except (OSError, ValueError, SyntaxError):
        return None
    if not np.isin(a, (0, 255)).all():
        return None
    return (a > 0).astype(np.uint8) * 255


def silhouettes_from_masks(masks_root: str | Path) -> SilhouetteFn:
    """Silhouettes from masks of the *source* frames: ``<masks_root>/<folder>/<frame>.png``.

    DLCR repaints only inside the clothes mask, so the person's outline is the source frame's:
    non-background pixels of a LIP parsing, or the white pixels of a binary silhouette. The
    mask is resized (nearest) to the tile when sizes differ.
    """
    from core.dlcr_io.lip import read_lip_mask, silhouette_from_labels

    masks_root = Path(masks_root)
    last: dict[Path, np.ndarray | None] = {}

    def read(path: Path) -> np.ndarray | None:
        # Kept positions of one strip share the source frame's mask: decode it once.
        if path not in last:
            last.clear()
            if not path.is_file():
                last[path] = None
            else:
                try:
                    last[path] = silhouette_from_labels(read_lip_mask(path).labels)
                except InputError:
                    last[path] = _binary_silhouette(path)
        return last[path]

    def fn(variant: PlannedVariant, ref: TileRef, rgb: np.ndarray) -> np.ndarray | None:
        sil = read(masks_root / variant.folder / f"{ref.frame}.png")
        if sil is None:
            return None
        h, w = rgb.shape[:2]
        if sil.shape != (h, w):
            sil = cv2.resize(sil, (w, h), interpolation=cv2.INTER_NEAREST)
        return sil

    return fn


def _description(v: PlannedVariant, garments: list[str]) -> str:
    if v.form == "strip":
        base = f"DLCR variant {v.position + 1} of {v.k} (imported strip)"
    else:
        base = f"DLCR outfit of {v.clothes_id} (imported)"
    return f"{base}: {', '.join(garments)}" if garments else base


def variant_record(v: PlannedVariant, target: Path, *, frames: int, silhouette: str, keep: int | None,
                   garments: list[str], root: str) -> VariantRecord:
    """The record of an imported variant; the recipe says which source files made it."""
    from core.dlcr_io.texts import garment_prompt

    recipe = {"kind": f"dlcr-{v.form}", "source_root": root, "folder": v.folder,
              "files": [Path(t.path).name for t in v.frames], "silhouette": silhouette}
    if v.form == "strip":
        recipe.update(position=v.position, k=v.k, keep=keep, box_width=v.frames[0].box[2] - v.frames[0].box[0]
                      if v.frames else None)
    else:
        recipe.update(clothes_id=v.clothes_id)
    if garments:
        recipe.update(garments=garments, prompt=garment_prompt(garments))
    return VariantRecord.in_folder(target, name=v.name, sid=v.sid, source_seq=v.source_seq, method=METHOD,
                                   recipe=recipe, description=_description(v, garments), seed=None,
                                   frames=int(frames))


def write_variants(plan: ImportPlan | Iterable[PlannedVariant], variants_root: str | Path, *,
                   silhouettes: SilhouetteFn | None = None, align_method: str = "opengait",
                   keep: int | None = None, garments: Mapping[str, list[str]] | None = None,
                   progress: Callable[[int, int, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[list[dict], list[Problem]]:
    """Build ``<variants_root>/<sid>/<name>/`` for each planned variant; return records and problems.

    Each folder holds ``rgb/`` (the variant's frames as PNG), ``frames/`` (aligned silhouettes,
    what merging copies) and ``gei.png`` when silhouettes are known, ``thumb.jpg``,
    ``compare.jpg`` and ``variant.json``. A folder whose variant.json exists is reused, so an
    interrupted import resumes; each folder appears whole or not at all. A strip shared by
    several kept positions is decoded once. ``garments`` maps a clothes id to its phrases
    (see ``texts.garments_for``).
    """
    from core.errors import JobCancelled

    variants = plan.variants if isinstance(plan, ImportPlan) else list(plan)
    root = plan.root if isinstance(plan, ImportPlan) else ""
    variants_root = Path(variants_root)
    garments = garments or {}
    records: list[dict] = []
    problems: list[Problem] = []
    by_folder: dict[tuple[str, str], list[PlannedVariant]] = defaultdict(list)
    for v in variants:
        by_folder[(v.form, v.folder)].append(v)
    done = 0
    for group in by_folder.values():
        if should_stop and should_stop():
            raise JobCancelled(f"import stopped after {done} of {len(variants)} variants; finished ones are kept")
        todo = []
        for v in group:
            target = variants_root / v.sid / v.name
            finished = read_variant(target)
            if finished is not None:
                records.append(finished.to_dict())
                done += 1
            else:
                todo.append((v, target))
        if not todo:
            continue
        variants_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".dlcr-import.", suffix=".tmp", dir=variants_root))
        try:
            built = _stage_group(todo, staging, silhouettes, align_method, problems)
            for (v, target), b in zip(todo, built):
                if b is None:
                    continue
                records.append(_finish_variant(v, target, b, keep=keep, root=root, problems=problems,
                                               garments=list(garments.get(v.clothes_id or "", []))))
                done += 1
                if progress:
                    progress(done, len(variants), f"{v.sid}/{v.name}: {b.read} frames")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return records, problems


@dataclass
class _Staged:
    folder: Path                 # staged rgb frames of one variant
    read: int = 0                # frames read
    no_silhouette: int = 0       # frames without a silhouette
    dropped: int = 0             # silhouettes empty after alignment
    aligned: list[np.ndarray] = field(default_factory=list)
    middle: np.ndarray | None = None


def _stage_group(todo: list[tuple[PlannedVariant, Path]], staging: Path, silhouettes: SilhouetteFn | None,
                 align_method: str, problems: list[Problem]) -> list[_Staged | None]:
    """Cut every tile of a folder's variants into staging, decoding each source image once."""
    from core.convert.align import align

    staged = []
    users: dict[str, list[tuple[int, TileRef]]] = defaultdict(list)
    for idx, (v, _) in enumerate(todo):
        d = staging / str(idx)
        d.mkdir()
        staged.append(_Staged(d))
        for ref in v.frames:
            users[ref.path].append((idx, ref))
    middles = [len(v.frames) // 2 for v, _ in todo]
    for path, uses in users.items():
        try:
            img = read_rgb(path)
        except InputError as exc:
            problems.append(Problem(path, exc.reason))
            continue
        for idx, ref in uses:
            v, s = todo[idx][0], staged[idx]
            try:
                tile = load_tile(ref, img)
            except InputError as exc:
                problems.append(Problem(path, exc.reason))
                continue
            put_file(s.folder / f"{ref.frame}.png", encode_png(tile))
            if s.middle is None or s.read <= middles[idx]:
                s.middle = tile
            s.read += 1
            sil = silhouettes(v, ref, tile) if silhouettes else None
            if sil is None:
                s.no_silhouette += 1
                continue
            a, _ = align(sil, align_method)
            if a is None:
                s.dropped += 1
            else:
                s.aligned.append(a)
    out: list[_Staged | None] = []
    for (v, target), s in zip(todo, staged):
        if not s.read:
            problems.append(Problem(str(target), f"variant {v.name}: no frame could be read; not imported"))
            out.append(None)
        else:
            out.append(s)
    return out


def _finish_variant(v: PlannedVariant, target: Path, s: _Staged, *, keep: int | None, root: str,
                    garments: list[str], problems: list[Problem]) -> dict:
    if s.no_silhouette or s.dropped:
        problems.append(Problem(str(target), f"variant {v.name}: {s.no_silhouette} of {s.read} frames have no "
                                f"silhouette and {s.dropped} were empty after alignment"
                                + ("" if s.aligned else "; it cannot be merged until silhouettes are extracted"),
                                "warning"))
    how = "missing" if not s.aligned else ("source-masks" if not (s.no_silhouette or s.dropped) else "partial")
    panels = [s.middle] + ([s.aligned[min(len(s.aligned) // 2, len(s.aligned) - 1)]] if s.aligned else [])
    rec = variant_record(v, target, frames=len(s.aligned), silhouette=how, keep=keep, garments=garments, root=root)
    write_variant(rec, silhouettes=s.aligned, rgb_dir=s.folder, thumb=s.middle,
                  compare=side_by_side(panels, ["variant", "silhouette"][:len(panels)]))
    return rec.to_dict()
