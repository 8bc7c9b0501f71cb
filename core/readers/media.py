"""Pixels of one :class:`RawSequence`, whatever its media: image files, a video, or a packed array.

``read_frames`` returns a :class:`FrameBatch`: silhouettes and arrays as (T, H, W) uint8, colour
images and videos as (T, H, W, 3) uint8 in **RGB** order. Bad frames are reported per frame and
skipped; a sequence with no readable frame at all raises :class:`InputError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core.errors import ConfigError, InputError
from core.readers.base import Problem, RawSequence
from core.readers.sizes import majority_size, other_size_reason

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


@dataclass
class FrameBatch:
    images: np.ndarray                     # (T, H, W) or (T, H, W, 3) uint8, RGB
    names: list[str] = field(default_factory=list)     # one stable id per kept frame
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ------------------------------------------------------------------------------------------------
# videos
# ------------------------------------------------------------------------------------------------

def _open_video(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise InputError(path, "video file does not exist")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise InputError(path, "OpenCV cannot open this video (unknown container or codec, or a damaged file)")
    return cap


def video_info(path: str | Path) -> dict:
    """``{fps, frames, width, height}`` from the container, without decoding. ``frames`` is what
    the container declares (0 when it does not say); a damaged file may hold fewer."""
    path = Path(path)
    cap = _open_video(path)
    try:
        info = {"fps": float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
                "frames": max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)),
                "width": int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
                "height": int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)}
    finally:
        cap.release()
    if info["width"] <= 0 or info["height"] <= 0:
        raise InputError(path, "the video declares no frame size (damaged header?)")
    return info


def probe_video(path: Path, decode_header: bool = True) -> tuple[int | None, str]:
    """(frame count the container declares or None, '') for a usable video, or (None, why it is
    skipped) for an empty or unopenable file. Readers call it while scanning, before any decoding."""
    if path.stat().st_size == 0:
        return None, "empty file (0 bytes); sequence skipped"
    if not decode_header:
        return None, ""
    try:
        return video_info(path)["frames"] or None, ""
    except InputError as exc:
        return None, f"{exc.reason}; sequence skipped"


def _read_video(path: Path, stride: int, max_frames: int | None) -> FrameBatch:
    cap = _open_video(path)
    declared = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    images: list[np.ndarray] = []
    names: list[str] = []
    problems: list[Problem] = []
    index = 0           # frames consumed from the stream
    stopped_early = False
    try:
        while True:
            if max_frames is not None and len(images) >= max_frames:
                stopped_early = True
                break
            keep = index % stride == 0
            ok = cap.grab()
            if not ok:
                break
            if keep:
                ok, bgr = cap.retrieve()
                if not ok or bgr is None:
                    problems.append(Problem(str(path), f"frame {index + 1} could not be decoded; skipped", "warning"))
                else:
                    if bgr.ndim == 2:
                        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
                    images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                    names.append(f"{index + 1:05d}")
            index += 1
    finally:
        cap.release()
    truncated = not stopped_early and declared and index < declared
    dropped = ""
    if truncated and names and names[-1] == f"{index:05d}":
        # the frame the stream broke off in can come back half decoded: never keep it
        images.pop()
        names.pop()
        dropped = f" except frame {index}, where the stream breaks off"
    if not images:
        said = f"the container declares {declared}" if declared else "the container declares no count"
        raise InputError(path, f"no frame could be decoded ({said}); damaged or empty video")
    if truncated:
        problems.append(Problem(str(path), f"decoded {index} of the {declared} frames the container declares; "
                                           f"the file looks truncated or corrupt — kept what decoded{dropped}",
                                "warning"))
    major = majority_size([im.shape[:2] for im in images])
    if any(im.shape[:2] != major for im in images):   # a stream that changes size midway: keep the majority size
        n_major = sum(im.shape[:2] == major for im in images)
        for im, n in zip(images, names):
            if im.shape[:2] != major:
                problems.append(Problem(f"{path}#frame {int(n)}", other_size_reason(im.shape[:2], major, n_major,
                                                                                      len(images)), "warning"))
        pairs = [(im, n) for im, n in zip(images, names) if im.shape[:2] == major]
        images, names = [p[0] for p in pairs], [p[1] for p in pairs]
    return FrameBatch(np.stack(images), names, problems)


# ------------------------------------------------------------------------------------------------
# image files
# ------------------------------------------------------------------------------------------------

def _ends_jpeg(data: np.ndarray) -> bool:
    """Whether the JPEG's bytes end with its end-of-image marker (padding after it allowed)."""
    return data[-4096:].tobytes().rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


