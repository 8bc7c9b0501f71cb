"""Curated variants back out in DLCR's own forms, so a set curated here can go to Simple-CCReID or
any DLCR-based pipeline: strips (the kept tiles of each source frame side by side, left to right in
their original order) and the text artifacts that came in with them."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from core.dlcr_io.strip_export import export_strips
from core.dlcr_io.tiles import read_rgb
from core.errors import InputError


def curated_strips(variants: list[dict]) -> dict[str, list[np.ndarray]]:
    """``<folder>/<frame>`` -> tiles of the given imported strip variants, ordered by position."""
    by_frame: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for v in variants:
        recipe = v.get("recipe") or {}
        if recipe.get("kind") != "dlcr-strip":
            continue
        rgb = sorted((Path(v["path"]) / "rgb").glob("*.png"))
        files = recipe.get("files") or []
        if len(rgb) != len(files):
            raise InputError(Path(v["path"]) / "rgb", f"holds {len(rgb)} frames but the variant lists {len(files)}")
        for path, name in zip(rgb, files):
            by_frame[f"{recipe['folder']}/{Path(name).stem}"].append((int(recipe["position"]), read_rgb(path)))
    return {rel: [t for _, t in sorted(tiles, key=lambda pt: pt[0])] for rel, tiles in sorted(by_frame.items())}


def export_curated(variants: list[dict], out_dir: str | Path) -> dict:
    """Write the strips of ``variants`` (e.g. the accepted ones) into the new folder ``out_dir``."""
    strips = curated_strips(variants)
    if not strips:
        raise InputError(out_dir, "none of the chosen variants came from DLCR strips; nothing to export")
    written = export_strips(strips, out_dir)
    return {"out": str(out_dir), "strips": len(written), "variants": len(variants)}
