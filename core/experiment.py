"""The augmentation experiment's bookkeeping: run names pairing seeds and arms, and the summary of
their results (mean ± spread per condition over seeds).

One experiment is ``2 × seeds`` training runs on one dataset, all with the same model and config
except the seed and whether the merged variants are used; their names say which, so the catalog is
the only record (a reload or a restart shows the same table). Pure functions on run dicts.
"""

from __future__ import annotations

import re
import statistics
from typing import Any, Iterable

from core.evaluate import protocols

WITH, WITHOUT = "--with-variants", "--without-variants"   # run-name suffixes: the two arms
ARMS = (("with", WITH, True), ("without", WITHOUT, False))
_SEED = re.compile(r"^(?P<base>.+?)(?:--seed(?P<seed>\d+))?$")


def run_name(base: str, seed: int, arm_suffix: str) -> str:
    return f"{base}--seed{seed}{arm_suffix}"


def split_name(name: str) -> tuple[str, int | None, str] | None:
    """(experiment base, seed or None for a pre-seed pair, arm) of an experiment run's name, else None."""
    for arm, suffix, _ in ARMS:
        if name.endswith(suffix):
            m = _SEED.match(name[: -len(suffix)])
            return m["base"], (int(m["seed"]) if m["seed"] is not None else None), arm
    return None


def bases(names: Iterable[str]) -> set[str]:
    return {p[0] for p in map(split_name, names) if p}


def _protocol(a: dict, b: dict, dataset: str | None):
    return protocols.get(protocols.protocol_of(a) or protocols.protocol_of(b)
                         or (protocols.protocol_for(dataset) if dataset else protocols.DEFAULT_PROTOCOL))


def seed_rows(runs: Iterable[dict]) -> list[dict[str, Any]]:
    """One row per (experiment, seed) with both arms in the catalog: state and each headline number
    of the dataset's protocol (CASIA-B: NM, BG, CL) with, without and their difference."""
    pairs: dict[tuple[str, int | None], dict[str, dict]] = {}
    for r in runs:
        p = split_name(r["name"])
        if p:
            pairs.setdefault(p[:2], {})[p[2]] = r
    rows = []
    for (base, seed), arms in sorted(pairs.items(), key=lambda kv: (kv[0][0], kv[0][1] if kv[0][1] is not None else -1)):
        if set(arms) != {"with", "without"}:
            continue
        w, wo = arms["with"], arms["without"]
        a, b = w.get("results") or {}, wo.get("results") or {}
        ha, hb = (_protocol(a, b, (w.get("config") or {}).get("dataset")).headline(x) for x in (a, b))
        row: dict[str, Any] = {"experiment": base, "seed": seed, "state": f"{w.get('state')} / {wo.get('state')}"}
        for c in ha:
            x, y = ha[c], hb.get(c)
            row[f"{c} with"] = None if x is None else round(x, 2)
            row[f"{c} without"] = None if y is None else round(y, 2)
            # + 0.0: equal arms print 0.00, not the -0.00 a rounded tiny negative gives
            row[f"{c} Δ"] = None if x is None or y is None else round(x - y, 2) + 0.0
        rows.append(row)
    return rows


def mean_spread(values: list[float]) -> tuple[float, float] | None:
    """(mean, sample standard deviation; 0 for one value) or None without values."""
    if not values:
        return None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per experiment: how many seeds have both arms' results, and mean ± spread (sample standard
    deviation over seeds) of every with / without / Δ column, plus whether |mean Δ| exceeds the
    spread of Δ (the question a single-seed difference cannot answer)."""
    out = []
    for base in dict.fromkeys(r["experiment"] for r in rows):
        mine = [r for r in rows if r["experiment"] == base]
        cols = [k for k in mine[0] if k.endswith((" with", " without", " Δ"))]
        done = [r for r in mine if all(r.get(c) is not None for c in cols)]
        row: dict[str, Any] = {"experiment": base, "seeds": f"{len(done)} of {len(mine)} finished"}
        for c in cols:
            ms = mean_spread([r[c] for r in done])
            row[c] = None if ms is None else f"{ms[0]:.2f} ± {ms[1]:.2f}"
            if c.endswith(" Δ"):
                row[c[:-2] + " Δ beyond spread"] = (None if ms is None or len(done) < 2
                                                    else ("yes" if abs(ms[0]) > ms[1] else "no"))
        out.append(row)
    return out
