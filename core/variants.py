"""Variant folders and their records: the one writer and reader, and the one way into the catalog.

Every source of clothing variants — the DLCR chain (:mod:`core.augment.assemble`) and every importer
(:mod:`core.dlcr_io.import_variants`) — builds a :class:`VariantRecord` and calls :func:`write_variant`;
a job hands each finished record to :func:`add_to_catalog`. A variant folder
``<variants root>/<sid>/<name>/`` holds:

* ``frames/NNNNN.png`` aligned silhouettes, what merging copies into the layout, and ``gei.png``
  their gait energy image (both absent while no silhouette is known, e.g. an import without masks);
* ``rgb/NNNNN.png`` the variant's colour frames (imports always, the chain with ``keep_rgb``);
* ``thumb.jpg`` one frame and ``compare.jpg`` the comparison strip the workbench shows;
  optionally ``guidance.jpg`` (with and without discriminator guidance), ``variant.gif`` (the
  walk) and ``samples.npz`` (person crops a later job's discriminator scores);
* ``variant.json`` the record, :meth:`VariantRecord.to_dict`. A folder with it is finished.

A folder is written atomically (:func:`core.atomic.atomic_dir`): it appears whole or not at all,
so a rerun reuses every folder :func:`read_variant` can read and redoes the rest.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from core.atomic import atomic_dir, write_json
from core.convert.align import gait_energy_image
from core.imaging import encode_png, write_animation, write_thumbnail

RECORD = "variant.json"
FRAMES = "frames"
RGB = "rgb"
GEI = "gei.png"
THUMB = "thumb.jpg"
COMPARE = "compare.jpg"
GUIDANCE = "guidance.jpg"
ANIMATION = "variant.gif"
SAMPLES = "samples.npz"

# Keys every record has, in the order variant.json lists them; the rest is provenance (extra).
_FIELDS = ("name", "sid", "source_seq", "method", "recipe", "description", "seed", "frames", "path", "thumb",
           "compare", "score")
_OPTIONAL = ("thumb", "compare", "score")


@dataclass
class VariantRecord:
    """One variant of one source sequence, as variant.json and the catalog know it.

    ``extra`` is the source's own provenance (models, parsing, silhouette method, prompt, scores
    ...), kept in variant.json after the common fields; ``prompt``, ``models`` and ``donors`` there
    are also copied into the catalog's recipe (see :func:`add_to_catalog`).
    """

    name: str
    sid: str
    source_seq: str
    method: str
    recipe: dict[str, Any]
    description: str
    seed: int | None
    frames: int
    path: str
    thumb: str | None = None
    compare: str | None = None
    score: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def in_folder(cls, target: str | Path, **fields: Any) -> "VariantRecord":
        """A record whose path, thumbnail and comparison strip are those of the folder ``target``."""
        target = Path(target)
        return cls(path=str(target), thumb=str(target / THUMB), compare=str(target / COMPARE), **fields)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VariantRecord":
        known = {k: d.get(k) for k in _FIELDS}
        return cls(**known, extra={k: v for k, v in d.items() if k not in _FIELDS})

    def to_dict(self) -> dict[str, Any]:
        """The variant.json form: the common fields (the optional ones only when set), then ``extra``."""
        d = {k: getattr(self, k) for k in _FIELDS if not (k in _OPTIONAL and getattr(self, k) is None)}
        d.update(self.extra)
        return d


# ------------------------------------------------------------------------------------ reading

def read_variant(folder: str | Path) -> VariantRecord | None:
    """The record of a finished variant folder; None when it has none (not written, or half)."""
    f = Path(folder) / RECORD
    if not f.is_file():
        return None
    return VariantRecord.from_dict(json.loads(f.read_text()))


def is_finished(folder: str | Path) -> bool:
    return (Path(folder) / RECORD).is_file()


def silhouette_files(folder: str | Path) -> list[Path]:
    """The aligned silhouette frames of a variant folder, in order (empty when none are known)."""
    return sorted((Path(folder) / FRAMES).glob("*.png"))


def gei_file(folder: str | Path) -> Path | None:
    f = Path(folder) / GEI
    return f if f.is_file() else None


# ------------------------------------------------------------------------------------ writing

def write_variant(rec: VariantRecord, *, silhouettes: Sequence[np.ndarray] | np.ndarray, compare: np.ndarray,
                  thumb: np.ndarray, rgb: Sequence[np.ndarray] | np.ndarray | None = None,
                  rgb_dir: str | Path | None = None, guidance: np.ndarray | None = None,
                  animation: np.ndarray | None = None, samples: Mapping[str, np.ndarray] | None = None
                  ) -> VariantRecord:
    """Write the folder ``rec.path`` whole (see the module docstring); ``rec.frames`` should count
    ``silhouettes``. Colour frames come as arrays (``rgb``) or as a folder of PNGs already staged
    on the same filesystem (``rgb_dir``, moved in). Returns ``rec``."""
    # Plain writes inside the folder: renaming it into place whole is what makes it atomic, and
    # an fsync per frame would cost about a third of the time.
    target = Path(rec.path)
    # A killed write of this very variant leaves its temporary folder behind; nothing else owns it.
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_dir(target) as tmp:
        if rgb_dir is not None:
            os.replace(rgb_dir, tmp / RGB)
        elif rgb is not None:
            (tmp / RGB).mkdir()
            for j, fr in enumerate(rgb):
                (tmp / RGB / f"{j:05d}.png").write_bytes(encode_png(fr))
        if len(silhouettes):
            (tmp / FRAMES).mkdir()
            for j, fr in enumerate(silhouettes):
                (tmp / FRAMES / f"{j:05d}.png").write_bytes(encode_png(fr))
            (tmp / GEI).write_bytes(encode_png(gait_energy_image(np.stack(list(silhouettes)))))
        write_thumbnail(tmp / COMPARE, compare, max_side=720)
        write_thumbnail(tmp / THUMB, thumb, max_side=200)
        if guidance is not None:
            write_thumbnail(tmp / GUIDANCE, guidance, max_side=720)
        if animation is not None:
            write_animation(tmp / ANIMATION, animation, fps=12, max_side=160)
        if samples is not None:
            np.savez_compressed(tmp / SAMPLES, **samples)
        write_json(tmp / RECORD, rec.to_dict())
    return rec


def update_record(rec: VariantRecord | Mapping[str, Any]) -> None:
    """Rewrite the record of a finished folder (a later score, say); its images stay as they are."""
    d = rec.to_dict() if isinstance(rec, VariantRecord) else dict(rec)
    write_json(Path(d["path"]) / RECORD, d)


# ------------------------------------------------------------------------------------ catalog

def add_to_catalog(catalog, dataset_id: int, rec: VariantRecord | Mapping[str, Any], *, job_id: int | None = None,
                   purpose: str | None = None) -> int:
    """Record (or update, by sid + name) a pending variant; returns its catalog id.

    The catalog's recipe is what a merge keeps in the manifest, so the prompt, the models and the
    donor identities from the provenance go into it too, and ``purpose`` ('train' | 'refine') when given.
    """
    if not isinstance(rec, VariantRecord):
        rec = VariantRecord.from_dict(rec)
    recipe = {**rec.recipe, **({"purpose": purpose} if purpose else {})}
    for key in ("prompt", "models", "donors"):
        if rec.extra.get(key) is not None:
            recipe.setdefault(key, rec.extra[key])
    return catalog.add_variant(dataset_id, rec.sid, rec.source_seq, rec.name, rec.method, recipe, rec.description,
                               rec.seed, rec.path, rec.thumb, job_id, score=rec.score)
