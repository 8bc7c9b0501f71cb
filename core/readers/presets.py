"""OpenGait's other datasets as presets over the generic tree (:mod:`core.readers.tree`): the
folder names each uses, how its sequence folder names read, the gallery/probe role its protocol
gives a sequence (:mod:`core.benchmarks`), and its official train/test split.

* ``oumvlp``: ``<sid:5 digits>/<00|01>/<view:3 digits>``; train = odd ids but 10307, test = the rest;
* ``gait3d``: ``<sid:4 digits>/camid<C>_videoid<V>/seq<N>``; split and probes from its partition
  file (``--split Gait3D.json``, TRAIN_SET / TEST_SET / PROBE_SET);
* ``ccpg``: ``<sid:3 digits>/U<u>_D<d>[_BG]/<view>``; train = ids 000-099, test = 100-199;
* ``sustech1k``: ``<sid:4 digits>/<NN>-<covariate>/<view:3 digits>``; train = the 250 ids listed
  in ``sustech1k_train.txt`` beside this module, test = the rest.

Only id lists small enough to keep are kept; the others (Gait3D's 3000 ids and 1000 probe
sequences) are read from the user's copy of the partition file (``--split FILE.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from core import benchmarks as B
from core.errors import ConfigError
from core.readers import tree
from core.readers.base import RawSequence, ScanReport


SUSTECH1K_TRAIN_FILE = Path(__file__).with_name("sustech1k_train.txt")


@lru_cache(maxsize=1)
def sustech1k_train() -> frozenset[str]:
    lines = SUSTECH1K_TRAIN_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(x.strip() for x in lines if x.strip() and not x.startswith("#"))


@dataclass(frozen=True)
class Preset:
    name: str                       # the format name
    title: str
    protocol: str                   # its protocol in core.evaluate.protocols
    sid_re: str
    seq_re: str
    view_re: str
    pattern: str | None             # how its sequence folder names read (condition, clothes)
    finish: Callable[[RawSequence], None]
    train_rule: Callable[[list[str]], list[str]] | None   # official training ids; None: the partition file decides
    layout: str                     # as the docs write it

    def looks_like(self, root: Path) -> tuple[float, str]:
        names = _sample_names(root)
        if not names:
            return 0.0, "no <sid>/<seq>/<view>/ folders with frames"
        fits = [all(re.fullmatch(rx, n) for rx, n in zip((self.sid_re, self.seq_re, self.view_re), triple))
                for triple in names]
        share = sum(fits) / len(fits)
        if share == 0:
            return 0.0, f"folder names are not {self.layout} (e.g. {'/'.join(names[0])})"
        # above the generic tree wherever every sampled folder fits
        return round(0.3 + 0.6 * share, 3), f"{sum(fits)} of {len(fits)} sampled sequences named {self.layout}"

    def scan(self, root: Path, pattern: str | None = None) -> ScanReport:
        report = tree.scan(root, pattern or self.pattern, format=self.name, finish=self.finish)
        report.notes.append(f"{self.title} preset: {self.layout}; protocol {self.protocol}")
        return report

    def official_train(self, ids: list[str]) -> list[str]:
        if self.train_rule is None:
            raise ConfigError(f"split 'official': {self.title}'s official split (and its probe sequences) "
                              f"is in its partition file; give it with --split, e.g. --split {self.title}.json "
                              f"(OpenGait's datasets/{self.title}/{self.title}.json)")
        return self.train_rule(ids)


def _sample_names(root: Path, per_level: int = 3) -> list[tuple[str, str, str]]:
    out = []
    for sid_dir in tree.subdirs(root)[:per_level]:
        for seq_dir in tree.subdirs(sid_dir)[:per_level]:
            for view_dir in tree.subdirs(seq_dir)[:per_level]:
                out.append((sid_dir.name, seq_dir.name, view_dir.name))
    return out


def _role_by_types(gallery: tuple[str, ...], substring: bool = False) -> Callable[[RawSequence], None]:
    def finish(raw: RawSequence) -> None:
        hit = B.contains_any(raw.seq_type, gallery) if substring else raw.seq_type in gallery
        raw.role = "gallery" if hit else "probe"
    return finish


def _ccpg_finish(raw: RawSequence) -> None:
    raw.role = B.ccpg_role(raw.seq_type)
    raw.camera = B.ccpg_camera(raw.view)


def _no_role(raw: RawSequence) -> None:
    """Gait3D's probes are named by its partition file, read with the split."""


def _numbered(ids: list[str], keep: Callable[[int], bool]) -> list[str]:
    return [i for i in ids if i.isdigit() and keep(int(i))]


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("oumvlp", "OUMVLP", "oumvlp", r"\d{5}", r"0[01]", r"\d{3}", None,
           _role_by_types(B.OUMVLP_GALLERY), lambda ids: _numbered(ids, lambda i: i % 2 == 1 and i != 10307),
           "<sid:5 digits>/<00|01>/<view>"),
    Preset("gait3d", "Gait3D", "gait3d", r"\d{4}", r"camid\d+_videoid\d+", r"seq\d+",
           r"(?P<condition>camid\d+)_videoid\d+", _no_role, None, "<sid:4 digits>/camid<C>_videoid<V>/seq<N>"),
    Preset("ccpg", "CCPG", "ccpg", r"\d{3}", r"U\d+_D\d+(_BG)?", r"[^/]+",
           r"(?P<clothes>U\d+_D\d+)(?:_BG)?", _ccpg_finish, lambda ids: _numbered(ids, lambda i: i < 100),
           "<sid:3 digits>/U<u>_D<d>[_BG]/<view>"),
    Preset("sustech1k", "SUSTech1K", "sustech1k", r"\d{4}", r"\d{2}-[a-z][a-z0-9-]*", r"\d{3}", "{seq}-{condition}",
           _role_by_types(B.SUSTECH1K_GALLERY, substring=True),
           lambda ids: [i for i in ids if i in sustech1k_train()], "<sid:4 digits>/<NN>-<covariate>/<view>"),
)}


def get(name: str) -> Preset | None:
    return PRESETS.get(name)
