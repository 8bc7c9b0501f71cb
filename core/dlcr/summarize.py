"""Garment summaries (DLCR stage 3): an LLM condenses an identity's descriptions into garments.

The reply is free text from a language model, so parsing it is defensive: numbered or bulleted
lines are expected, plain prose is accepted (and noted), and the text is read against a vocabulary
of garment types, colours and patterns. Nothing here raises on a bad
reply: every piece that names no garment, an empty reply, or a reply with no garment at all is
listed in ``problems``, and (by default) the descriptions themselves are parsed as a fallback.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from core.dlcr.describe import GenerateOptions, generate_text
from core.device import resolve_placement
from core.hub import load_pretrained, provenance
from core.dlcr.prompts import SUMMARY_PROMPT, Garment
from core.errors import InputError, JobCancelled

GARMENT_TYPES: dict[str, tuple[str, ...]] = {
    "upper": ("t-shirt", "tshirt", "t shirt", "tee", "shirt", "blouse", "top", "tank top", "sweater", "jumper",
              "pullover", "hoodie", "sweatshirt", "polo shirt", "polo", "vest", "turtleneck", "jersey", "tunic",
              "camisole", "crop top"),
    "outer": ("coat", "jacket", "blazer", "cardigan", "parka", "raincoat", "overcoat", "trench coat",
              "windbreaker", "anorak", "puffer jacket", "down jacket", "fleece"),
    "dress": ("dress", "gown", "jumpsuit", "overalls", "romper", "sundress"),
    "lower": ("pants", "trousers", "jeans", "shorts", "skirt", "leggings", "joggers", "sweatpants", "chinos",
              "slacks", "culottes", "cargo pants", "miniskirt"),
    "other": ("shoes", "sneakers", "trainers", "boots", "sandals", "heels", "hat", "cap", "beanie", "scarf",
              "bag", "backpack", "handbag", "belt", "socks", "glasses", "sunglasses", "gloves", "tie"),
}
COLOURS = ("black", "white", "grey", "gray", "charcoal", "silver", "navy", "blue", "teal", "turquoise", "green",
           "olive", "khaki", "beige", "cream", "tan", "camel", "brown", "mustard", "yellow", "gold", "orange",
           "red", "maroon", "burgundy", "pink", "purple", "lavender", "violet", "denim", "off-white")
SHADES = ("dark", "light", "bright", "pale", "navy", "deep", "royal", "sky")
PATTERNS = {"striped": ("striped", "stripes", "stripe", "pinstriped"), "plaid": ("plaid", "tartan"),
            "checked": ("checked", "checkered", "chequered", "checks", "gingham"), "floral": ("floral", "flowered"),
            "polka-dot": ("polka dot", "polka-dot", "polka-dotted", "dotted", "spotted"),
            "camouflage": ("camouflage", "camo"), "graphic": ("graphic", "printed", "logo"),
            "tie-dye": ("tie-dye", "tie dye"), "plain": ("plain", "solid")}

_SLOT_OF = {t: slot for slot, types in GARMENT_TYPES.items() for t in types}
_TYPE_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SLOT_OF), key=len, reverse=True)) + r")\b")
_COLOUR_RE = re.compile(r"\b(?:(" + "|".join(SHADES) + r")[\s-]+)?(" + "|".join(map(re.escape, COLOURS)) + r")\b")
_PATTERN_OF = {w: p for p, ws in PATTERNS.items() for w in ws}
_PATTERN_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _PATTERN_OF), key=len, reverse=True)) + r")\b")
_ITEM_RE = re.compile(r"^\s*(?:\d+\s*[.):-]|[-*\u2022])\s*(.*\S)?\s*$")
_INLINE_NUMBERS = re.compile(r"(?<=\S)\s+\d+\s*[.)]\s+")
_CANON_TYPE = {"tshirt": "t-shirt", "t shirt": "t-shirt", "tee": "t-shirt", "polo": "polo shirt"}


@dataclass
class Summary:
    identity: str
    garments: list[Garment]
    reply: str                         # the model's raw answer ("" when not asked)
    source: str                        # "llm", "descriptions" (fallback) or "none"
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"identity": self.identity, "garments": [g.to_dict() for g in self.garments], "reply": self.reply,
                "source": self.source, "problems": list(self.problems)}


def _colour_of(text: str) -> tuple[str | None, int]:
    """Colours named in ``text`` (joined with "and") and where the last one ends."""
    found = list(_COLOUR_RE.finditer(text))
    names = list(dict.fromkeys(" ".join(w for w in c.groups() if w).replace("gray", "grey") for c in found))
    return (" and ".join(names) or None), (found[-1].end() if found else 0)


def _pattern_of(text: str) -> str | None:
    m = _PATTERN_RE.search(text)
    p = _PATTERN_OF[m.group(1)] if m else None
    return None if p == "plain" else p


def read_garments(text: str) -> list[Garment]:
    """Every garment a phrase names, each with the colour and pattern said with it.

    A garment's words are those since the previous garment ("a black coat over a white shirt");
    when none is there, the words right after it are used ("a shirt in red and jeans in blue").
    """
    low = text.lower()
    found = list(_TYPE_RE.finditer(low))
    out, cursor = [], 0
    for i, m in enumerate(found):
        before = low[cursor:m.end()]
        colour, _ = _colour_of(before)
        pattern = _pattern_of(before)
        cursor = m.end()
        if colour is None:
            nxt = found[i + 1].start() if i + 1 < len(found) else len(low)
            colour, end = _colour_of(low[m.end():nxt])
            if colour is not None:
                pattern = pattern or _pattern_of(low[m.end():m.end() + end])
                cursor = m.end() + end
        out.append(Garment(slot=_SLOT_OF[m.group(1)], type=_CANON_TYPE.get(m.group(1), m.group(1)),
                           colour=colour, pattern=pattern))
    return out


def parse_garment(text: str) -> Garment | None:
    """The first garment a short phrase names ("a dark blue striped t-shirt"), or None."""
    found = read_garments(text)
    return found[0] if found else None


def parse_garments(text: str) -> tuple[list[Garment], list[str]]:
    """Garments named in a model reply, and the problems met reading it. Never raises."""
    problems: list[str] = []
    text = (text or "").strip()
    if not text:
        return [], ["empty reply"]
    # "1. hoodie 2. shorts" on one line: give each number its own line first.
    text = _INLINE_NUMBERS.sub(lambda m: "\n" + m.group(0).lstrip(), text).strip()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    matches = [_ITEM_RE.match(ln) for ln in lines]
    numbered = any(matches)
    garments: list[Garment] = []
    for n, (line, m) in enumerate(zip(lines, matches), 1):
        item = (m.group(1) or "") if m else line
        found = read_garments(item)
        if not found and m:
            problems.append(f"line {n} {item.strip()[:60]!r} names no garment")
        garments += found
    if not garments:
        problems.append(f"no garment found in reply {text[:80]!r}")
    elif not numbered:
        problems.append("reply was not a numbered list; garments were read from free text")
    return dedupe(garments), problems


def dedupe(garments: Sequence[Garment]) -> list[Garment]:
    """Unique garments, most often named first (a summary of many frames repeats itself)."""
    counts = Counter(garments)
    first = {g: i for i, g in reversed(list(enumerate(garments)))}
    return sorted(counts, key=lambda g: (-counts[g], first[g]))


@dataclass
class SummaryConfig(GenerateOptions):
    max_new_tokens: int = 96
    max_chars: int = 2000                 # descriptions beyond this are left out of the prompt
    fallback_to_descriptions: bool = True


def summary_prompt(descriptions: Sequence[str], max_chars: int, template: str = SUMMARY_PROMPT) -> str:
    text, used = [], 0
    for d in dict.fromkeys(d.strip() for d in descriptions if d and d.strip()):
        if used + len(d) > max_chars and text:
            break
        text.append(d[:max_chars])
        used += len(d)
    return template.format(text="\n".join(text))


class GarmentSummarizer:
    """A causal LM with its chat template; ``summarize`` maps identity -> :class:`Summary`."""

    def __init__(self, source, *, device=None, dtype=None, config: SummaryConfig | None = None,
                 template: str = SUMMARY_PROMPT, allow_download: bool = False):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config or SummaryConfig()
        self.template = template
        self.device, self.dtype = resolve_placement(device, dtype, prefer="bfloat16")

        def load(folder):
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            return tokenizer, AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, dtype=self.dtype)

        self.source, (self.tokenizer, model) = load_pretrained("language model", load, source,
                                                               allow_download=allow_download)
        self.model = model.to(self.device).eval()
        if not getattr(self.tokenizer, "chat_template", None):
            raise InputError(self.source.path, "the tokenizer has no chat template; use a chat/instruct model")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.provenance = provenance("summarize", self.source, self.model, device=self.device, dtype=self.dtype,
                                     extra={"prompt": self.template, "temperature": self.config.temperature,
                                            "max_new_tokens": self.config.max_new_tokens})

    def _chat(self, descriptions: Sequence[str]) -> str:
        msg = [{"role": "user", "content": summary_prompt(descriptions, self.config.max_chars, self.template)}]
        return self.tokenizer.apply_chat_template(msg, add_generation_prompt=True, tokenize=False)

    def replies(self, batch: Sequence[Sequence[str]], batch_index: int = 0) -> list[str]:
        texts = [self._chat(d) for d in batch]
        # The chat template already wrote the BOS token where the model expects it.
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        return generate_text(self.model, inputs, self.tokenizer, self.config, batch_index=batch_index)

    def summarize(self, descriptions: Mapping[str, Sequence[str]], *,
                  should_stop: Callable[[], bool] | None = None) -> dict[str, Summary]:
        ids = list(descriptions)
        bs = max(1, int(self.config.batch_size))
        out: dict[str, Summary] = {}
        for b, start in enumerate(range(0, len(ids), bs)):
            if should_stop and should_stop():
                raise JobCancelled(f"summarising stopped after {start} of {len(ids)} identities")
            chunk = ids[start:start + bs]
            for sid, reply in zip(chunk, self.replies([descriptions[s] for s in chunk], batch_index=b)):
                out[sid] = self.read_reply(sid, reply, descriptions[sid])
        return out

    def read_reply(self, identity: str, reply: str, descriptions: Sequence[str]) -> Summary:
        garments, problems = parse_garments(reply)
        if garments:
            return Summary(identity, garments, reply, "llm", problems)
        if self.config.fallback_to_descriptions:
            fallback, _ = parse_garments("\n".join(descriptions))
            if fallback:
                return Summary(identity, fallback, reply, "descriptions",
                               problems + ["used the garments named in the descriptions instead"])
        return Summary(identity, [], reply, "none", problems)
