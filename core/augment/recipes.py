"""Model-free clothing recipes: what one variant's edit is (kind, colours, pattern, hem and fit),
drawn once per sequence from a seed and, when given, the other training identities' colours.

A :class:`Recipe` is fully resolved, so applying it (:mod:`core.augment.modelfree`) needs no
randomness and every frame of a variant wears the same outfit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from core.errors import ConfigError
from core.imaging import to_lab
from core.parts import COAT, LOWER, UPPER


KINDS = ("recolour", "retexture", "coat", "skirt")
# Skirt is opt-in: the CLI and the lead's defaults name the three kinds below.
DEFAULT_KINDS = ("recolour", "retexture", "coat")
PATTERNS = ("stripes", "checks", "dots")

GARMENT_LABELS = {"upper": UPPER, "lower": LOWER, "coat": COAT}

RGB = tuple[int, int, int]

# Names only matter for describe(); any RGB is allowed in a recipe.
NAMED_COLOURS: tuple[tuple[str, RGB], ...] = (
    ("black", (28, 28, 30)), ("charcoal", (62, 64, 68)), ("grey", (124, 124, 128)),
    ("light grey", (184, 184, 186)), ("white", (232, 232, 226)), ("navy", (34, 44, 92)),
    ("royal blue", (52, 86, 180)), ("blue", (30, 50, 200)), ("light blue", (136, 176, 220)), ("teal", (40, 128, 130)),
    ("green", (54, 124, 64)), ("bright green", (70, 210, 70)), ("dark green", (38, 72, 50)), ("olive", (98, 104, 54)),
    ("khaki", (152, 142, 98)), ("beige", (200, 184, 148)), ("camel", (184, 140, 90)),
    ("brown", (108, 72, 44)), ("mustard", (198, 160, 48)), ("yellow", (226, 198, 62)),
    ("orange", (226, 124, 42)), ("red", (188, 40, 40)), ("burgundy", (112, 28, 44)),
    ("pink", (228, 150, 172)), ("purple", (112, 62, 142)), ("lavender", (170, 150, 206)),
)
_PALETTE = {name: rgb for name, rgb in NAMED_COLOURS}
# Built-in choices when no garment pool is given; trousers and coats keep to plausible shades.
_UPPER_CHOICES = tuple(n for n, _ in NAMED_COLOURS)
_LOWER_CHOICES = ("black", "charcoal", "grey", "navy", "light blue", "olive", "khaki", "beige", "brown", "burgundy")
_COAT_CHOICES = ("black", "charcoal", "grey", "navy", "olive", "dark green", "khaki", "beige", "camel", "brown",
                 "burgundy")
_ACCENT_CHOICES = ("white", "black", "light grey", "yellow", "red", "navy", "light blue", "mustard", "pink")
_NAMED_LAB = to_lab(np.asarray([v for _, v in NAMED_COLOURS], np.float32))


def colour_name(rgb: Iterable[int]) -> str:
    """Nearest named colour in CIE Lab, where distances roughly match how different colours look."""
    c = to_lab(np.asarray([tuple(rgb)], np.float32))
    d = ((_NAMED_LAB - c) ** 2).sum(1)
    return NAMED_COLOURS[int(d.argmin())][0]


def as_rgb(c: Iterable[Any]) -> RGB:
    r, g, b = (int(round(float(v))) for v in c)
    return (min(max(r, 0), 255), min(max(g, 0), 255), min(max(b, 0), 255))


@dataclass
class Recipe:
    """One clothing edit, fully resolved so applying it needs no randomness."""

    kind: str
    seed: int
    colours: dict[str, RGB] = field(default_factory=dict)      # garment name -> new base colour
    accents: dict[str, RGB] = field(default_factory=dict)      # garment name -> pattern colour
    pattern: str | None = None
    pattern_scale: float = 0.05   # pattern period as a fraction of the person's height
    pattern_angle: float = 0.0    # stripes only: 0 = horizontal bands, 90 = vertical
    length: float = 1.0           # hem position: 0 = hip, 1 = knee (coat / skirt)
    looseness: float = 0.03       # extra width each side, fraction of the person's height
    flare: float = 0.0            # extra width at the hem (A-line), fraction of the person's height
    colour_source: str = "palette"   # 'pool' when drawn from other training identities

    def describe(self) -> str:
        def pair(g: str) -> str:
            base = colour_name(self.colours[g])
            return f"{g} {base}/{colour_name(self.accents[g])}" if g in self.accents else f"{g} {base}"

        if self.kind == "recolour":
            return "recolour: " + ", ".join(f"{g} {colour_name(c)}" for g, c in self.colours.items())
        if self.kind == "retexture":
            size = "fine" if self.pattern_scale < 0.045 else "broad" if self.pattern_scale > 0.065 else "medium"
            what = self.pattern or "pattern"
            if what == "stripes":
                what = {0: "horizontal stripes", 90: "vertical stripes"}.get(int(round(self.pattern_angle)),
                                                                            "diagonal stripes")
            return f"retexture: {size} {what}; " + ", ".join(pair(g) for g in self.colours)
        if self.kind == "coat":
            length = "long" if self.length >= 1.0 else "short" if self.length < 0.8 else "mid-length"
            fit = "loose " if self.looseness >= 0.035 else "fitted " if self.looseness < 0.02 else ""
            return f"{length} {fit}coat, {colour_name(self.colours.get('coat', (0, 0, 0)))}"
        if self.kind == "skirt":
            length = "calf-length" if self.length >= 1.25 else "knee-length" if self.length >= 0.9 else "short"
            return f"{length} A-line skirt, {colour_name(self.colours.get('lower', (0, 0, 0)))}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "seed": int(self.seed),
                "colours": {g: list(c) for g, c in self.colours.items()},
                "accents": {g: list(c) for g, c in self.accents.items()},
                "pattern": self.pattern, "pattern_scale": float(self.pattern_scale),
                "pattern_angle": float(self.pattern_angle), "length": float(self.length),
                "looseness": float(self.looseness), "flare": float(self.flare),
                "colour_source": self.colour_source}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Recipe":
        return cls(kind=str(d["kind"]), seed=int(d.get("seed", 0)),
                   colours={str(g): as_rgb(c) for g, c in (d.get("colours") or {}).items()},
                   accents={str(g): as_rgb(c) for g, c in (d.get("accents") or {}).items()},
                   pattern=d.get("pattern"), pattern_scale=float(d.get("pattern_scale", 0.05)),
                   pattern_angle=float(d.get("pattern_angle", 0.0)), length=float(d.get("length", 1.0)),
                   looseness=float(d.get("looseness", 0.03)), flare=float(d.get("flare", 0.0)),
                   colour_source=str(d.get("colour_source", "palette")))

    def signature(self) -> tuple:
        return (self.kind, tuple(sorted(self.colours.items())), tuple(sorted(self.accents.items())), self.pattern,
                round(self.pattern_scale, 3), round(self.pattern_angle), round(self.length, 2),
                round(self.looseness, 3), round(self.flare, 3))


def _pool_by_garment(pool) -> dict[int, list[RGB]]:
    out: dict[int, list[RGB]] = {}
    for label, colour in pool or ():
        if isinstance(label, str):
            label = GARMENT_LABELS.get(label.lower().replace("_clothes", ""), -1)
        out.setdefault(int(label), [])
        c = as_rgb(colour)
        if c not in out[int(label)]:
            out[int(label)].append(c)
    return out


def _contrast(a: RGB, b: RGB) -> float:
    return float(np.abs(np.subtract(a, b, dtype=np.int32)).sum())


class _Picker:
    """Draws garment colours, from the other identities' pool when one is given."""

    def __init__(self, rng: np.random.Generator, pool):
        self.rng = rng
        self.by = _pool_by_garment(pool)
        self.all = sorted({c for cs in self.by.values() for c in cs})

    @property
    def pooled(self) -> bool:
        return bool(self.all)

    def garment(self, label: int, names: Sequence[str], avoid: RGB | None = None) -> RGB:
        cands = self.by.get(label) or self.all or [_PALETTE[n] for n in names]
        if avoid is not None and len(cands) > 1:
            far = [c for c in cands if _contrast(c, avoid) > 60]
            cands = far or cands
        return cands[int(self.rng.integers(len(cands)))]

    def accent(self, base: RGB) -> RGB:
        # Pattern colours also come from other people's clothes when possible, but must contrast.
        cands = [c for c in self.all if _contrast(c, base) > 120]
        if not cands:
            cands = [c for c in (_PALETTE[n] for n in _ACCENT_CHOICES) if _contrast(c, base) > 120]
        return cands[int(self.rng.integers(len(cands)))]


