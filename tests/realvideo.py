"""What the real-footage tests need: MediaPipe (the optional extra) and OpenCV's vtest.avi.

Locally each one missing skips with the reason; in CI (``CI`` set) .ci/run installs both, so a
missing one is a failure, not a silent skip."""

import importlib
import os
from pathlib import Path

import pytest

VTEST_DEFAULT = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)")
    pytest.skip(reason)


def need_mediapipe():
    try:
        importlib.import_module("mediapipe")
    except ImportError:
        _missing("mediapipe is not installed (optional extra: requirements-mediapipe.txt)")


def need_vtest() -> Path:
    p = Path(os.environ.get("HYBRIDGAIT_VTEST") or VTEST_DEFAULT)
    if not p.is_file():
        _missing(f"vtest.avi not found at {p} (set HYBRIDGAIT_VTEST; apt-get download opencv-doc)")
    return p
