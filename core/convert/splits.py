"""Train / test identity splits and the gallery / probe roles within test identities.

Spec strings: ``official`` (CASIA-B: 001-074 train, 075-124 test), ``first:K`` (the first K ids in
sorted order train), ``random:F[,SEED]`` (a seeded fraction F of ids train). Within test ids,
CASIA-B's gallery is nm-01..nm-04; every other sequence is a probe.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from core.errors import ConfigError
from core.records import CASIA_B_GALLERY


@dataclass
class Split:
    spec: str
    train_ids: list[str]
    test_ids: list[str]

    def role(self, sid: str, seq_type: str, source_role: str | None = None) -> str:
        """Where a sequence goes. A test sequence keeps the gallery/probe role its source gives
        (CCVID lists, GREW folders); otherwise CASIA-B's rule decides."""
        if sid in self.train_ids:
            return "train"
        if source_role in ("gallery", "probe"):
            return source_role
        return "gallery" if seq_type in CASIA_B_GALLERY else "probe"

    def summary(self) -> dict:
        return {"spec": self.spec, "train_ids": len(self.train_ids), "test_ids": len(self.test_ids),
                "train_range": _range(self.train_ids), "test_range": _range(self.test_ids)}


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
    _check_leak("official", train, test)
    return Split("official", train, test)


def _check_leak(spec: str, train: list[str], test: list[str]) -> None:
    leaked = set(train) & set(test)
    if leaked:
        shown = ", ".join(sorted(leaked)[:10]) + (" ..." if len(leaked) > 10 else "")
        raise ConfigError(f"split {spec!r}: {len(leaked)} identities in both train and test ({shown}); "
                          "a test identity seen in training would inflate every result")


def make_split(spec: str, ids: list[str]) -> Split:
    ids = sorted(set(ids))
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
            raise ConfigError(f"split {spec!r}: fraction must lie strictly between 0 and 1")
        shuffled = ids[:]
        random.Random(seed).shuffle(shuffled)
        train = sorted(shuffled[:max(1, round(frac * len(ids)))])
    else:
        raise ConfigError(f"unknown split {spec!r}; use official, first:K or random:F[,SEED]")
    test = [i for i in ids if i not in set(train)]
    if not train:
        raise ConfigError(f"split {spec!r} leaves no training identity among {len(ids)} ids")
    if not test:
        raise ConfigError(f"split {spec!r} leaves no test identity among {len(ids)} ids")
    _check_leak(spec, train, test)   # cannot trip by construction; the guard the protocol relies on
    return Split(spec, train, test)
