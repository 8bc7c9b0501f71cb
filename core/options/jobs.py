"""Options of the small job kinds: the demo set, DLCR imports and training overrides."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import field_validator

from core.demo.writer import LAYOUTS
from core.dlcr_io.preview import KINDS as IMPORT_KINDS
from core.options.base import Options, option, split_list


class DemoOptions(Options):
    """``python -m core demo``: the synthetic demo set, written in a real raw layout."""

    WHAT = "demo option"
    out: str = option(help="folder to write the raw demo set into")
    name: Optional[str] = option(None, "catalog name of the set (default: the folder's name)")
    ids: int = option(24, "identities to render")
    views: tuple[str, ...] = option(("036", "090", "144"), "comma-separated CASIA-B views, e.g. 000,018,...,180")
    seed: int = option(0, "seed of bodies, outfits and gaits")
    frames: int = option(36, "frames per sequence")
    layout: Literal[LAYOUTS] = option("casia-b-silhouette", "the raw layout written")

    @field_validator("views", mode="before")
    @classmethod
    def _views(cls, v):
        v = split_list(v)
        return tuple(map(str, v)) if v else v     # 90 and "090" name the same view (generate pads them)


class ImportOptions(Options):
    """``python -m core import``: DLCR artifacts into the catalog (sources are only read)."""

    WHAT = "import option"
    source: str = option(help="folder of DLCR outputs", positional=True)
    kind: Literal[IMPORT_KINDS] = option(help="what the folder holds")
    dataset: str = option(help="converted dataset (path or catalog name) the variants belong to")
    keep: int = option(10, "dlcr-strips: keep the leftmost N variants of each strip")
    k: Optional[int] = option(None, "dlcr-strips: variants per strip (default: from the size)")
    masks: Optional[str] = option(None, "SCHP/LIP masks or silhouettes of the source frames")
    texts: Optional[str] = option(None, "DLCR text artifacts (descriptions, summaries, garment lists)")


class TrainOverrides(Options):
    """``python -m core train`` without a config file: a preset on a dataset, with overrides."""

    WHAT = "training option"
    dataset: Optional[str] = option(None, "converted dataset folder")
    preset: str = option("demo-cpu", "training preset (see core.train.config.available_presets)", always=True)
    iterations: Optional[int] = option(None, "training steps (default: the preset's)")
    name: Optional[str] = option(None, "run name (default: MODEL-DATASET)")
