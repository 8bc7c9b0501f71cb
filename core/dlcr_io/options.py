"""Options of the DLCR import job (sources are only read)."""

from __future__ import annotations

from typing import Literal, Optional

from core.dlcr_io.preview import KINDS as IMPORT_KINDS
from core.schema import Options, option


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
