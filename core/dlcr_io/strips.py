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
"""

from __future__ import annotations

import math
import re
import shutil
import tempfile
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping

import cv2
import numpy as np
from PIL import Image

from core.atomic import atomic_dir
from core.dlcr_io import Problem, visible_files
from core.errors import InputError
from core.imaging import encode_png, side_by_side
from core.variants import VariantRecord, read_variant, write_variant

METHOD = "dlcr-import"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# DLCR inpaints at 256 x 768; a tile of that shape is a third as wide as it is high.
DLCR_TILE_ASPECT = 256 / 768
# How far the width/height ratio may stray from a whole number of tiles before we refuse to guess.
K_TOLERANCE = 0.2

KeyFn = Callable[[str], "tuple[str, str] | None"]


# ------------------------------------------------------------------------------------------------
# K and cutting
# ------------------------------------------------------------------------------------------------

def detect_k(width: int, height: int, *, k: int | None = None, tile_aspect: float | None = None,
             path: str | Path | None = None) -> int:
    """How many variants a strip of ``width`` x ``height`` holds.

    With ``k`` given, only check that the width splits into ``k`` equal tiles. Otherwise estimate
    it as width / (height * tile_aspect) — tile_aspect is one tile's width / height, DLCR's
    256 x 768 when not given — and take the whole number nearest the estimate among those that
    divide the width and lie within 20 % of it. A clear estimate (within a quarter tile of a
    whole number) that does not divide the width is an error naming the file; so is an
    estimate that no whole number explains.
    """
    if width <= 0 or height <= 0:
        raise InputError(path, f"image has no pixels ({width} x {height})")
    if k is None:
        aspect = tile_aspect or DLCR_TILE_ASPECT
        est = width / (height * aspect)
        near = max(1, round(est))
        fits = sorted((abs(math.log(est / c)), c) for c in range(max(1, math.floor(est / (1 + K_TOLERANCE))),
                                                                  math.ceil(est / (1 - K_TOLERANCE)) + 1)
                      if width % c == 0 and abs(est - c) <= K_TOLERANCE * c)
        if fits and (len(fits) == 1 or fits[1][0] - fits[0][0] > 0.02):
            k = fits[0][1]
        elif abs(est - near) <= 0.25 and not fits:
            k = near      # clear estimate: fall through to the divisibility error below
        else:
            raise InputError(path, f"cannot tell how many variants a {width} x {height} image holds: tiles of "
                                   f"aspect {aspect:.3f} would give {est:.2f}; give K explicitly")
    if k < 1:
        raise InputError(path, f"K must be at least 1, got {k}")
    if width % k:
        raise InputError(path, f"width {width} is not divisible by K={k} (tiles would be {width / k:.2f} px wide); "
                               "is K right, or was the strip resized?")
    return k


def tile_boxes(width: int, height: int, k: int, keep: int | None = None) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the leftmost ``keep`` of ``k`` equal tiles (all when keep is None)."""
    tw = width // k
    n = k if keep is None else min(keep, k)
    return [(i * tw, 0, (i + 1) * tw, height) for i in range(n)]


def cut_strip(image: np.ndarray, k: int, keep: int | None = None, path: str | Path | None = None) -> list[np.ndarray]:
    """The leftmost ``keep`` tiles of a strip holding ``k`` side by side, left to right."""
    h, w = image.shape[:2]
    detect_k(w, h, k=k, path=path)
    return [np.ascontiguousarray(image[y0:y1, x0:x1]) for x0, y0, x1, y1 in tile_boxes(w, h, k, keep)]


def compose_strip(tiles: list[np.ndarray]) -> np.ndarray:
    """Tiles of one size side by side: the inverse of ``cut_strip``."""
    if not tiles:
        raise ValueError("compose_strip needs at least one tile")
    shapes = {t.shape for t in tiles}
    if len(shapes) != 1:
        raise ValueError(f"tiles differ in size: {sorted(shapes)}")
    return np.ascontiguousarray(np.concatenate(tiles, axis=1))


# ------------------------------------------------------------------------------------------------
# plans
# ------------------------------------------------------------------------------------------------

@dataclass
class TileRef:
    """One frame of one variant: a region of a source image."""

    path: str
    frame: str                           # the frame's name without suffix ("00001")
    box: tuple[int, int, int, int]       # x0, y0, x1, y1 in the source image


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


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header only."""
    try:
        with Image.open(path) as img:
            return img.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from exc


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


# ------------------------------------------------------------------------------------------------
# pixels
# ------------------------------------------------------------------------------------------------

def read_rgb(path: str | Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(path, f"not a readable image ({exc})") from exc


def load_tile(ref: TileRef, image: np.ndarray | None = None) -> np.ndarray:
    a = read_rgb(ref.path) if image is None else image
    x0, y0, x1, y1 = ref.box
    if y1 > a.shape[0] or x1 > a.shape[1]:
        raise InputError(ref.path, f"image is {a.shape[1]} x {a.shape[0]}, smaller than when it was planned")
    return np.ascontiguousarray(a[y0:y1, x0:x1])


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


# ------------------------------------------------------------------------------------------------
# variant folders and records
# ------------------------------------------------------------------------------------------------

def _put(path: Path, data: bytes) -> None:
    """Plain write for files inside a folder that is renamed into place whole: the rename makes the
    folder appear at once, and an fsync per tile cost about a third of the import time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


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
            _put(s.folder / f"{ref.frame}.png", encode_png(tile))
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


# ------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------

def export_strips(strips: Mapping[str, list[np.ndarray]], out_dir: str | Path) -> list[str]:
    """Write each ``relative path -> tiles`` as one strip image (tiles side by side) into the new
    folder ``out_dir``: the published augmented-CCVID form. Returns the relative paths written."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(out_dir, "already exists; exports only ever create a new folder")
    written = []
    with atomic_dir(out_dir) as tmp:
        for rel, tiles in strips.items():
            rel_path = Path(rel).with_suffix(".png")
            if rel_path.is_absolute() or ".." in rel_path.parts:
                raise InputError(rel, "strip path must stay inside the export folder")
            _put(tmp / rel_path, encode_png(compose_strip([np.asarray(t) for t in tiles])))
            written.append(rel_path.as_posix())
    return written


def export_cut_tiles(plan: ImportPlan, out_dir: str | Path) -> list[str]:
    """The HybridGait crop scripts' output: each kept tile as ``<folder>/<frame>_<NN>.png`` in a new folder."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(out_dir, "already exists; exports only ever create a new folder")
    written = []
    with atomic_dir(out_dir) as tmp:
        for v in plan.variants:
            for ref in v.frames:
                name = f"{ref.frame}_{(v.position or 0) + 1:02d}.png" if v.form == "strip" else f"{ref.frame}.png"
                rel = Path(v.folder) / name
                _put(tmp / rel, encode_png(load_tile(ref)))
                written.append(rel.as_posix())
    return written


def strips_per_frame(plan: ImportPlan) -> dict[str, int]:
    """Kept tiles per source image, a quick consistency check for previews."""
    c: Counter = Counter(ref.path for v in plan.variants for ref in v.frames)
    return dict(c)

