"""DLCR's text artifacts: LLaVA question/answer JSONL, grouped descriptions, LLM summaries, garment lists.

What the DLCR scripts write (read from their sources; restated, not copied):

* questions JSONL, one object per line: ``question_id`` (int), ``image`` (file name), ``text`` (the
  prompt), ``category``, ``dir`` (the person folder the image is in);
* answers JSONL: ``question_id``, ``prompt``, ``text`` (the answer), ``answer_id``, ``model_id``,
  ``metadata`` and ``pid`` (the person folder again); some tools write ``image``/``dir`` on the
  answer line itself, which is accepted too;
* grouped descriptions JSON: ``"<clothes>_<person>" -> [answer, ...]`` where ``<clothes>`` is the part
  of the image name before its first ``_`` (PRCC's ``A``/``B`` folded into ``AB``);
* LLM summaries JSON: ``clothes id -> reply text`` (a numbered list after a preamble);
* parsed garments JSON: ``clothes id -> [garment phrase, ...]``.

JSON files are written by ``json.dumps`` on one line, JSONL one ``json.dumps`` per line; export
writes them the same way so DLCR's own scripts can read what we export. Parsing never stops at one
bad line or entry: each becomes a ``Problem`` naming the file and line, and the rest is kept.

This module holds the artifact kinds, their records and what they mean (descriptions joined to
questions, garment phrases); :mod:`~core.dlcr_io.text_read` parses the files and
:mod:`~core.dlcr_io.text_export` writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from core.dlcr_io import Problem


QUESTIONS = "llava-questions"
ANSWERS = "llava-answers"
GROUPED = "grouped-descriptions"
SUMMARIES = "llm-summaries"
GARMENTS = "garment-lists"
JSONL_KINDS = (QUESTIONS, ANSWERS)
OBJECT_KINDS = (GROUPED, SUMMARIES, GARMENTS)
KINDS = JSONL_KINDS + OBJECT_KINDS


# Fields that only an answer line carries (LLaVA's model_vqa writes all three).
ANSWER_FIELDS = ("answer_id", "model_id", "prompt")
TEXT_SUFFIXES = (".jsonl", ".json")


@dataclass
class QALine:
    """One JSONL line. ``fields`` is the whole object with its key order, so export writes it back as read."""

    question_id: int | str
    fields: dict[str, Any]
    line: int = 0
    path: str = ""

    @property
    def image(self) -> str | None:
        return self.fields.get("image")

    @property
    def person(self) -> str | None:
        # Questions call the person folder ``dir``; LLaVA's answer lines call it ``pid``.
        return self.fields.get("dir", self.fields.get("pid"))

    @property
    def text(self) -> str:
        return self.fields.get("text", "")


@dataclass
class TextFile:
    path: str
    kind: str
    lines: list[QALine] = field(default_factory=list)          # JSONL kinds
    entries: dict[str, Any] = field(default_factory=dict)      # object kinds, file order

    def records(self) -> Any:
        """What the file means, without where it was read from: equal for a file and its export."""
        if self.kind in JSONL_KINDS:
            return [ln.fields for ln in self.lines]
        return dict(self.entries)

    def __len__(self) -> int:
        return len(self.lines) if self.kind in JSONL_KINDS else len(self.entries)


@dataclass
class Description:
    """One LLaVA answer joined with its question: which person, which image, what was said."""

    question_id: int | str
    person: str
    image: str
    text: str
    clothes: str          # the grouping key, ``<clothes>_<person>``
    path: str = ""
    line: int = 0


@dataclass
class TextArtifacts:
    files: list[TextFile] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[TextFile]:
        return [f for f in self.files if f.kind == kind]

    def _merged(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.of_kind(kind):
            out.update(f.entries)
        return out

    @property
    def questions(self) -> list[QALine]:
        return [ln for f in self.of_kind(QUESTIONS) for ln in f.lines]

    @property
    def answers(self) -> list[QALine]:
        return [ln for f in self.of_kind(ANSWERS) for ln in f.lines]

    @property
    def grouped(self) -> dict[str, list[str]]:
        return self._merged(GROUPED)

    @property
    def summaries(self) -> dict[str, str]:
        return self._merged(SUMMARIES)

    @property
    def garments(self) -> dict[str, list[str]]:
        return self._merged(GARMENTS)

    def counts(self) -> dict[str, int]:
        return {k: sum(len(f) for f in self.of_kind(k)) for k in KINDS}

    def records(self) -> dict[str, list[Any]]:
        """Per kind, the records of every file in file-name order (paths left out)."""
        out: dict[str, list[Any]] = {}
        for f in sorted(self.files, key=lambda f: (f.kind, Path(f.path).name)):
            out.setdefault(f.kind, []).append(f.records())
        return out


# ------------------------------------------------------------------------------------------------
# meaning: joining answers to questions, garment phrases
# ------------------------------------------------------------------------------------------------


def dlcr_clothes_key(person: str, image: str) -> str:
    """DLCR's grouping key: the image name up to its first ``_`` (PRCC's A and B are one outfit), then the person."""
    prefix = image.split("_")[0]
    if prefix in ("A", "B"):
        prefix = "AB"
    return f"{prefix}_{person}"


def join_descriptions(questions: list[QALine], answers: list[QALine],
                      clothes_key: Callable[[str, str], str] = dlcr_clothes_key,
                      path: str = "") -> tuple[list[Description], list[Problem]]:
    """Each answer with the person and image of its question (or of its own line, when it carries them)."""
    by_id = {q.question_id: q for q in questions}     # later lines win, as in DLCR's dict
    out: list[Description] = []
    problems: list[Problem] = []
    for a in answers:
        q = by_id.get(a.question_id)
        image = a.image if a.image is not None else (q.image if q else None)
        person = a.fields.get("dir") or (q.person if q else None) or a.fields.get("pid")
        if not isinstance(image, str) or not isinstance(person, str):
            problems.append(Problem(a.path or path or "answers", f"answer {a.question_id!r} has no matching question "
                                    "(no image / person folder known)", line=a.line or None))
            continue
        out.append(Description(a.question_id, person, image, a.text, clothes_key(person, image), a.path or path,
                               a.line))
    return out, problems


def group_descriptions(descriptions: Iterable[Description]) -> dict[str, list[str]]:
    """``<clothes>_<person> -> [answer, ...]`` in answer order: DLCR's grouped_clothes.json."""
    out: dict[str, list[str]] = {}
    for d in descriptions:
        out.setdefault(d.clothes, []).append(d.text)
    return out


