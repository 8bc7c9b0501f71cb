"""Prompts of every DLCR stage, the garment record they exchange, and outfit choice for inpainting.

The describe and summary prompts follow the DLCR recipe (docs/contracts.md, "DLCR stages"): a
vision-language model is asked what the person wears, an LLM lists the clothing items as a numbered
list. Inpainting prompts are built from the garments of *other* identities, so a variant puts a
person in someone else's clothes. The pool must hold training identities only (docs/contracts.md,
"Leakage": nothing from test identities may leak into training); choosing it is the caller's job,
this module never looks at splits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from core.errors import ConfigError
from core.seeding import stable_seed

DESCRIBE_PROMPT = ("What clothes is the person wearing? Describe the upper garment and the lower garment, "
                   "each with its type, colour and pattern.")
SUMMARY_PROMPT = ("Extract the clothing items from the following text. Answer with a numbered list, one item per "
                  "line, each written as colour, pattern, garment (for example: 1. red striped t-shirt).\n\n{text}")
NEGATIVE_PROMPT = ("deformed body, extra limbs, missing limbs, blurry, low quality, text, watermark, "
                   "cartoon, naked")
OUTFIT_TEMPLATE = "a full-body photo of a person wearing {outfit}, realistic, natural lighting"

SLOTS = ("upper", "outer", "dress", "lower", "other")


@dataclass(frozen=True)
class Garment:
    slot: str                    # one of SLOTS
    type: str                    # "t-shirt", "jeans", ...
    colour: str | None = None
    pattern: str | None = None   # "striped", "plaid", ... (None = not said / plain)

    def phrase(self) -> str:
        return " ".join(w for w in (self.colour, self.pattern, self.type) if w)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Garment":
        return cls(slot=str(d["slot"]), type=str(d["type"]), colour=d.get("colour"), pattern=d.get("pattern"))


def outfit_prompt(garments: Sequence[Garment], template: str = OUTFIT_TEMPLATE) -> str:
    phrases = [g.phrase() for g in garments]
    if not phrases:
        raise ConfigError("an outfit prompt needs at least one garment")
    outfit = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return template.format(outfit=outfit)


@dataclass
class OutfitChoice:
    """What one variant of one source sequence is dressed in, and the seed all its frames share."""
    index: int
    seed: int
    donors: list[str]
    garments: list[Garment]
    prompt: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "seed": self.seed, "donors": list(self.donors),
                "garments": [g.to_dict() for g in self.garments], "prompt": self.prompt, **self.extra}


# Seeds of the model-backed stages are positive int32s; they are recorded in every variant.
SEED_BITS = 31


def _outfit_of(garments: Sequence[Garment]) -> tuple[list[Garment], list[Garment]]:
    """(top pieces, lower pieces) of one person: a dress is a whole outfit; a coat goes over the top."""
    by = {s: [g for g in garments if g.slot == s] for s in SLOTS}
    if by["dress"]:
        return [by["dress"][0]] + by["outer"][:1], []
    return by["upper"][:1] + by["outer"][:1], by["lower"][:1]


def choose_outfits(pool: Mapping[str, Sequence[Garment]], source_id: str, n: int, *, seed: int = 0,
                   seq: str = "") -> list[OutfitChoice]:
    """``n`` outfits for ``source_id``'s sequence ``seq``, each from another identity in ``pool``.

    Donors are drawn without replacement while there are enough of them (so variants differ),
    deterministically from (seed, source, seq). A donor with no lower garment borrows one from a
    further identity, recorded among the donors.
    """
    others = sorted(sid for sid, gs in pool.items() if sid != source_id and any(_outfit_of(gs)))
    if not others:
        raise ConfigError(f"no identity other than {source_id!r} has usable garments; inpainting prompts need the "
                          f"described garments of at least one other training identity")
    rng = np.random.default_rng(stable_seed("outfits", seed, source_id, seq, bits=SEED_BITS))
    order: list[str] = []
    while len(order) < n:
        order += [others[i] for i in rng.permutation(len(others))]
    lowers = {sid: _outfit_of(pool[sid])[1] for sid in others}
    out = []
    for k in range(max(int(n), 0)):
        donor = order[k]
        top, lower = _outfit_of(pool[donor])
        donors = [donor]
        is_dress = any(g.slot == "dress" for g in top)
        if not is_dress and not lower:
            spare = [sid for sid in others if sid != donor and lowers[sid]]
            if spare:
                extra = spare[int(rng.integers(len(spare)))]
                lower, donors = lowers[extra], [donor, extra]
        garments = top + lower
        out.append(OutfitChoice(index=k, seed=stable_seed("variant", seed, source_id, seq, k, bits=SEED_BITS),
                                donors=donors, garments=garments, prompt=outfit_prompt(garments)))
    return out
