"""Generate clothing variants of training sequences and record them in the catalog.

``generate_variants`` is the model-free entry (recolour, re-texture, coat shape edit on the part
labels of the synthetic set), saying so in every record's ``method``; it runs the DLCR chain of
:mod:`core.augment.chain` with every stage replaced by its model-free fallback. Variants draw
garment colours only from *other training* identities, so nothing from test identities leaks
into training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from core.layout import read_manifest
from core.parts import LOWER, UPPER
from core.records import Sequence

if TYPE_CHECKING:
    from core.augment.chain import ChainOptions

METHOD = "model-free"


@dataclass
class AugmentOptions:
    per_sequence: int = 2
    seq_types: tuple[str, ...] = ("nm-01",)
    sids: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    seed: int = 0
    max_sequences: int | None = None


def variant_name(source_seq: str, kind: str, index: int) -> str:
    from core.augment.chain import model_free_name

    return model_free_name(source_seq, kind, index)


def candidate_sources(dataset_root: Path, options: AugmentOptions) -> list[tuple[Sequence, Path]]:
    """Training sequences that have the part labels the model-free generator needs."""
    manifest = read_manifest(dataset_root)
    out = []
    for rec in manifest["sequences"]:
        if rec["split"] != "train" or rec.get("origin"):
            continue
        if options.seq_types and rec["seq_type"] not in options.seq_types:
            continue
        if options.sids and rec["sid"] not in options.sids:
            continue
        gt = rec.get("groundtruth")
        if gt and Path(gt).is_file():
            out.append((Sequence.from_dict(rec), Path(gt)))
    return out[:options.max_sequences] if options.max_sequences else out


def garment_pool(sources: list[tuple[Sequence, Path]]) -> dict[str, list[tuple[int, tuple[int, int, int]]]]:
    """Per identity, the garment colours of every *other* training identity (DLCR's outfit swap)."""
    by_sid: dict[str, list[tuple[int, tuple[int, int, int]]]] = {}
    seen: set[str] = set()
    for seq, gt in sources:
        if seq.sid in seen:
            continue
        seen.add(seq.sid)
        with np.load(gt, allow_pickle=False) as z:
            pal = z["palette"]
        by_sid[seq.sid] = [(UPPER, tuple(int(c) for c in pal[UPPER])), (LOWER, tuple(int(c) for c in pal[LOWER]))]
    return {sid: [c for other, cols in by_sid.items() if other != sid for c in cols] for sid in by_sid}


def generate_variants(dataset_root: str | Path, variants_root: str | Path, options: AugmentOptions, *,
                      align_method: str | None = None,
                      on_variant: Callable[[dict], None] | None = None,
                      progress: Callable[[int, int, str], None] | None = None,
                      should_stop: Callable[[], bool] | None = None) -> dict:
    """The model-free generator: :func:`core.augment.chain.run_chain` with every stage a fallback.

    Parsing comes from the demo set's ground-truth parts and the variant silhouettes are the
    outlines of the edited part maps (exact, as a ground-truth conversion's silhouettes are);
    names, seeds and records are those this generator always wrote, so earlier runs resume.
    ``align_method`` None means the dataset's own (its manifest's ``align``).
    """
    from core.augment.chain import run_chain

    return run_chain(dataset_root, variants_root, chain_options(options), align_method=align_method,
                     on_variant=on_variant, progress=progress, should_stop=should_stop)


def chain_options(options: AugmentOptions, **overrides) -> "ChainOptions":
    """The chain options equivalent to ``options`` with all stages model-free (overridable)."""
    from core.augment.chain import ChainOptions

    base = dict(parsing="groundtruth", describe="colour", summarize="none", inpaint="model-free",
                resilhouette="groundtruth-outline", per_sequence=options.per_sequence,
                seq_types=tuple(options.seq_types) if options.seq_types else None,
                sids=tuple(options.sids) if options.sids else None,
                kinds=tuple(options.kinds) if options.kinds else None, seed=options.seed,
                max_sequences=options.max_sequences)
    base.update(overrides)
    return ChainOptions(**base)
