"""The studio's one rule for errors.

A :class:`StudioError` is something the user can fix: its message is the whole story, and a job
that fails with one logs that one line. :class:`InputError` is a file or folder (or a record in
the workspace) that is unusable whatever the settings, and carries its path so every layer can say
*which*; :class:`ConfigError` is a setting that is unknown, out of range, or does not fit its
input. Anything else is a bug: it is never wrapped into a StudioError, and propagates with its
traceback into the job's log.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable


class StudioError(Exception):
    """Base class for errors a user can act on (bad input, missing file, wrong state)."""


class InputError(StudioError):
    """A concrete input file or folder is unusable; ``path`` names it and ``reason`` says why."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = str(path) if path is not None else None
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class ConfigError(StudioError):
    """A configuration value is unknown or out of range."""


class JobCancelled(StudioError):
    """Raised inside a job when the user asked it to stop; the job saves its state first."""


def suggest(key: str, known: Iterable[str]) -> str | None:
    """The known name closest to a misspelt ``key`` (difflib), or None when nothing is close."""
    hit = difflib.get_close_matches(str(key), list(known), n=1)
    return hit[0] if hit else None


def hints(keys: Iterable[str], known: Iterable[str]) -> str:
    """"'a' (did you mean 'b'?); 'c'": each unknown key, with the known one it is closest to."""
    known = list(known)
    return "; ".join(f"{k!r}" + (f" (did you mean {s!r}?)" if (s := suggest(k, known)) else "") for k in keys)


def unknown_keys(where: str, keys: Iterable[str], known: Iterable[str]) -> None:
    """Raise ConfigError naming each unknown key of ``where`` and, where one is close, the key meant."""
    keys = list(keys)
    if keys:
        raise ConfigError(f"unknown {where}key(s): {hints(keys, known)}")
