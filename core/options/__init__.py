"""One options schema per job kind, and the command line generated from it.

Each kind's options are declared once, as a pydantic model beside the code that runs the job
(``core/convert/options.py``, ``core/augment/options.py``, ``core/demo/options.py``,
``core/dlcr_io/options.py``, ``core/train/options.py``, all built on :mod:`core.schema`); this
module only gathers them, which is why it sits above every package it names. A field's name is
its CLI flag (``seq_types`` -> ``--seq-types``), and its default, choices and help text are what
the CLI, the app's widgets and :func:`cli_command` show. A new job option is one field in its
kind's schema; a new job kind is one schema plus its entry in :data:`SCHEMAS`.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any, Mapping

from core.errors import ConfigError, suggest, unknown_keys
from core.augment.options import AugmentJob, ChainOptions
from core.schema import Options, choices_of, is_list, meta, split_list, unwrap
from core.convert.options import ConvertJob, ConvertOptions, ScanOptions
from core.demo.options import DemoOptions
from core.dlcr_io.options import ImportOptions
from core.train.options import ExperimentOptions, TrainOverrides

# CLI verb -> the schema of its options (``scan`` reads a source but queues no job).
SCHEMAS: dict[str, type[Options]] = {"demo": DemoOptions, "scan": ScanOptions, "convert": ConvertJob,
                                     "augment": AugmentJob, "import": ImportOptions, "train": TrainOverrides,
                                     "experiment": ExperimentOptions}

__all__ = ["SCHEMAS", "AugmentJob", "ExperimentOptions", "ChainOptions", "ConvertJob", "ConvertOptions", "DemoOptions", "ImportOptions",
           "Options", "ScanOptions", "TrainOverrides", "add_arguments", "cli_command", "defaults", "field_help",
           "choices", "from_args", "implied", "schema", "suggest", "unknown_keys"]


def schema(kind: str) -> type[Options]:
    if kind not in SCHEMAS:
        hint = suggest(kind, SCHEMAS)
        raise ConfigError(f"no options schema for {kind!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                          + f"; known: {', '.join(SCHEMAS)}")
    return SCHEMAS[kind]


def defaults(kind: str) -> dict[str, Any]:
    """Every optional field's default (what a widget starts at)."""
    return {n: f.default for n, f in schema(kind).model_fields.items() if not f.is_required()}


def field_help(kind: str, name: str) -> str:
    return schema(kind).model_fields[name].description or ""


def choices(kind: str, name: str) -> tuple[str, ...] | None:
    """A field's allowed values: its Literal's, or a list field's allowed items."""
    f = schema(kind).model_fields[name]
    return choices_of(f) or meta(f).get("choices")


def implied(kind: str, name: str) -> Any:
    """What a field's default stands for (a None default that means 'the usual ones'), else the default."""
    f = schema(kind).model_fields[name]
    return meta(f).get("implied", f.default)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser, cls: type[Options]) -> None:
    """One argument per field. Defaults stay None, so :func:`from_args` sees only what was given
    and the schema supplies the rest (a job records what the user chose, not every default)."""
    for name, f in cls.model_fields.items():
        m, base = meta(f), unwrap(f.annotation)[0]
        kw: dict[str, Any] = {"help": f.description or None}
        if m.get("metavar"):
            kw["metavar"] = m["metavar"]
        if choices_of(f):
            kw["choices"] = list(choices_of(f))
        if base is bool:
            kw["action"] = "store_true" if f.default is False else argparse.BooleanOptionalAction
        else:
            kw["type"] = split_list if is_list(f) else base if base in (int, float) else str
        if m.get("positional"):
            parser.add_argument(name, **kw)
        else:
            parser.add_argument(_flag(name), dest=name, default=None, required=f.is_required(), **kw)


def from_args(cls: type[Options], args: argparse.Namespace) -> Options:
    return cls(**{n: v for n in cls.model_fields if (v := getattr(args, n, None)) is not None})


def cli_command(kind: str, options: Options | Mapping[str, Any], *, workspace: str | None = None) -> str:
    """The ``python -m core`` command line doing the same as ``options``, showing only values that
    differ from their defaults (and the fields marked ``always``). Raises ConfigError like the CLI."""
    cls = schema(kind)
    opts = options if isinstance(options, cls) else cls(**{k: v for k, v in dict(options).items() if v is not None})
    cmd = ["python", "-m", "core", *(["--workspace", str(workspace)] if workspace else []), kind]
    fields = cls.model_fields
    cmd += [str(getattr(opts, n)) for n, f in fields.items() if meta(f).get("positional")]
    # required flags first (the command's subject), then the rest in declaration order
    for name, f in sorted(fields.items(), key=lambda nf: not nf[1].is_required()):
        value = getattr(opts, name)
        if meta(f).get("positional") or value is None or (value == f.default and not meta(f).get("always")):
            continue
        if isinstance(value, bool):
            cmd.append(_flag(name) if value else "--no-" + name.replace("_", "-"))
        else:
            cmd += [_flag(name), ",".join(value) if is_list(f) else str(value)]
    return " ".join(shlex.quote(c) for c in cmd)
