"""Generic trees: ``<root>/<sid>/<seq>/<view>/<frames>``, the raw layout OpenGait's
``datasets/pretreatment.py`` reads, with free folder and file names.

Frames are silhouettes (PNG, binary or grey, any size) or colour frames (JPEG, or PNG whose
channels differ), which a silhouette backend turns into masks. Conventions (one RawSequence per
view folder):

* ``sid`` = the identity folder's name, ``view`` = the view folder's name, both verbatim;
* ``seq_type`` = the sequence folder's name verbatim (``nm-01``, ``00``, ``U0_D0_BG``,
  ``camid9_videoid1``): what OpenGait calls the type, which its protocols select by;
* ``condition`` and ``clothes`` from the sequence folder's name through a pattern, the same
  mechanism video folders use (:func:`core.readers.video_folder.compile_pattern`, e.g.
  ``{condition}-{seq}`` or ``(?P<condition>[a-z]+)\\d+``; ``{sid}`` is not needed). Without a
  pattern, ``{condition}-{seq}`` where it fits, else the whole name is the condition. A name the
  pattern does not fit keeps the whole name as its condition (warned); unknown condition names
  are kept, never refused;
* ``clothes`` = ``<sid>_<clothes>`` when the pattern has ``{clothes}``, else ``<sid>_<condition>``;
* frames: the folder's image files in natural order (``2.png`` before ``10.png``), skipping names
  starting with '.' or '_' and gait energy images (``*gei.png``, as OpenGait skips them); a folder
  holding both PNG and JPEG files is read as its PNGs (OpenGait reads only PNGs), the rest listed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from core.errors import InputError
from core.readers.base import Problem, RawSequence, ScanReport, nonempty_frames
from core.readers.video_folder import FilePattern, _bad_value, compile_pattern

FORMAT = "generic-tree"
PNG = (".png",)
JPEG = (".jpg", ".jpeg")
DEFAULT_PATTERN = "{condition}-{seq}"
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key reading digit runs as numbers: ``f2.png`` < ``f10.png``; ties by the plain name."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts) if p), name


def subdirs(p: Path) -> list[Path]:
    try:
        return sorted((c for c in p.iterdir() if c.is_dir() and not c.name.startswith((".", "_"))),
                      key=lambda c: natural_key(c.name))
    except OSError:
        return []


def _images(folder: Path) -> tuple[list[Path], list[Path]]:
    """(PNG files, JPEG files) of a view folder, each in natural order."""
    png, jpg = [], []
    with os.scandir(folder) as entries:      # d_type, not a stat per frame: trees hold millions
        for e in entries:
            name = e.name.lower()
            if name.startswith((".", "_")) or name.endswith("gei.png") or not e.is_file():
                continue
            if name.endswith(PNG):
                png.append(Path(e.path))
            elif name.endswith(JPEG):
                jpg.append(Path(e.path))
    key = lambda f: natural_key(f.name)        # noqa: E731
    return sorted(png, key=key), sorted(jpg, key=key)


def png_media(path: Path) -> str:
    """'rgb' when a PNG's colour channels differ anywhere, else 'silhouette' (grey or binary)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.ndim == 2 or img.shape[2] < 3:
        return "silhouette"
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    return "rgb" if bool(np.any(b != g) or np.any(g != r)) else "silhouette"


def sequence_fields(name: str, pattern: FilePattern | None) -> tuple[dict[str, str], str]:
    """(fields from a sequence folder's name, '' or why the pattern does not fit it)."""
    pat = pattern or compile_pattern(DEFAULT_PATTERN, folders=True)
    m = pat.regex.fullmatch(name)
    fields = {k: v for k, v in (m.groupdict() if m else {}).items() if v is not None and k != "sid"}
    if m and not _bad_value(fields):
        return fields, ""
    if pattern is None:          # the default pattern is a guess: a name it does not fit is its own condition
        return {"condition": name}, ""
    why = _bad_value(fields) if m else pat.explain(name)
    return {"condition": name}, why


def _raw(sid: str, seq_dir: Path, view_dir: Path, fields: dict[str, str], frames: list[Path], media: str) -> RawSequence:
    cond = fields.get("condition") or seq_dir.name
    clothes = fields.get("clothes")
    return RawSequence(sid=sid, seq_type=seq_dir.name, view=view_dir.name, condition=cond, frames=frames,
                       clothes=f"{sid}_{clothes}" if clothes else f"{sid}_{cond}", media=media)


