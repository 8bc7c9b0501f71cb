"""Any folder of videos (``.mp4/.avi/.mov/.mkv``), one walking person per clip, with identity,
condition and view taken from the file names by a user-given pattern.

A pattern is either a template with placeholders, e.g. ``{sid}_{condition}_{view}``, or a regular
expression with named groups, e.g. ``(?P<sid>\\d+)-(?P<view>\\d+)``. Placeholders: ``{sid}``
(required), ``{condition}``, ``{seq}``, ``{view}``, ``{clothes}``; ``{*}`` matches anything. A template
is matched against the whole file name without its extension, or, when it contains '/', against the
path relative to the root without the extension. Fields never span a '/'.

Conventions: ``condition`` defaults to 'nm'; ``seq_type`` = ``<condition>-<seq>`` when ``{seq}`` is
given, else the condition, and then ``name`` = the file stem so that every clip stays its own
sequence; ``view`` = '' when absent; ``clothes`` = ``<sid>_<clothes>`` when ``{clothes}`` is given,
else ``<sid>_<condition>``; ``media`` = 'video'; ``role`` None (the user's split decides).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.errors import ConfigError, InputError
from core.readers.base import Problem, RawSequence, ScanReport, iter_files
from core.readers.media import VIDEO_SUFFIXES, probe_video

FIELDS = ("sid", "condition", "seq", "view", "clothes")
DEFAULT_CONDITION = "nm"
_TOKEN_RE = re.compile(r"\{([^{}]*)\}")
_FIELD_RX = r"[^/]+?"
_ANY_RX = r".*?"


class FilePattern:
    """A compiled file-name pattern; ``match(rel_path)`` returns the fields or None."""

    def __init__(self, text: str, regex: re.Pattern[str], tokens: list[tuple[str, str]] | None,
                 folders: bool = False):
        self.text = text
        self.folders = folders        # folder names: nothing after a dot is an extension
        self.regex = regex
        self.tokens = tokens          # template pieces ('lit'|'field'|'any', value); None for a raw regex
        self.uses_path = "/" in text

    def subject(self, rel: str) -> str:
        rel = rel.replace("\\", "/")
        if self.folders:
            return rel
        stem = rel[: -len(Path(rel).suffix)] if Path(rel).suffix else rel
        return stem if self.uses_path else stem.rsplit("/", 1)[-1]

    def match(self, rel: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(self.subject(rel))
        if not m:
            return None
        return {k: v for k, v in m.groupdict().items() if k in FIELDS and v is not None}

    def explain(self, rel: str) -> str:
        """Why ``rel`` does not match, as precisely as the pattern allows."""
        subject = self.subject(rel)
        if self.tokens is None:
            return f"{subject!r} does not match the regular expression {self.text!r}"
        def shown(tokens: list[tuple[str, str]]) -> str:
            return "".join(v if kind == "lit" else "{" + v + "}" for kind, v in tokens)

        def end_of(tokens: list[tuple[str, str]]) -> int:
            return len(re.match(_template_regex(tokens), subject).group(0)) if tokens else 0

        for k in range(1, len(self.tokens) + 1):
            if re.match(_template_regex(self.tokens[:k]), subject):
                continue
            kind, value = self.tokens[k - 1]
            after = f" after {shown(self.tokens[:k - 1])}" if k > 1 else " at the start"
            if kind == "lit" and k > 1 and self.tokens[k - 2][0] != "lit":
                rest = subject[end_of(self.tokens[:k - 2]):]
                return f"{subject!r}: expected '{value}'{after}, but there is none in {rest!r}"
            rest = subject[end_of(self.tokens[:k - 1]):]
            want = f"'{value}'" if kind == "lit" else "{" + value + "}"
            return f"{subject!r}: expected {want}{after}, found {rest[:30] or '(end of name)'!r}"
        return f"{subject!r}: the pattern {self.text!r} matches only part of the name"


def _template_regex(tokens: list[tuple[str, str]]) -> str:
    out = []
    for kind, value in tokens:
        if kind == "lit":
            out.append(re.escape(value))
        elif kind == "field":
            out.append(f"(?P<{value}>{_FIELD_RX})")
        else:
            out.append(_ANY_RX)
    return "".join(out)


def compile_pattern(text: str, *, folders: bool = False) -> FilePattern:
    """Compile a template (``{sid}_{condition}_{view}``) or a regex with named groups.
    ``folders``: the pattern reads folder names (a tree's sequence folders), which keep every dot
    and need no ``{sid}``: the identity is the folder above."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError("the file-name pattern is empty; e.g. {sid}_{condition}_{view}")
    text = text.strip()
    if "(?P<" in text:
        try:
            rx = re.compile(text)
        except re.error as exc:
            raise ConfigError(f"the regular expression {text!r} does not compile: {exc}") from exc
        names = set(rx.groupindex)
        unknown = sorted(names - set(FIELDS))
        if unknown:
            raise ConfigError(f"unknown group name(s) {', '.join(unknown)} in {text!r}; use {', '.join(FIELDS)}")
        if not folders and "sid" not in names:
            raise ConfigError(f"the pattern {text!r} has no (?P<sid>...) group: the identity must come from the name")
        return FilePattern(text, rx, None, folders)
    tokens: list[tuple[str, str]] = []
    pos = 0
    seen: set[str] = set()
    for m in _TOKEN_RE.finditer(text):
        if m.start() > pos:
            tokens.append(("lit", text[pos:m.start()]))
        name = m.group(1).strip()
        if name == "*":
            tokens.append(("any", "*"))
        elif name in FIELDS:
            if name in seen:
                raise ConfigError(f"{{{name}}} appears twice in {text!r}")
            seen.add(name)
            tokens.append(("field", name))
        else:
            raise ConfigError(f"unknown field {{{name}}} in {text!r}; use {{sid}}, {{condition}}, {{seq}}, "
                              f"{{view}}, {{clothes}} or {{*}}")
        pos = m.end()
    if pos < len(text):
        tokens.append(("lit", text[pos:]))
    if any(("{" in v or "}" in v) for kind, v in tokens if kind == "lit"):
        raise ConfigError(f"unbalanced brace in {text!r}")
    if not folders and "sid" not in seen:
        raise ConfigError(f"the pattern {text!r} has no {{sid}}: the identity must come from the name")
    # a pattern that names an extension matches names without it
    kind, last = tokens[-1]
    ext = next((x for x in VIDEO_SUFFIXES if kind == "lit" and last.lower().endswith(x) and not folders), None)
    if ext:
        trimmed = last[: -len(ext)]
        tokens = tokens[:-1] + ([("lit", trimmed)] if trimmed else [])
    return FilePattern(text, re.compile(_template_regex(tokens)), tokens, folders)


def _bad_value(fields: dict[str, str]) -> str:
    for k, v in fields.items():
        if k == "sid" and not v.strip():
            return "empty {sid}"
        if v in (".", "..") or "/" in v or "\\" in v or v != v.strip():
            return f"{{{k}}} = {v!r} cannot be used in a folder name"
    return ""


def _sequence(path: Path, fields: dict[str, str]) -> RawSequence:
    sid = fields["sid"]
    cond = fields.get("condition") or DEFAULT_CONDITION
    seq = fields.get("seq")
    clothes = fields.get("clothes")
    return RawSequence(sid=sid, seq_type=f"{cond}-{seq}" if seq else cond, view=fields.get("view") or "",
                       condition=cond, clothes=f"{sid}_{clothes}" if clothes else f"{sid}_{cond}", media="video",
                       video=path, name=None if seq else path.stem)


def _as_pattern(pattern: str | FilePattern) -> FilePattern:
    return pattern if isinstance(pattern, FilePattern) else compile_pattern(pattern)


def preview_pattern(root: str | Path, pattern: str | FilePattern, limit: int = 20) -> list[dict[str, Any]]:
    """For the first ``limit`` videos under ``root`` (sorted): the fields the pattern takes from the
    name, the sequence it becomes, or why it does not match. Rows: {file, matched, sid, condition,
    seq, view, clothes, sequence, reason}."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "folder does not exist" if not root.exists() else "not a folder")
    pat = _as_pattern(pattern)
    rows = []
    for path in iter_files(root, VIDEO_SUFFIXES, limit=limit):
        rel = path.relative_to(root).as_posix()
        row: dict[str, Any] = {"file": rel, "matched": False, **{k: "" for k in FIELDS}, "sequence": "", "reason": ""}
        fields = pat.match(rel)
        if fields is None:
            row["reason"] = pat.explain(rel)
        elif (bad := _bad_value(fields)):
            row.update(fields)
            row["reason"] = bad
        else:
            seq = _sequence(path, fields)
            row.update(matched=True, sid=seq.sid, condition=seq.condition, seq=fields.get("seq", ""),
                       view=seq.view, clothes=seq.clothes, sequence=f"{seq.sid}/{seq.seq}")
        rows.append(row)
    return rows


def looks_like(root: Path, videos: list[Path] | None = None) -> tuple[float, str]:
    if videos is None:
        videos = list(iter_files(root, VIDEO_SUFFIXES, limit=400, max_dirs=500))
    if not videos:
        return 0.0, "no video files"
    return 0.6, (f"{len(videos)} sampled videos; their names must be mapped to id/condition/view with a "
                 f"file-name pattern such as {{sid}}_{{condition}}_{{view}}")


def scan(root: str | Path, pattern: str | FilePattern, *, probe: bool = True) -> ScanReport:
    root = Path(root)
    pat = _as_pattern(pattern)
    report = ScanReport(root=root, format="video-folder")
    report.notes.append(f"file-name pattern: {pat.text}")
    seen: dict[tuple[str, str], Path] = {}
    for path in iter_files(root, VIDEO_SUFFIXES):
        rel = path.relative_to(root).as_posix()
        fields = pat.match(rel)
        if fields is None:
            report.problems.append(Problem(str(path), f"name does not match the pattern ({pat.explain(rel)}); ignored",
                                           "warning"))
            continue
        bad = _bad_value(fields)
        if bad:
            report.problems.append(Problem(str(path), f"{bad}; ignored", "warning"))
            continue
        seq = _sequence(path, fields)
        if seq.key in seen:
            report.problems.append(Problem(str(path), f"duplicate of {seen[seq.key]}: both become {seq.sid}/{seq.seq}; "
                                                      f"this one skipped"))
            continue
        seq.frame_count, why = probe_video(path, probe)
        if why:
            report.problems.append(Problem(str(path), why))
            continue
        seen[seq.key] = path
        report.sequences.append(seq)
    if not report.sequences and not report.problems:
        report.problems.append(Problem(str(root), "no video files (.mp4, .avi, .mov, .mkv)"))
    return report
