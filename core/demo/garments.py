"""Outfits per sequence: the identity's everyday clothes, bags (bg) and coats (cl).

Normal clothes are fitted (their width follows the body by a constant cloth thickness), so in a
silhouette they carry no identity; only colours differ per identity. Bags and coats vary per
sequence and change the silhouette on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.demo.body import rng_for
from core.parts import ARMS, BAG, COAT, HEAD, LEGS, LOWER, NUM_LABELS, SHOES, UPPER

CLOTH = 0.008   # metres every fitted garment adds to the body radius (same for everyone)

SHIRT_COLOURS = (
    ("red", (186, 42, 42)), ("white", (228, 228, 222)), ("navy", (36, 46, 96)), ("green", (52, 122, 62)),
    ("yellow", (220, 188, 64)), ("grey", (128, 128, 130)), ("light blue", (140, 182, 222)), ("black", (32, 32, 34)),
    ("orange", (224, 122, 42)), ("purple", (110, 62, 140)), ("pink", (226, 152, 172)), ("teal", (42, 130, 132)),
    ("maroon", (120, 30, 44)), ("mustard", (196, 160, 48)),
)
TROUSER_COLOURS = (
    ("dark blue", (34, 44, 78)), ("black", (28, 28, 30)), ("grey", (104, 104, 110)), ("beige", (196, 180, 146)),
    ("brown", (110, 74, 46)), ("olive", (98, 104, 56)), ("light blue", (120, 150, 190)), ("charcoal", (60, 62, 66)),
)
SHOE_COLOURS = (("black", (24, 24, 24)), ("white", (232, 232, 232)), ("brown", (96, 60, 34)),
                ("grey", (120, 120, 124)), ("red", (170, 40, 40)), ("navy", (30, 40, 80)))
COAT_COLOURS = (("grey", (112, 112, 116)), ("black", (26, 26, 28)), ("camel", (184, 142, 92)),
                ("navy", (34, 42, 80)), ("dark green", (40, 74, 52)), ("burgundy", (110, 28, 42)),
                ("beige", (200, 186, 150)), ("khaki", (150, 140, 96)))
BAG_COLOURS = (("black", (22, 22, 24)), ("brown", (104, 66, 38)), ("tan", (190, 150, 100)),
               ("dark red", (120, 26, 30)), ("navy", (30, 40, 84)), ("grey", (96, 98, 104)))
SKIN_TONES = ((236, 200, 172), (222, 176, 140), (196, 146, 108), (160, 112, 78), (118, 80, 56), (90, 60, 44))
TOPS = (("t-shirt", False), ("polo shirt", False), ("long-sleeved shirt", True), ("sweater", True))
BAG_KINDS = ("shoulder", "backpack", "handbag")
BAG_NAMES = {"shoulder": "shoulder bag", "backpack": "backpack", "handbag": "handbag"}
COAT_STYLES = (
    # name, hem below the hip joint as a fraction of the thigh, looseness (m), sleeve looseness (m).
    # Long, loose coats hide the knees and the torso's width, as real ones do: that is what makes
    # CL the hard condition (CASIA-B: about 20 points below NM).
    ("long coat", 1.55, 0.085, 0.030),
    ("knee-length trench coat", 1.20, 0.075, 0.026),
    ("puffer jacket", 0.50, 0.130, 0.050),
    ("wool overcoat", 1.35, 0.095, 0.030),
)


@dataclass(frozen=True)
class Bag:
    kind: str            # 'shoulder' | 'backpack' | 'handbag'
    side: str            # 'l' | 'r' : which side it hangs on / which hand holds it
    size: float          # scale factor around 1
    colour: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Coat:
    style: str
    length: float        # hem below the hip joint, fraction of the thigh length
    loose: float         # metres added to the torso half-width
    sleeve: float        # metres added to the arm radius
    colour: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Outfit:
    condition: str                   # 'nm' | 'bg' | 'cl'
    clothes_id: str
    top: str
    long_sleeves: bool
    colours: dict[str, str] = field(default_factory=dict)           # garment -> colour name
    rgb: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # label -> colour
    bag: Bag | None = None
    coat: Coat | None = None

    @property
    def description(self) -> str:
        text = (f"{self.colours['upper']} {self.top}, {self.colours['lower']} trousers, "
                f"{self.colours['shoes']} shoes")
        if self.coat is not None:
            text += f", {self.coat.colour} {self.coat.style}"
        if self.bag is not None:
            text += f", {self.bag.colour} {BAG_NAMES[self.bag.kind]}"
        return text

    def palette(self) -> np.ndarray:
        pal = np.zeros((NUM_LABELS, 3), np.uint8)
        for label, rgb in self.rgb.items():
            pal[label] = rgb
        return pal

    def to_dict(self) -> dict[str, Any]:
        return {"condition": self.condition, "clothes_id": self.clothes_id, "description": self.description,
                "bag": None if self.bag is None else self.bag.kind,
                "coat": None if self.coat is None else self.coat.style}


def _pick(r: np.random.Generator, options):
    return options[int(r.integers(len(options)))]


def _everyday(r: np.random.Generator, condition: str, clothes_id: str) -> Outfit:
    shirt = _pick(r, SHIRT_COLOURS)
    trousers = _pick(r, TROUSER_COLOURS)
    shoes = _pick(r, SHOE_COLOURS)
    skin = _pick(r, SKIN_TONES)
    top, long_sleeves = _pick(r, TOPS)
    hair = tuple(int(c * 0.55) for c in skin)
    head = tuple(int(0.6 * s + 0.4 * h) for s, h in zip(skin, hair))
    rgb = {HEAD: head, UPPER: shirt[1], LOWER: trousers[1], ARMS: skin, LEGS: skin, SHOES: shoes[1],
           BAG: (0, 0, 0), COAT: (0, 0, 0)}
    return Outfit(condition=condition, clothes_id=clothes_id, top=top, long_sleeves=long_sleeves,
                  colours={"upper": shirt[0], "lower": trousers[0], "shoes": shoes[0]}, rgb=rgb)


def _with_bag(base: Outfit, r: np.random.Generator, kind: str) -> Outfit:
    colour = _pick(r, BAG_COLOURS)
    bag = Bag(kind=kind, side=str(_pick(r, ("l", "r"))), size=float(r.uniform(0.9, 1.12)),
              colour=colour[0], rgb=colour[1])
    rgb = dict(base.rgb)
    rgb[BAG] = colour[1]
    return Outfit(condition="bg", clothes_id=base.clothes_id, top=base.top, long_sleeves=base.long_sleeves,
                  colours=base.colours, rgb=rgb, bag=bag)


def _with_coat(base: Outfit, r: np.random.Generator, style_index: int, clothes_id: str) -> Outfit:
    name, length, loose, sleeve = COAT_STYLES[style_index % len(COAT_STYLES)]
    colour = _pick(r, COAT_COLOURS)
    coat = Coat(style=name, length=float(length * r.uniform(0.95, 1.05)), loose=float(loose * r.uniform(0.9, 1.1)),
                sleeve=float(sleeve * r.uniform(0.9, 1.1)), colour=colour[0], rgb=colour[1])
    rgb = dict(base.rgb)
    rgb[COAT] = colour[1]
    return Outfit(condition="cl", clothes_id=clothes_id, top=base.top, long_sleeves=True,
                  colours=base.colours, rgb=rgb, coat=coat)


def casia_outfit(seed: int, sid: str, seq_type: str) -> Outfit:
    """The outfit of one CASIA-B sequence (``seq_type`` like 'bg-02')."""
    condition, idx = seq_type.split("-")
    base = _everyday(rng_for("outfit", int(seed), sid), "nm", f"{sid}_nm")
    if condition == "nm":
        return base
    if condition == "bg":
        r = rng_for("bag", int(seed), sid)
        kinds = list(BAG_KINDS)
        first = int(r.integers(len(kinds)))
        second = (first + 1 + int(r.integers(len(kinds) - 1))) % len(kinds)   # a different kind
        kind = kinds[first] if int(idx) % 2 == 1 else kinds[second]
        out = _with_bag(base, rng_for("bag", int(seed), sid, seq_type), kind)
        return Outfit(condition="bg", clothes_id=f"{sid}_bg", top=out.top, long_sleeves=out.long_sleeves,
                      colours=out.colours, rgb=out.rgb, bag=out.bag)
    if condition == "cl":
        r = rng_for("coat", int(seed), sid)
        first = int(r.integers(len(COAT_STYLES)))
        style = first + (int(idx) - 1) * (1 + int(r.integers(len(COAT_STYLES) - 1)))
        return _with_coat(base, rng_for("coat", int(seed), sid, seq_type), style, f"{sid}_cl")
    raise ValueError(f"unknown condition in sequence type {seq_type!r}")


def ccvid_outfit(seed: int, sid: str, outfit: int) -> Outfit:
    """CCVID outfits: 1 = everyday clothes, 2 = a coat over them, 3 = other everyday clothes."""
    clothes_id = f"{sid}_c{outfit}"
    base = _everyday(rng_for("outfit", int(seed), sid), "nm", clothes_id)
    if outfit == 1:
        return base
    if outfit == 2:
        r = rng_for("ccvid-coat", int(seed), sid)
        return _with_coat(base, r, int(r.integers(len(COAT_STYLES))), clothes_id)
    other = _everyday(rng_for("ccvid-outfit", int(seed), sid, outfit), "nm", clothes_id)
    rgb = dict(other.rgb)
    for label in (HEAD, ARMS, LEGS):          # same person, same skin and hair
        rgb[label] = base.rgb[label]
    return Outfit(condition="nm", clothes_id=clothes_id, top=other.top, long_sleeves=other.long_sleeves,
                  colours=other.colours, rgb=rgb)