def _first_view(root: Path, max_ids: int = 3):
    """(sid dir, seq dir, view dir, PNGs, JPEGs) of the first view folder holding images, else None."""
    for sid_dir in subdirs(root)[:max_ids]:
        for seq_dir in subdirs(sid_dir)[:3]:
            for view_dir in subdirs(seq_dir)[:3]:
                png, jpg = _images(view_dir)
                if png or jpg:
                    return sid_dir, seq_dir, view_dir, png, jpg
    return None


def looks_like(root: Path) -> tuple[float, str]:
    """Any three folder levels above image files fit; named layouts score higher where they fit."""
    found = _first_view(root)
    if found is None:
        return 0.0, "no <sid>/<seq>/<view>/ folder with PNG or JPEG frames"
    sid_dir, seq_dir, view_dir, png, jpg = found
    ids = len(subdirs(root))
    kind = f"{len(png)} PNG" if png else f"{len(jpg)} JPEG"
    return 0.55, (f"generic <sid>/<seq>/<view>/<frames> tree: {ids} identity folders, e.g. "
                  f"{view_dir.relative_to(root).as_posix()}/ with {kind} frames")


def preview_pattern(root: str | Path, pattern: str | None, limit: int = 20) -> list[dict[str, Any]]:
    """What ``pattern`` takes from the first ``limit`` distinct sequence folder names of the tree.
    Rows: {folder, matched, condition, seq, clothes, seq_type, reason}."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "folder does not exist" if not root.exists() else "not a folder")
    pat = compile_pattern(pattern, folders=True) if pattern and pattern.strip() else None
    names: dict[str, str] = {}
    for sid_dir in subdirs(root):
        for seq_dir in subdirs(sid_dir):
            names.setdefault(seq_dir.name, f"{sid_dir.name}/{seq_dir.name}")
        if len(names) >= limit:
            break
    rows = []
    for name, example in sorted(names.items(), key=lambda kv: natural_key(kv[0]))[:limit]:
        fields, why = sequence_fields(name, pat)
        rows.append({"folder": example, "matched": not why, "condition": fields.get("condition", ""),
                     "seq": fields.get("seq", ""), "clothes": fields.get("clothes", ""), "seq_type": name,
                     "reason": why})
    return rows


def scan(root: str | Path, pattern: str | FilePattern | None = None, *, format: str = FORMAT,
         finish: Callable[[RawSequence], None] | None = None) -> ScanReport:
    """Read the tree. ``finish`` (presets) completes each sequence: the gallery/probe role its
    protocol fixes, its camera."""
    root = Path(root)
    pat = pattern if isinstance(pattern, FilePattern) or pattern is None else compile_pattern(pattern, folders=True)
    report = ScanReport(root=root, format=format)
    report.notes.append(f"sequence-folder pattern: {pat.text}" if pat else
                        f"sequence-folder pattern: {DEFAULT_PATTERN} where it fits, else the folder name is the condition")
    png_kind: str | None = None     # decided once per tree from its first PNG
    unmatched: set[str] = set()
    for sid_dir in subdirs(root):
        seq_dirs = subdirs(sid_dir)
        if not seq_dirs:
            report.problems.append(Problem(str(sid_dir), "no sequence folders; ignored", "warning"))
        for seq_dir in seq_dirs:
            fields, why = sequence_fields(seq_dir.name, pat)
            if why and seq_dir.name not in unmatched:
                unmatched.add(seq_dir.name)
                report.problems.append(Problem(str(seq_dir), f"the pattern does not fit ({why}); condition = "
                                                             f"the folder name {seq_dir.name!r}", "warning"))
            views = subdirs(seq_dir)
            if not views:
                report.problems.append(Problem(str(seq_dir), "no view folders; ignored", "warning"))
            for view_dir in views:
                png, jpg = _images(view_dir)
                if png and jpg:
                    report.problems.append(Problem(str(view_dir), f"holds PNG and JPEG frames: read as its {len(png)} "
                                                                  f"PNGs, {len(jpg)} JPEG files ignored", "warning"))
                files = png or jpg
                frames = nonempty_frames(files, report)
                if not frames:
                    report.problems.append(Problem(str(view_dir), "no PNG or JPEG frames; sequence skipped"))
                    continue
                if png:
                    png_kind = png_kind or png_media(frames[0])
                    media = png_kind
                else:
                    media = "rgb"
                raw = _raw(sid_dir.name, seq_dir, view_dir, fields, frames, media)
                if finish is not None:
                    finish(raw)
                report.sequences.append(raw)
    if png_kind:
        report.notes.append(f"PNG frames read as {'colour frames' if png_kind == 'rgb' else 'silhouettes'} "
                            f"(judged from the first one)")
    if not report.sequences and not report.problems:
        report.problems.append(Problem(str(root), "no <sid>/<seq>/<view>/ folders with PNG or JPEG frames"))
    return report
