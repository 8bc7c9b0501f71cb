"""Options of the demo job: the synthetic set, written in a real raw layout."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import field_validator

from core.demo.writer import LAYOUTS
from core.schema import Options, option, split_list


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
