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
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from core.atomic import atomic_dir, write_text
from core.dlcr_io import Problem, input_files
from core.errors import InputError

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
# reading
# ------------------------------------------------------------------------------------------------

def _read_text(path: Path, problems: list[Problem]) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(str(path), f"unreadable ({exc.strerror or exc})"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), f"not valid UTF-8 (byte {exc.start}); undecodable bytes replaced",
                                "warning"))
        text = raw.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff")


def _jsonl_kind(objects: list[dict]) -> str:
    return ANSWERS if any(k in o for o in objects for k in ANSWER_FIELDS) else QUESTIONS


def parse_jsonl(path: str | Path, kind: str | None = None) -> tuple[TextFile, list[Problem]]:
    """Read a LLaVA questions or answers file; ``kind`` None decides from the fields present."""
    path = Path(path)
    problems: list[Problem] = []
    text = _read_text(path, problems)
    lines: list[QALine] = []
    seen: dict[Any, int] = {}
    for lineno, raw in enumerate((text or "").split("\n"), 1):
        raw = raw.rstrip("\r")
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), f"not valid JSON at column {exc.colno}: {exc.msg}", line=lineno))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(str(path), f"expected a JSON object, got {type(obj).__name__}", line=lineno))
            continue
        qid = obj.get("question_id")
        if qid is None or isinstance(qid, bool) or not isinstance(qid, (int, str)):
            problems.append(Problem(str(path), "missing or invalid 'question_id' (an integer or string is needed)",
                                    line=lineno))
            continue
        if not isinstance(obj.get("text"), str):
            problems.append(Problem(str(path), "missing 'text' (the prompt or the answer)", line=lineno))
            continue
        if qid in seen:
            problems.append(Problem(str(path), f"question_id {qid!r} repeats line {seen[qid]}; the later line wins "
                                               "when answers are joined", "warning", line=lineno))
        seen[qid] = lineno
        lines.append(QALine(qid, obj, lineno, str(path)))
    kind = kind or _jsonl_kind([ln.fields for ln in lines])
    if kind not in JSONL_KINDS:
        raise ValueError(f"unknown JSONL kind {kind!r}; use one of {JSONL_KINDS}")
    if kind == QUESTIONS:
        for ln in lines:
            missing = [k for k in ("image", "dir") if not isinstance(ln.fields.get(k), str)]
            if missing:
                problems.append(Problem(str(path), f"question line lacks {', '.join(map(repr, missing))}",
                                        line=ln.line))
    if text is not None and not lines and not problems:
        problems.append(Problem(str(path), "empty file: no lines to read", "warning"))
    return TextFile(str(path), kind, lines=lines), problems


class _Lines:
    """Offset -> 1-based line number, for problems inside one-line or indented JSON alike."""

    def __init__(self, text: str):
        self.breaks = [i for i, c in enumerate(text) if c == "\n"]

    def __call__(self, pos: int) -> int:
        return bisect.bisect_left(self.breaks, pos) + 1


_WS = re.compile(r"\s*")
_NEXT_ENTRY = re.compile(r",\s*\"")


def read_json_object(path: str | Path) -> tuple[list[tuple[str, Any, int]], list[Problem]]:
    """(key, value, line) for every entry of a JSON object file that can be read, plus problems.

    A broken value (truncated string, stray character) costs that entry only: reading resumes at
    the next ``, "key":`` that decodes. Keys that repeat are reported; like ``json.load``, the
    later value is the one kept by the callers.
    """
    path = Path(path)
    problems: list[Problem] = []
    text = _read_text(path, problems)
    if text is None:
        return [], problems
    line_of = _Lines(text)
    dec = json.JSONDecoder()
    entries: list[tuple[str, Any, int]] = []

    def ws(i: int) -> int:
        return _WS.match(text, i).end()

    def resync(pos: int) -> int | None:
        for m in _NEXT_ENTRY.finditer(text, pos):
            start = m.end() - 1
            try:
                _, j = dec.raw_decode(text, start)
            except json.JSONDecodeError:
                continue
            if text.startswith(":", ws(j)):
                return start
        return None

    def fail(pos: int, reason: str) -> int | None:
        problems.append(Problem(str(path), reason, line=line_of(pos)))
        nxt = resync(pos)
        if nxt is None:
            problems.append(Problem(str(path), "no further entry could be recovered; the rest of the file is skipped",
                                    line=line_of(pos)))
        return nxt

    i = ws(0)
    if not text.startswith("{", i):
        what = "an empty file" if i >= len(text) else f"{text[i]!r}"
        problems.append(Problem(str(path), f"expected a JSON object '{{...}}', found {what}", line=line_of(i)))
        return [], problems
    i = ws(i + 1)
    if text.startswith("}", i):
        return [], problems
    pos: int | None = i
    while pos is not None:
        i = ws(pos)
        try:
            key, j = dec.raw_decode(text, i)
            if not isinstance(key, str):
                raise json.JSONDecodeError("expected a quoted key", text, i)
        except json.JSONDecodeError as exc:
            pos = fail(i, f"bad key: {exc.msg}")
            continue
        j = ws(j)
        if not text.startswith(":", j):
            pos = fail(j, f"expected ':' after key {key!r}")
            continue
        j = ws(j + 1)
        try:
            value, k = dec.raw_decode(text, j)
        except json.JSONDecodeError as exc:
            pos = fail(exc.pos, f"bad value for key {key!r}: {exc.msg} (column {exc.colno})")
            continue
        entries.append((key, value, line_of(i)))
        k = ws(k)
        if text.startswith(",", k):
            pos = k + 1
        elif text.startswith("}", k):
            rest = ws(k + 1)
            if rest < len(text):
                problems.append(Problem(str(path), "text after the closing '}' ignored", "warning", line=line_of(rest)))
            pos = None
        else:
            pos = fail(k, "expected ',' or '}' after an entry" if k < len(text) else "file ends inside the object")
    return entries, problems