_NUMBERED = re.compile(r"^\s*\d+\s*[.)]\s*(.*?)\s*$")
_DLCR_SPLIT = re.compile(r"\n[0-9]*.")


def split_garments(text: str, rule: str = "numbered") -> list[str]:
    """Garment phrases of an LLM reply.

    ``numbered`` (ours): every line that starts with ``N.`` or ``N)``, number and spaces removed,
    preamble and closing remarks dropped. ``dlcr``: DLCR's rule, kept for exact reproduction —
    split at every newline followed by digits and one more character, drop what came before the
    first such split, keep the pieces as they are (a reply that starts with ``1.`` on its first
    line loses that item under this rule).
    """
    if rule == "dlcr":
        return _DLCR_SPLIT.split(text)[1:]
    if rule != "numbered":
        raise ValueError(f"unknown split rule {rule!r}; use 'numbered' or 'dlcr'")
    items = []
    for ln in text.splitlines():
        m = _NUMBERED.match(ln)
        if m and m.group(1):
            items.append(m.group(1))
    return items


def garment_prompt(items: Iterable[str]) -> str:
    """The inpainting prompt DLCR builds from garment phrases: lower case, commas removed, phrases of
    two characters or fewer dropped, joined by spaces."""
    words = [w.lower().replace(",", "") for w in items]
    return " ".join(w.strip() for w in words if len(w) > 2)


def garments_for(texts: TextArtifacts, clothes_id: str) -> list[str]:
    """Best garment phrases known for a clothes id: parsed list, else the split summary, else []."""
    if clothes_id in texts.garments:
        return [g.strip() for g in texts.garments[clothes_id] if g.strip()]
    if clothes_id in texts.summaries:
        return split_garments(texts.summaries[clothes_id])
    return []


def parse_summaries(summaries: dict[str, str], rule: str = "numbered") -> dict[str, list[str]]:
    """Summaries JSON -> garment-lists JSON, as DLCR's ``parse_answers`` step does."""
    return {k: split_garments(v, rule) for k, v in summaries.items()}
