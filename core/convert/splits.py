"""Train / test identity splits and the gallery / probe roles within test identities.

Spec strings: ``official`` (CASIA-B: 001-074 train, 075-124 test; a preset's own, see
:mod:`core.readers.presets`), ``first:K`` (the first K ids in sorted order train),
``random:F[,SEED]`` (a seeded fraction F of ids train), or the path of an OpenGait partition file
``*.json`` (``TRAIN_SET`` and ``TEST_SET`` id lists, optionally Gait3D's ``PROBE_SET`` of
``<sid>-<type>-<view>`` probe sequences); ids of the tree in neither list are left out.

Within test ids: the gallery/probe role the source or preset gives; else the sequences named by
a ``PROBE_SET`` are probes and the rest gallery; else the ``gallery`` sequence types (or
conditions) chosen; else CASIA-B's nm-01..nm-04. Every other test sequence is a probe.

``none`` is extraction only: every sequence is written unsplit (role ``unsplit``, folder
``unsplit/``), for a folder of one video or one walker that no protocol can divide; training
and benchmark evaluation refuse such a dataset until it is converted again with a split.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from core.errors import ConfigError, InputError
from core.records import CASIA_B_GALLERY

NONE = "none"
UNSPLIT_WARNING = ("split none: every sequence is written unsplit (extraction only); training and benchmark "
                   "evaluation need a dataset converted with a split")
# what a refused split says the user can do instead
_NONE_HINT = "; --split none converts everything unsplit (extraction only)"


@dataclass
class Split:
    spec: str
    train_ids: list[str]
    test_ids: list[str]
    gallery: tuple[str, ...] = ()                 # test sequence types or conditions that form the gallery
    probe_set: frozenset[str] | None = None       # Gait3D: the probe sequences, '<sid>-<type>-<view>'
    left_out: list[str] = field(default_factory=list)   # ids of the source in neither list of a partition file
    unsplit_ids: list[str] = field(default_factory=list)  # split none: every id, in no set

    @property
    def is_none(self) -> bool:
        return self.spec == NONE

    def role(self, sid: str, seq_type: str, source_role: str | None = None, *, view: str = "",
             condition: str = "") -> str | None:
        """Where a sequence goes (None: its identity is in neither set). A test sequence keeps
        the gallery/probe role its source gives (CCVID lists, GREW folders, presets)."""
        if self.is_none:
            return "unsplit"
        if sid in self._train:
            return "train"
        if sid not in self._test:
            return None
        if source_role in ("gallery", "probe"):
            return source_role
        if self.probe_set is not None:
            return "probe" if f"{sid}-{seq_type}-{view}" in self.probe_set else "gallery"
        if self.gallery:
            return "gallery" if seq_type in self.gallery or condition in self.gallery else "probe"
        return "gallery" if seq_type in CASIA_B_GALLERY else "probe"

    # role() is asked once per sequence: membership in sets, not lists
    @cached_property
    def _train(self) -> frozenset[str]:
        return frozenset(self.train_ids)

    @cached_property
    def _test(self) -> frozenset[str]:
        return frozenset(self.test_ids)

    def summary(self) -> dict:
        if self.is_none:
            return {"spec": NONE, "train_ids": 0, "test_ids": 0, "train_range": "—", "test_range": "—",
                    "unsplit_ids": len(self.unsplit_ids),
                    "unsplit_range": _range(self.unsplit_ids), "warning": UNSPLIT_WARNING}
        out = {"spec": self.spec, "train_ids": len(self.train_ids), "test_ids": len(self.test_ids),
               "train_range": _range(self.train_ids), "test_range": _range(self.test_ids)}
        if self.gallery:
            out["gallery"] = list(self.gallery)
        if self.probe_set is not None:
            out["probe_sequences"] = len(self.probe_set)
        if self.left_out:
            out["left_out_ids"] = len(self.left_out)
        return out


def _range(ids: list[str]) -> str:
    return f"{ids[0]}–{ids[-1]}" if ids else "—"


def default_spec(ids: list[str]) -> str:
    """CASIA-B's official split when the ids reach into the test range, else the first half trains."""
    if any(int(i) >= 75 for i in ids if i.isdigit()) and any(int(i) <= 74 for i in ids if i.isdigit()):
        return "official"
    return f"first:{max(1, len(ids) // 2)}"


