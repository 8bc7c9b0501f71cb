"""Import and export of the artifacts the DLCR pipeline and the HybridGait scripts leave behind.

Modules, one job each (all pure functions over plain dataclasses; sources are only ever read):

* ``texts``   LLaVA question/answer JSONL, grouped descriptions, LLM summaries, parsed garment lists;
              parsed by ``text_read`` (damaged JSON read entry by entry by ``tolerant_json``), written by
              ``text_export``;
* ``lip``     Self-Correction Human Parsing masks (LIP's 20 labels) <-> our part classes;
* ``strips``  planning an import of generated images: K variants side by side (published augmented
              CCVID) and DLCR's ``prcc/<clothes>/<subject>/<frame>.png`` tree;
* ``tiles``   strip geometry (K, tile boxes, cutting and composing) and reading a tile's pixels;
* ``import_variants``  the planned variants written as variant folders and records;
* ``strip_export``     variants written back out as strips or cut tiles;
* ``persons`` splitting a frame that holds several people into one box and crop per person;
* ``preview`` what an import would bring in (counts, first items, problems) and a boxes preview.

Every parser collects :class:`core.problems.Problem` rows (file, line, what is wrong) instead of stopping at the
first bad line. ``import_into_catalog`` is the one place that writes to the catalog.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Iterator

from core import locks
from core.atomic import atomic_dir
from core.errors import InputError
from core.problems import Problem, problem_rows
from core.variants import VariantRecord, add_to_catalog


def visible_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files under ``root`` (recursively) with one of ``suffixes``, sorted; hidden files (OS and
    editor litter such as ``._x.png``) are not artifacts."""
    suffixes = set(suffixes)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def new_export_folder(out_dir: str | Path) -> Path:
    """``out_dir`` as a Path, refused when it exists: exports only ever create a new folder, so no
    export can overwrite a user's files."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(out_dir, "already exists; exports only ever create a new folder")
    return out_dir


@contextlib.contextmanager
def export_into(out_dir: Path) -> Iterator[Path]:
    """The temporary folder an export builds, renamed to the new folder ``out_dir`` when complete.
    Its writer lock is held throughout and the "must not exist" check is made under it: two
    exports into one name would otherwise both pass the check, and the second replace the first."""
    with locks.writing(out_dir):
        new_export_folder(out_dir)
        with atomic_dir(out_dir) as tmp:
            yield tmp


def png_inside(rel: str | Path, what: str) -> Path:
    """``rel`` as a ``.png`` path relative to an export folder; one that would leave it is an error."""
    rel_path = Path(rel).with_suffix(".png")
    if rel_path.is_absolute() or ".." in rel_path.parts:
        raise InputError(rel, f"{what} path must stay inside the export folder")
    return rel_path


def input_files(paths: str | Path | Iterable[str | Path], suffixes: Iterable[str]) -> list[Path]:
    """A folder (its visible files with ``suffixes``), one file, or an explicit list of files."""
    if isinstance(paths, (str, Path)):
        root = Path(paths)
        if not root.exists():
            raise InputError(root, "does not exist")
        return visible_files(root, suffixes) if root.is_dir() else [root]
    return [Path(p) for p in paths]


def import_into_catalog(catalog, dataset_id: int, records: Iterable, *, job_id: int | None = None,
                        allow_non_train: bool = False) -> tuple[list[int], list[Problem]]:
    """Record variant records (``core.variants.VariantRecord`` or its dict form) as pending variants.

    Only variants of the dataset's *training* sequences go in: a variant of a gallery or probe
    sequence would leak test identities into training (docs/contracts.md, "Leakage"), and a variant of a sequence
    the dataset does not have could never be merged. Those are returned as problems instead.
    Re-importing the same record updates it in place (``add_variant`` upserts on sid + name).
    """
    by_key = {(s.sid, s.seq): s for s in catalog.sequences(dataset_id)}
    ids: list[int] = []
    problems: list[Problem] = []
    for rec in records:
        rec = rec if isinstance(rec, VariantRecord) else VariantRecord.from_dict(rec)
        src = by_key.get((rec.sid, rec.source_seq))
        where = rec.path or rec.name
        if src is None:
            problems.append(Problem(where, f"dataset has no sequence {rec.sid}/{rec.source_seq}; "
                                           f"variant {rec.name} not imported"))
            continue
        if src.split != "train" and not allow_non_train:
            problems.append(Problem(where, f"{rec.sid}/{rec.source_seq} is a {src.split} sequence; "
                                           "variants may only come from training sequences"))
            continue
        ids.append(add_to_catalog(catalog, dataset_id, rec, job_id=job_id))
    return ids, problems


__all__ = ["Problem", "problem_rows", "import_into_catalog", "input_files", "new_export_folder", "export_into", "png_inside",
           "visible_files"]
