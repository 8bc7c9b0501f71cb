"""Imported or curated variants written back out in DLCR's own strip forms, each into a new folder."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Mapping

import numpy as np

from core.dlcr_io import export_into, new_export_folder, png_inside
from core.dlcr_io.strips import ImportPlan
from core.dlcr_io.tiles import compose_strip, load_tile, put_file
from core.imaging import encode_png


def export_strips(strips: Mapping[str, list[np.ndarray]], out_dir: str | Path) -> list[str]:
    """Write each ``relative path -> tiles`` as one strip image (tiles side by side) into the new
    folder ``out_dir``: the published augmented-CCVID form. Returns the relative paths written."""
    out_dir = new_export_folder(out_dir)
    written = []
    with export_into(out_dir) as tmp:
        for rel, tiles in strips.items():
            rel_path = png_inside(rel, "strip")
            put_file(tmp / rel_path, encode_png(compose_strip([np.asarray(t) for t in tiles])))
            written.append(rel_path.as_posix())
    return written


def export_cut_tiles(plan: ImportPlan, out_dir: str | Path) -> list[str]:
    """The HybridGait crop scripts' output: each kept tile as ``<folder>/<frame>_<NN>.png`` in a new folder."""
    out_dir = new_export_folder(out_dir)
    written = []
    with export_into(out_dir) as tmp:
        for v in plan.variants:
            for ref in v.frames:
                name = f"{ref.frame}_{(v.position or 0) + 1:02d}.png" if v.form == "strip" else f"{ref.frame}.png"
                rel = Path(v.folder) / name
                put_file(tmp / rel, encode_png(load_tile(ref)))
                written.append(rel.as_posix())
    return written


def strips_per_frame(plan: ImportPlan) -> dict[str, int]:
    """Kept tiles per source image, a quick consistency check for previews."""
    c: Counter = Counter(ref.path for v in plan.variants for ref in v.frames)
    return dict(c)
