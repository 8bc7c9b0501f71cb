"""Errors that carry the file they concern, so every layer can report *which* input is bad."""

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