def _is_str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _guess_object_kind(path: Path, values: list[Any]) -> str:
    name = path.name.lower()
    if "group" in name:
        return GROUPED
    if "parsed" in name or "garment" in name:
        return GARMENTS
    if values and sum(isinstance(v, str) for v in values) * 2 > len(values):
        return SUMMARIES
    items = [x for v in values if isinstance(v, list) for x in v if isinstance(x, str)]
    # Answers are sentences ("The person is wearing a ..."); garment phrases are a few words.
    if items and sum(len(x.split()) for x in items) / len(items) > 6:
        return GROUPED
    return GARMENTS


def parse_object_file(path: str | Path, kind: str | None = None) -> tuple[TextFile, list[Problem]]:
    """Read a grouped-descriptions, summaries or garment-list JSON file, entry by entry."""
    path = Path(path)
    raw, problems = read_json_object(path)
    kind = kind or _guess_object_kind(path, [v for _, v, _ in raw])
    if kind not in OBJECT_KINDS:
        raise ValueError(f"unknown JSON kind {kind!r}; use one of {OBJECT_KINDS}")
    entries: dict[str, Any] = {}
    first_line: dict[str, int] = {}
    for key, value, line in raw:
        if kind == SUMMARIES:
            ok, want = isinstance(value, str), "a text string"
        else:
            ok, want = _is_str_list(value), "a list of strings"
        if not ok:
            problems.append(Problem(str(path), f"value of {key!r} must be {want}, got {type(value).__name__}"
                                    + ("" if not isinstance(value, list) else " with non-string items"), line=line))
            continue
        if key in entries:
            # Like json.load: the later value wins, in the place the key first appeared.
            problems.append(Problem(str(path), f"key {key!r} repeats line {first_line[key]}; the later value is kept",
                                    "warning", line=line))
        else:
            first_line[key] = line
        if not value:
            problems.append(Problem(str(path), f"{key!r} is empty", "warning", line=line))
        entries[key] = value
    return TextFile(str(path), kind, entries=entries), problems


def parse_text_file(path: str | Path, kind: str | None = None) -> tuple[TextFile, list[Problem]]:
    path = Path(path)
    if kind in JSONL_KINDS or (kind is None and path.suffix.lower() == ".jsonl"):
        return parse_jsonl(path, kind)
    return parse_object_file(path, kind)


def read_texts(paths: str | Path | Iterable[str | Path], kinds: dict[str, str] | None = None) -> TextArtifacts:
    """Parse every ``.jsonl``/``.json`` file under a folder (or the given files); never raises for content.

    ``kinds`` maps a file name to its kind where guessing from name and content is not wanted.
    """
    files = input_files(paths, TEXT_SUFFIXES)
    kinds = kinds or {}
    out = TextArtifacts()
    for f in files:
        tf, probs = parse_text_file(f, kinds.get(f.name))
        out.files.append(tf)
        out.problems.extend(probs)
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


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------

def format_jsonl(lines: Iterable[QALine]) -> str:
    return "".join(json.dumps(ln.fields) + "\n" for ln in lines)


def format_object(entries: dict[str, Any]) -> str:
    # DLCR writes ``json.dumps(obj)`` with no indent and no final newline; so do we.
    return json.dumps(entries)


def format_text_file(tf: TextFile) -> str:
    return format_jsonl(tf.lines) if tf.kind in JSONL_KINDS else format_object(tf.entries)


DEFAULT_NAMES = {QUESTIONS: "questions.jsonl", ANSWERS: "answers.jsonl", GROUPED: "grouped_clothes.json",
                 SUMMARIES: "clothes_descriptions.json", GARMENTS: "parsed_clothes.json"}


def export_texts(texts: TextArtifacts | Iterable[TextFile], out_dir: str | Path) -> dict[str, str]:
    """Write every file into the new folder ``out_dir`` (built aside, renamed into place when complete).

    Files keep their original names (the default DLCR names for files made here); returns
    name -> kind. An existing ``out_dir`` is never touched.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise InputError(out_dir, "already exists; exports only ever create a new folder")
    files = texts.files if isinstance(texts, TextArtifacts) else list(texts)
    written: dict[str, str] = {}
    with atomic_dir(out_dir) as tmp:
        for tf in files:
            name = Path(tf.path).name if tf.path else DEFAULT_NAMES[tf.kind]
            stem, suffix = Path(name).stem, Path(name).suffix or (".jsonl" if tf.kind in JSONL_KINDS else ".json")
            n = 1
            while name in written:
                n += 1
                name = f"{stem}_{n}{suffix}"
            write_text(tmp / name, format_text_file(tf))
            written[name] = tf.kind
    return written
