"""The studio's one rule for errors.

A :class:`StudioError` is something the user can fix: its message is the whole story, and a job
that fails with one logs that one line. :class:`InputError` is a file or folder (or a record in
the workspace) that is unusable whatever the settings, and carries its path so every layer can say
*which*; :class:`ConfigError` is a setting that is unknown, out of range, or does not fit its
input. Anything else is a bug: it is never wrapped into a StudioError, and propagates with its
traceback into the job's log.
"""

from __future__ import annotations

from pathlib import Path


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
