"""The app's static files, kept in the repository's top-level ``assets/`` folder rather than in code."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ASSETS = Path(__file__).resolve().parents[1] / "assets"
THEME_CSS = ASSETS / "theme.css"
HOTKEYS_JS = ASSETS / "hotkeys.js"
LOGO = ASSETS / "logo.svg"
PATTERNS = ASSETS / "patterns.yaml"
CONFIGS = ASSETS / "configs"


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def file_patterns() -> list[dict[str, Any]]:
    """Example file-name patterns for folders of videos: pattern, example name, the fields it reads."""
    return yaml.safe_load(text(PATTERNS))