def read_image(path: Path, colour: bool) -> tuple[np.ndarray | None, str]:
    """(image, '') or (None, why). Grey (H, W) or RGB (H, W, 3) uint8. Works with any path
    characters (bytes are decoded in memory)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc}); frame skipped"
    if data.size == 0:
        return None, "empty file (0 bytes); frame skipped"
    if data[:2].tobytes() == b"\xff\xd8" and not _ends_jpeg(data):
        # libjpeg decodes a cut-off JPEG with a warning and grey below the cut: that is no frame
        return None, "truncated JPEG (no end-of-image marker); frame skipped"
    img = cv2.imdecode(data, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    if img is None:
        return None, "cannot be decoded as an image (damaged or not an image); frame skipped"
    if colour:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return img, ""      # IMREAD_GRAYSCALE / IMREAD_COLOR always give 8-bit pixels


def _read_images(raw: RawSequence, stride: int, max_frames: int | None) -> FrameBatch:
    colour = raw.media == "rgb"
    images: list[np.ndarray] = []
    problems: list[Problem] = []
    by_size: dict[tuple[int, int], int] = {}
    files: list[Path] = []
    for f in raw.frames[::stride]:
        # with max_frames, reading stops once one size has that many frames: it is then the majority
        if max_frames is not None and max(by_size.values(), default=0) >= max_frames:
            break
        img, why = read_image(Path(f), colour)
        if img is None:
            problems.append(Problem(str(f), why))
            continue
        by_size[img.shape[:2]] = by_size.get(img.shape[:2], 0) + 1
        images.append(img)
        files.append(Path(f))
    if not images:
        first = f" — {problems[0].path}: {problems[0].reason}" if problems else ""
        raise InputError(raw.source or None, f"no readable frame among {len(raw.frames)} files{first}")
    # The sequence keeps its majority size; a frame of another size is dropped, not resized: a
    # resize would change the walker's scale and aspect in that frame only.
    major = majority_size([im.shape[:2] for im in images])
    kept = [i for i, im in enumerate(images) if im.shape[:2] == major]
    for i, im in enumerate(images):
        if im.shape[:2] != major:
            problems.append(Problem(str(files[i]), other_size_reason(im.shape[:2], major, len(kept), len(images))))
    if max_frames is not None:
        kept = kept[:max_frames]
    return FrameBatch(np.stack([images[i] for i in kept]), [files[i].stem for i in kept], problems)


# ------------------------------------------------------------------------------------------------
# entry point
# ------------------------------------------------------------------------------------------------

def read_frames(raw: RawSequence, *, stride: int = 1, max_frames: int | None = None) -> FrameBatch:
    """Decode a sequence, keeping every ``stride``-th frame (the 1st, then the (1+k)-th, ...) and at
    most ``max_frames`` of them. Frame ids (``names``): the file stem for image files, the 1-based
    frame number as ``00001`` for videos and arrays."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ConfigError(f"stride must be a whole number >= 1, got {stride!r}")
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                   or max_frames < 1):
        raise ConfigError(f"max_frames must be None or a whole number >= 1, got {max_frames!r}")
    stride = int(stride)
    if raw.media in ("silhouette", "rgb"):
        return _read_images(raw, stride, max_frames)
    if raw.media == "video":
        if raw.video is None:
            raise InputError(None, f"sequence {raw.sid}/{raw.seq} is a video but names no file")
        return _read_video(Path(raw.video), stride, max_frames)
    if raw.media == "array":
        if raw.array is None:
            raise InputError(None, f"sequence {raw.sid}/{raw.seq} is an array but names no file")
        from core.readers.opengait_pkl import load_array

        arr = load_array(raw.array)
        idx = np.arange(0, arr.shape[0], stride)
        if max_frames is not None:
            idx = idx[:max_frames]
        if idx.size == 0:
            raise InputError(raw.array, "the array holds no frame")
        return FrameBatch(np.ascontiguousarray(arr[idx]), [f"{i + 1:05d}" for i in idx], [])
    raise ConfigError(f"unknown media {raw.media!r} for sequence {raw.sid}/{raw.seq}")
