"""GREW's per-frame 2D pose file, ``<frame>_2d_pose.txt``.

One comma-separated line: the image width, the image height, then 17 COCO keypoints as
``x, y, conf`` in pixels of that image (53 numbers). OpenGait reads such a file with
``np.genfromtxt(path, delimiter=',')[2:]`` and reshapes to (17, 3), so we write exactly one line
of plain decimal numbers, no header and no trailing comma.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_text
from core.errors import InputError

NUM_KEYPOINTS = 17
SUFFIX = "_2d_pose.txt"


@dataclass
class PoseFrame:
    width: int
    height: int
    keypoints: np.ndarray        # (17, 3) float32: x, y, conf in pixels


def pose_path(frame_path: str | Path) -> Path:
    """``.../00001.png`` -> ``.../00001_2d_pose.txt`` (GREW names the pose after the frame)."""
    p = Path(frame_path)
    return p.with_name(p.stem + SUFFIX)


def format_pose(width: int, height: int, keypoints: np.ndarray) -> str:
    """The file's one line (with its newline), in the file's order: width, height, keypoints (17, 3)."""
    kp = _check_keypoints(keypoints, None)
    if int(width) <= 0 or int(height) <= 0:
        raise InputError(None, f"image size must be positive, got {width}x{height}")
    # 3 decimals is a thousandth of a pixel; conf keeps 4 (scores near a threshold matter)
    vals = [str(int(width)), str(int(height))]
    for x, y, c in kp:
        vals += [f"{x:.3f}", f"{y:.3f}", f"{c:.4f}"]
    return ",".join(vals) + "\n"


def write_pose(path: str | Path, width: int, height: int, keypoints: np.ndarray) -> Path:
    """Write one frame's keypoints (17, 3) atomically; returns the path."""
    try:
        text = format_pose(width, height, keypoints)
    except InputError as exc:
        raise InputError(path, exc.reason) from None
    return write_text(path, text)


def parse_pose(text: str, path: str | Path | None = None) -> PoseFrame:
    """Parse the content of a pose file; InputError naming ``path`` when it is malformed."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InputError(path, "empty pose file (expected one line: width, height, then 17 x,y,conf)")
    if len(lines) > 1:
        raise InputError(path, f"pose file has {len(lines)} lines; GREW's format is a single line")
    fields = [f.strip() for f in lines[0].split(",")]
    if len(fields) != 2 + 3 * NUM_KEYPOINTS:
        raise InputError(path, f"expected {2 + 3 * NUM_KEYPOINTS} comma-separated numbers "
                               f"(width, height, 17 x,y,conf), found {len(fields)}")
    try:
        nums = np.array([float(f) for f in fields], np.float64)
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        raise InputError(path, f"not a number: {bad!r}") from None
    if not np.isfinite(nums).all():
        raise InputError(path, "pose file holds NaN or infinite values")
    w, h = nums[0], nums[1]
    if w <= 0 or h <= 0 or w != int(w) or h != int(h):
        raise InputError(path, f"image width and height must be positive whole numbers, got {fields[0]}, {fields[1]}")
    kp = nums[2:].reshape(NUM_KEYPOINTS, 3).astype(np.float32)
    if (kp[:, 2] < 0).any():
        raise InputError(path, "negative keypoint confidence")
    return PoseFrame(width=int(w), height=int(h), keypoints=kp)


def read_pose(path: str | Path) -> PoseFrame:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(path, "pose file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"unreadable pose file ({exc})") from exc
    return parse_pose(text, path)


def read_poses(paths: list[str | Path]) -> np.ndarray:
    """Keypoints (T, 17, 3) float32 of several frames' files, in order."""
    if not paths:
        return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    return np.stack([read_pose(p).keypoints for p in paths])


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _check_keypoints(keypoints: np.ndarray, path) -> np.ndarray:
    kp = np.asarray(keypoints, np.float64)
    if kp.shape != (NUM_KEYPOINTS, 3):
        raise InputError(path, f"keypoints must be (17, 3) x, y, conf; got shape {kp.shape}")
    if not np.isfinite(kp).all():
        raise InputError(path, "keypoints hold NaN or infinite values")
    return kp
