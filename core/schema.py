"""What every job schema shares: field metadata, the one-line ConfigError and the typo suggestion.

A schema is a pydantic model whose fields are the job's options. Each field carries its default,
its choices (a ``Literal`` or a validator) and its help text; the CLI parser, the app's widgets and
:func:`core.options.cli_command` all read them from there.
"""

from __future__ import annotations

import os
import typing
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError, hints, suggest


def option(default: Any = ..., help: str = "", *, positional: bool = False, always: bool = False,
           metavar: str | None = None, choices: tuple[str, ...] | None = None, implied: Any = None,
           **constraints: Any) -> Any:
    """A schema field. ``positional``: a bare CLI argument; ``always``: shown in a command line even
    at its default (the choice a reader wants to see, e.g. the training preset); ``choices``: the
    names a free-form or list field accepts (checked by the schema's own validation, since a
    model-backed name takes ``NAME:MODEL``); ``implied``: what the default
    None stands for (a widget shows it)."""
    extra = {k: v for k, v in (("positional", positional), ("always", always), ("metavar", metavar),
                               ("choices", choices), ("implied", implied)) if v}
    return Field(default, description=help, json_schema_extra=extra or None, **constraints)


def meta(field) -> dict[str, Any]:
    return field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}


def unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without ``| None``, whether None is allowed)."""
    args = typing.get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def choices_of(field) -> tuple[str, ...] | None:
    """A Literal field's values (the CLI's ``choices``)."""
    base, _ = unwrap(field.annotation)
    return tuple(typing.get_args(base)) if typing.get_origin(base) is Literal else None


def is_list(field) -> bool:
    return typing.get_origin(unwrap(field.annotation)[0]) is tuple


def split_list(v: Any) -> Any:
    """'a,b' -> ('a', 'b'); an empty list means 'not given'."""
    if isinstance(v, str):
        v = [s.strip() for s in v.split(",") if s.strip()]
    return tuple(v) if v else None


class Options(BaseModel):
    """Base of every job schema: unknown keys and bad values raise a one-line ConfigError."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    WHAT: ClassVar[str] = "option"     # how error messages name a key of this schema

    def __init__(self, **data: Any):
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(self._message(exc)) from None

    @model_validator(mode="before")
    @classmethod
    def _paths_are_strings(cls, data: Any) -> Any:
        # a model folder given as a Path is the same choice as its string
        if isinstance(data, dict):
            return {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in data.items()}
        return data

    @classmethod
    def _message(cls, exc: ValidationError) -> str:
        fields = cls.model_fields
        extra = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "extra_forbidden"]
        if extra:
            return f"unknown {cls.WHAT}(s) {hints(extra, fields)}"
        parts = []
        for e in exc.errors():
            key = str(e["loc"][0]) if e["loc"] else ""
            got, ctx = e.get("input"), e.get("ctx") or {}
            if e["type"] == "literal_error" and key in fields:
                choices = choices_of(fields[key]) or ()
                hint = suggest(got, choices) if isinstance(got, str) else None
                parts.append(f"{key}: {got!r} is not one of {', '.join(choices)}"
                             + (f" (did you mean {hint!r}?)" if hint else ""))
            elif e["type"] in ("greater_than_equal", "greater_than"):
                bound = ctx.get("ge", ctx.get("gt"))
                parts.append(f"{key} must be {'at least' if 'ge' in ctx else 'more than'} {bound}, got {got!r}")
            elif e["type"] in ("less_than_equal", "less_than"):
                bound = ctx.get("le", ctx.get("lt"))
                parts.append(f"{key} must be {'at most' if 'le' in ctx else 'less than'} {bound}, got {got!r}")
            elif e["type"] == "value_error":
                parts.append(f"{key}: {ctx.get('error', e['msg'])}")
            else:
                parts.append(f"{key}: {e['msg'].lower()}, got {got!r}")
        return "; ".join(dict.fromkeys(parts))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Options":
        return cls(**d)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Options":
        """From a job's parameters: keys that are not options (dataset_id, ...) are ignored."""
        return cls(**{k: v for k, v in params.items() if k in cls.model_fields and v is not None})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def given(self) -> dict[str, Any]:
        """Only the options that were set explicitly (JSON-able): what a job's parameters record."""
        return self.model_dump(mode="json", exclude_unset=True)
