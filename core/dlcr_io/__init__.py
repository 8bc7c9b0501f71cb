"""Import and export of the artifacts the DLCR pipeline and the HybridGait scripts leave behind.

Modules, one job each (all pure functions over plain dataclasses; sources are only ever read):

* ``texts``   LLaVA question/answer JSONL, grouped descriptions, LLM summaries, parsed garment lists;
* ``lip``     Self-Correction Human Parsing masks (LIP's 20 labels) <-> our part classes;
* ``strips``  generated images: K variants side by side (published augmented CCVID) and DLCR's
              ``prcc/<clothes>/<subject>/<frame>.png`` tree; variant folders and records;
* ``persons`` splitting a frame that holds several people into one box and crop per person;
* ``preview`` what an import would bring in (counts, first items, problems) and a boxes preview.

Every parser collects ``Problem`` rows (file, line, what is wrong) instead of stopping at the
first bad line. ``import_into_catalog`` is the one place that writes to the catalog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from core.errors import InputError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input. ``path``/``reason``/``severity`` match
    ``core.readers.base.Problem`` so the same UI table shows both; ``line`` is 1-based, None when
    the problem concerns the whole file."""

    path: str
    reason: str
    severity: str = "error"
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def problem_rows(problems: Iterable[Problem]) -> list[dict[str, Any]]:
    """Errors first, then warnings, each as a plain dict for a table or JSON output."""
    order = {"error": 0, "warning": 1}
    return [p.to_dict() for p in sorted(problems, key=lambda p: (order.get(p.severity, 2), p.path, p.line or 0))]


def visible_files(root: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files under ``root`` (recursively) with one of ``suffixes``, sorted; hidden files (OS and
    editor litter such as ``._x.png``) are not artifacts."""
    suffixes = set(suffixes)
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                  and not p.name.startswith("."))


def input_files(paths: str | Path | Iterable[str | Path], suffixes: Iterable[str]) -> list[Path]:
    """A folder (its visible files with ``suffixes``), one file, or an explicit list of files."""
    if isinstance(paths, (str, Path)):
        root = Path(paths)
        if not root.exists():
            raise InputError(root, "does not exist")
        return visible_files(root, suffixes) if root.is_dir() else [root]
    return [Path(p) for p in paths]


def import_into_catalog(catalog, dataset_id: int, records: Iterable[dict], *, job_id: int | None = None,
                        allow_non_train: bool = False) -> tuple[list[int], list[Problem]]:
    """Record variant records (the shape ``core.augment.generate`` writes) as pending variants.

    Only variants of the dataset's *training* sequences go in: a variant of a gallery or probe
    sequence would leak test identities into training (docs/contracts.md, "Leakage"), and a variant of a sequence
    the dataset does not have could never be merged. Those are returned as problems instead.
    Re-importing the same record updates it in place (``add_variant`` upserts on sid + name).
    """
    by_key = {(s.sid, s.seq): s for s in catalog.sequences(dataset_id)}
    ids: list[int] = []
    problems: list[Problem] = []
    for rec in records:
        src = by_key.get((rec["sid"], rec["source_seq"]))
        where = rec.get("path") or rec["name"]
        if src is None:
            problems.append(Problem(where, f"dataset has no sequence {rec['sid']}/{rec['source_seq']}; "
                                           f"variant {rec['name']} not imported"))
            continue
        if src.split != "train" and not allow_non_train:
            problems.append(Problem(where, f"{rec['sid']}/{rec['source_seq']} is a {src.split} sequence; "
                                           "variants may only come from training sequences"))
            continue
        ids.append(catalog.add_variant(dataset_id, rec["sid"], rec["source_seq"], rec["name"], rec["method"],
                                       rec["recipe"], rec["description"], rec.get("seed"), rec["path"],
                                       rec.get("thumb"), job_id, score=rec.get("score")))
    return ids, problems


__all__ = ["Problem", "problem_rows", "import_into_catalog", "input_files", "visible_files"]