def _draw(kind: str, rng: np.random.Generator, picker: _Picker) -> Recipe:
    seed = int(rng.integers(2 ** 31))
    src = "pool" if picker.pooled else "palette"
    if kind == "recolour":
        upper = picker.garment(UPPER, _UPPER_CHOICES)
        lower = picker.garment(LOWER, _LOWER_CHOICES, avoid=upper)
        coat = picker.garment(COAT, _COAT_CHOICES, avoid=upper)
        return Recipe(kind, seed, colours={"upper": upper, "lower": lower, "coat": coat}, colour_source=src)
    if kind == "retexture":
        targets = (["upper"], ["lower"], ["upper", "lower"])[int(rng.choice(3, p=[0.5, 0.2, 0.3]))]
        pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
        colours, accents = {}, {}
        for g in targets:
            colours[g] = picker.garment(GARMENT_LABELS[g], _UPPER_CHOICES if g == "upper" else _LOWER_CHOICES)
            accents[g] = picker.accent(colours[g])
        angle = float(rng.choice([0.0, 90.0, 45.0, -45.0])) if pattern == "stripes" else 0.0
        return Recipe(kind, seed, colours=colours, accents=accents, pattern=pattern,
                      pattern_scale=float(round(rng.uniform(0.03, 0.08), 3)), pattern_angle=angle,
                      colour_source=src)
    if kind == "coat":
        return Recipe(kind, seed, colours={"coat": picker.garment(COAT, _COAT_CHOICES)},
                      length=float(round(rng.uniform(0.7, 1.15), 2)),
                      looseness=float(round(rng.uniform(0.012, 0.05), 3)),
                      flare=float(round(rng.uniform(0.0, 0.03), 3)), colour_source=src)
    if kind == "skirt":
        return Recipe(kind, seed, colours={"lower": picker.garment(LOWER, _LOWER_CHOICES)},
                      length=float(round(rng.uniform(0.9, 1.4), 2)), looseness=0.006,
                      flare=float(round(rng.uniform(0.03, 0.07), 3)), colour_source=src)
    raise ConfigError(f"unknown augmentation kind {kind!r}; choose from {', '.join(KINDS)}")


