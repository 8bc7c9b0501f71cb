"""DLCR's text artifacts written back out the way DLCR's own scripts write them (``json.dumps`` on
one line; JSONL one ``json.dumps`` per line), so those scripts read what we export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from core.atomic import write_text
from core.dlcr_io import export_into, new_export_folder
from core.dlcr_io.texts import (ANSWERS, GARMENTS, GROUPED, JSONL_KINDS, QUESTIONS, SUMMARIES, QALine, TextArtifacts,
                                TextFile)


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
    out_dir = new_export_folder(out_dir)
    files = texts.files if isinstance(texts, TextArtifacts) else list(texts)
    written: dict[str, str] = {}
    with export_into(out_dir) as tmp:
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
