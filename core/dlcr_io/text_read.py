"""Parsing DLCR's text artifact files (:mod:`core.dlcr_io.texts` says what each holds): the kind of
a file is decided from its name and fields when not given, and each bad line or entry becomes a
problem while the rest is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from core.dlcr_io import Problem, input_files
from core.dlcr_io.texts import (ANSWER_FIELDS, ANSWERS, GARMENTS, GROUPED, JSONL_KINDS, OBJECT_KINDS, QUESTIONS,
                                SUMMARIES, TEXT_SUFFIXES, QALine, TextArtifacts, TextFile)
from core.dlcr_io.tolerant_json import read_json_object, read_text_file


def _jsonl_kind(objects: list[dict]) -> str:
    return ANSWERS if any(k in o for o in objects for k in ANSWER_FIELDS) else QUESTIONS


def parse_jsonl(path: str | Path, kind: str | None = None) -> tuple[TextFile, list[Problem]]:
    """Read a LLaVA questions or answers file; ``kind`` None decides from the fields present."""
    path = Path(path)
    problems: list[Problem] = []
    text = read_text_file(path, problems)
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