def plan_variants(n: int, *, seed: int, kinds: Sequence[str] | None = None,
                  garment_pool: Sequence[tuple[int | str, Sequence[int]]] | None = None) -> list[Recipe]:
    """``n`` distinct recipes, deterministic from ``seed``.

    Kinds are taken round-robin from a seeded shuffle so small ``n`` still mixes kinds. Colours
    come from ``garment_pool`` (garment label, RGB) of *other* training identities when given,
    as DLCR dresses a person in other people's outfits.
    """
    kinds = tuple(kinds) if kinds else DEFAULT_KINDS
    for k in kinds:
        if k not in KINDS:
            raise ConfigError(f"unknown augmentation kind {k!r}; choose from {', '.join(KINDS)}")
    rng = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF)
    order = [kinds[i] for i in rng.permutation(len(kinds))]
    picker = _Picker(rng, garment_pool)
    out: list[Recipe] = []
    seen: set[tuple] = set()
    for i in range(max(int(n), 0)):
        kind = order[i % len(order)]
        r = _draw(kind, rng, picker)
        for _ in range(24):   # a tiny pool can repeat itself; continuous parameters usually break ties
            if r.signature() not in seen:
                break
            r = _draw(kind, rng, picker)
        else:
            # Pool exhausted for this kind: fall back to the built-in palette rather than repeat.
            r = _draw(kind, rng, _Picker(rng, None))
        seen.add(r.signature())
        out.append(r)
    return out