def split_from_roles(roles: dict[str, set[str]]) -> Split:
    """The split a source fixes itself (``sid -> roles its sequences have``): CCVID's train list,
    GREW's train folder. An identity with both a training and a test role is a leak and refused."""
    train = sorted(sid for sid, r in roles.items() if "train" in r)
    test = sorted(sid for sid, r in roles.items() if r - {"train"})
    check_leak("official", train, test)
    return Split("official", train, test)


def split_from_file(path: str | Path, ids: list[str]) -> Split:
    """An OpenGait partition file (``{"TRAIN_SET": [...], "TEST_SET": [...]}``, Gait3D's also
    ``"PROBE_SET"``) over the source's ``ids``; an id in both lists is refused, by name."""
    p = Path(path).expanduser()
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(p, "no such partition file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(p, f"not a readable JSON partition file ({exc})") from None
    if not isinstance(data, dict):
        raise InputError(p, "a partition file holds an object with TRAIN_SET and TEST_SET lists")
    lists = {}
    for key in ("TRAIN_SET", "TEST_SET", "PROBE_SET"):
        value = data.get(key)
        if value is None and key != "PROBE_SET":
            raise InputError(p, f"no {key} list (a partition file has TRAIN_SET and TEST_SET)")
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value)):
            raise InputError(p, f"{key} must be a list of ids")
        lists[key] = [str(v) for v in value] if value is not None else None
    both = sorted(set(lists["TRAIN_SET"]) & set(lists["TEST_SET"]))
    if both:
        shown = ", ".join(both[:10]) + (" ..." if len(both) > 10 else "")
        raise InputError(p, f"identit{'y' if len(both) == 1 else 'ies'} {shown} in both TRAIN_SET and TEST_SET: "
                            f"a test identity seen in training would inflate every result")
    have = set(ids)
    train = sorted(have & set(lists["TRAIN_SET"]))
    test = sorted(have & set(lists["TEST_SET"]))
    if not train and not test:
        raise InputError(p, f"none of the source's {len(have)} ids is in its TRAIN_SET or TEST_SET")
    probe = lists["PROBE_SET"]
    return Split(str(p), train, test, probe_set=frozenset(probe) if probe is not None else None,
                 left_out=sorted(have - set(train) - set(test)))


def check_leak(spec: str, train: list[str], test: list[str]) -> None:
    leaked = set(train) & set(test)
    if leaked:
        shown = ", ".join(sorted(leaked)[:10]) + (" ..." if len(leaked) > 10 else "")
        raise ConfigError(f"split {spec!r}: {len(leaked)} identities in both train and test ({shown}); "
                          "a test identity seen in training would inflate every result")


def make_split(spec: str, ids: list[str]) -> Split:
    ids = sorted(set(ids))
    if spec.strip().lower() == NONE:
        return Split(NONE, [], [], unsplit_ids=ids)
    if spec.lower().endswith(".json"):
        return split_from_file(spec, ids)
    kind, _, arg = spec.partition(":")
    if kind == "official":
        train = [i for i in ids if i.isdigit() and int(i) <= 74]
    elif kind == "first":
        try:
            k = int(arg)
        except ValueError:
            raise ConfigError(f"split {spec!r}: 'first:K' needs an integer K") from None
        train = ids[:k]
    elif kind == "random":
        parts = arg.split(",")
        try:
            frac = float(parts[0])
            seed = int(parts[1]) if len(parts) > 1 else 0
        except (ValueError, IndexError):
            raise ConfigError(f"split {spec!r}: 'random:F[,SEED]' needs a fraction F in (0,1)") from None
        if not 0 < frac < 1:
            raise ConfigError(f"split {spec!r}: fraction must lie strictly between 0 and 1{_NONE_HINT}")
        shuffled = ids[:]
        random.Random(seed).shuffle(shuffled)
        train = sorted(shuffled[:max(1, round(frac * len(ids)))])
    else:
        raise ConfigError(f"unknown split {spec!r}; use official, first:K, random:F[,SEED], a partition FILE.json "
                          "or none (extraction only)")
    test = [i for i in ids if i not in set(train)]
    if not train:
        raise ConfigError(f"split {spec!r} leaves no training identity among {len(ids)} ids{_NONE_HINT}")
    if not test:
        raise ConfigError(f"split {spec!r} leaves no test identity among {len(ids)} ids{_NONE_HINT}")
    check_leak(spec, train, test)   # cannot trip by construction; the guard the protocol relies on
    return Split(spec, train, test)
