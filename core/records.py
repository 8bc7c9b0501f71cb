"""Plain dataclasses passed between layers (readers -> converter -> layout -> trainer)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SPLITS = ("train", "gallery", "probe", "unsplit")    # unsplit: converted with --split none (extraction only)
# CASIA-B's sequence types (docs/contracts.md, "Evaluation protocols"), written down once: conversion
# gives test sequences their gallery/probe role by them, evaluation picks each condition's probes,
# the demo generator names what it writes.
CASIA_B_GALLERY = ("nm-01", "nm-02", "nm-03", "nm-04")
CASIA_B_PROBES = {"NM": ("nm-05", "nm-06"), "BG": ("bg-01", "bg-02"), "CL": ("cl-01", "cl-02")}
CASIA_B_TYPES = (*CASIA_B_GALLERY, *(t for types in CASIA_B_PROBES.values() for t in types))


@dataclass
class Sequence:
    """One walking sequence of one identity, as it appears in the unified layout.

    ``seq`` keeps what the source knows (CASIA-B ``nm-01-090``); ``seq_type`` is the condition
    with its index (``nm-01``), which the CASIA-B protocol uses to pick gallery and probes.
    """

    sid: str
    seq: str
    split: str = "train"
    condition: str = ""
    seq_type: str = ""
    view: str = ""
    clothes: str = ""
    frames: int = 0
    source: str = ""
    camera: str = ""                   # CCVID's camera id; its protocol drops same-camera matches
    origin: str | None = None          # for augmented sequences: the seq it was made from
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Sequence":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    @property
    def key(self) -> tuple[str, str]:
        return (self.sid, self.seq)
