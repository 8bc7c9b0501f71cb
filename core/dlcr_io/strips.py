"""Generated images from DLCR: strips of K variants side by side, and DLCR's own output tree.

Two forms arrive:

* the published augmented CCVID: the CCVID tree (``session1/001_01/00001.jpg``) where every frame
  image holds K variants of that frame side by side, equal widths (the HybridGait scripts cut the
  leftmost 2, 5 or 10 of 10 and save them as ``<frame>_<NN>.png``);
* DLCR's ``generate_data.py`` output: ``[prcc/]<clothes id>/<subject>/<frame>.png``, one image per
  frame, the outfit of ``<clothes id>`` painted onto the subject.

Planning reads only image headers and says, per tracklet and kept position (or per subject and
outfit), which file regions make up one variant; ``write_variants`` then builds one variant folder
per plan entry in the workspace through :func:`core.variants.write_variant`, and returns the
records ``import_into_catalog`` takes. Source files are only read.

This module plans; :mod:`~core.dlcr_io.tiles` holds the strip geometry and pixels,
:mod:`~core.dlcr_io.import_variants` writes the variant folders and
:mod:`~core.dlcr_io.strip_export` writes strips back out.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from core.dlcr_io import Problem, visible_files
from core.dlcr_io.tiles import TileRef, detect_k, image_size, tile_boxes
from core.errors import InputError


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


KeyFn = Callable[[str], "tuple[str, str] | None"]


@dataclass
class PlannedVariant:
    form: str                    # 'strip' | 'generated'
    folder: str                  # tracklet (strips) or subject (generated), relative to the import root
    sid: str
    source_seq: str
    position: int | None = None  # 0-based tile position from the left (strips)
    k: int | None = None         # tiles per strip (strips)
    clothes_id: str | None = None  # outfit painted on (generated tree)
    frames: list[TileRef] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.form == "strip":
            # 1-based like the HybridGait crop scripts' ``_NN`` suffix.
            return f"{self.source_seq}__dlcr-p{self.position + 1:02d}"
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.clothes_id or "x")
        return f"{self.source_seq}__dlcr-{safe}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["name"] = self.name
        return d


@dataclass
class ImportPlan:
    root: str
    variants: list[PlannedVariant] = field(default_factory=list)
    images: int = 0                         # source images looked at
    k_counts: dict[int, int] = field(default_factory=dict)   # strips per detected K
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> dict:
        return {"root": self.root, "images": self.images, "variants": len(self.variants),
                "frames": sum(len(v.frames) for v in self.variants), "k": dict(sorted(self.k_counts.items())),
                "identities": len({v.sid for v in self.variants}),
                "errors": sum(p.severity == "error" for p in self.problems),
                "warnings": sum(p.severity == "warning" for p in self.problems)}


_SESSION_TRACKLET = re.compile(r"(?:^|/)session(\d+)/([^/]+)_(\d+)$")
_TRACKLET = re.compile(r"(?:^|/)([^/_]+)_(\d+)$")


def ccvid_key(folder: str) -> tuple[str, str] | None:
    """CCVID naming (as ``core.readers.ccvid``): ``session1/001_02`` -> ('001', 's1-02'); a bare
    ``001_02`` keeps its name as the sequence: ('001', '001_02'). None when neither matches."""
    folder = folder.replace("\\", "/").strip("/")
    m = _SESSION_TRACKLET.search(folder)
    if m:
        return m.group(2), f"s{int(m.group(1))}-{m.group(3)}"
    m = _TRACKLET.search(folder)
    if m:
        return m.group(1), folder.rsplit("/", 1)[-1]
    return None


def plan_strips(root: str | Path, keep: int, *, k: int | None = None, tile_aspect: float | None = None,
                key_of: KeyFn = ccvid_key, files: Iterable[str | Path] | None = None) -> ImportPlan:
    """Variants of a strips tree: per tracklet folder, one variant for each of the leftmost ``keep`` positions.

    Frames of one tracklet must agree on K (a strip whose K differs from the folder's usual one
    is reported and left out). Reads image headers only. ``files`` limits the images to those
    given (all must lie under ``root``); by default every image under ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a folder of strip images")
    if keep < 1:
        raise InputError(root, f"keep must be at least 1, got {keep}")
    plan = ImportPlan(str(root))
    by_folder: dict[str, list[tuple[Path, int, int, int]]] = defaultdict(list)
    for f in (visible_files(root, IMAGE_SUFFIXES) if files is None else sorted(Path(p) for p in files)):
        plan.images += 1
        try:
            w, h = image_size(f)
            kk = detect_k(w, h, k=k, tile_aspect=tile_aspect, path=f)
        except InputError as exc:
            plan.problems.append(Problem(str(f), exc.reason))
            continue
        by_folder[f.parent.relative_to(root).as_posix()].append((f, w, h, kk))
    for folder, items in sorted(by_folder.items()):
        key = key_of(folder)
        if key is None:
            plan.problems.append(Problem(str(root / folder), "cannot tell identity and sequence from the folder name "
                                         "(expected CCVID's session<N>/<id>_<NN>); its strips are skipped"))
            continue
        usual_k = Counter(kk for *_, kk in items).most_common(1)[0][0]
        usual_size = Counter((w, h) for _, w, h, kk in items if kk == usual_k).most_common(1)[0][0]
        good = []
        for f, w, h, kk in items:
            if kk != usual_k or (w, h) != usual_size:
                plan.problems.append(Problem(str(f), f"{w} x {h} with K={kk} differs from the other frames of "
                                             f"{folder} ({usual_size[0]} x {usual_size[1]}, K={usual_k}); skipped"))
                continue
            good.append(f)
        plan.k_counts[usual_k] = plan.k_counts.get(usual_k, 0) + len(good)
        n = min(keep, usual_k)
        if keep > usual_k:
            plan.problems.append(Problem(str(root / folder), f"keep {keep} but the strips hold {usual_k}; "
                                         f"keeping all {usual_k}", "warning"))
        boxes = tile_boxes(*usual_size, usual_k, n)
        for pos in range(n):
            plan.variants.append(PlannedVariant(
                "strip", folder, key[0], key[1], position=pos, k=usual_k,
                frames=[TileRef(str(f), f.stem, boxes[pos]) for f in good]))
    return plan


