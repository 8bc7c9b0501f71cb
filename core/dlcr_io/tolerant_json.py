"""Reading JSON that may be damaged: every bad entry becomes a :class:`~core.problems.Problem` naming
the file and line, and reading goes on with the rest (DLCR's text artifacts are hand-edited and
sometimes truncated; one bad line must not cost the whole file)."""

from __future__ import annotations

import bisect
import json
import re
from pathlib import Path
from typing import Any

from core.problems import Problem


def read_text_file(path: Path, problems: list[Problem]) -> str | None:
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
    text = read_text_file(path, problems)
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