def plan_generated(root: str | Path, *, key_of: KeyFn = ccvid_key,
                   files: Iterable[str | Path] | None = None) -> ImportPlan:
    """Variants of DLCR's ``[prcc/]<clothes id>/<subject>/<frame>.png`` tree: one per (subject, outfit).

    Paths are read from the last ``prcc`` folder down when there is one, else from ``root``
    down. ``files`` limits the images to those given (all under ``root``).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "not a folder of generated images")
    plan = ImportPlan(str(root))
    groups: dict[tuple[str, str], list[Path]] = defaultdict(list)
    for f in (visible_files(root, IMAGE_SUFFIXES) if files is None else sorted(Path(p) for p in files)):
        plan.images += 1
        rel = f.relative_to(root).parts
        if "prcc" in rel[:-1]:
            rel = rel[len(rel) - 1 - rel[:-1][::-1].index("prcc"):]
        if len(rel) < 3:
            plan.problems.append(Problem(str(f), "expected <clothes id>/<subject>/<frame> below the generated folder; "
                                         "skipped"))
            continue
        groups[(rel[0], "/".join(rel[1:-1]))].append(f)
    for (clothes, subject), members in sorted(groups.items()):
        key = key_of(subject)
        if key is None:
            plan.problems.append(Problem(str(members[0].parent), f"cannot tell identity and sequence from subject "
                                         f"folder {subject!r}; skipped"))
            continue
        refs = []
        for f in members:
            try:
                w, h = image_size(f)
            except InputError as exc:
                plan.problems.append(Problem(str(f), exc.reason))
                continue
            refs.append(TileRef(str(f), f.stem, (0, 0, w, h)))
        if refs:
            plan.k_counts[1] = plan.k_counts.get(1, 0) + len(refs)
            plan.variants.append(PlannedVariant("generated", subject, key[0], key[1], clothes_id=clothes, frames=refs))
    return plan
