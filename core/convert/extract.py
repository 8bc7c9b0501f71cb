"""Pixels of one raw sequence -> binary masks (and optional COCO-17 keypoints), before alignment.

What a source gives decides the first step: silhouette files and OpenGait arrays already *are*
masks; RGB frames and videos need a silhouette backend (background subtraction, a segmentation
network, or — on the synthetic demo set only — its stored ground truth, labelled as such).
Keypoints come from the source's own files, the demo ground truth, or a pose model.

Backends can be slow to build (a network), so each worker process builds a spec once and reuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import ConfigError, InputError
from core.readers.base import Problem, RawSequence
from core.readers.media import read_frames

#: Silhouette choices: ``auto`` = the source's own masks where it has them, else ``bgsub``.
SILHOUETTE_CHOICES = ("auto", "given", "bgsub", "groundtruth", "segmentation", "mediapipe")
POSE_CHOICES = ("none", "given", "groundtruth", "transformers", "mediapipe")
MASK_MEDIA = ("silhouette", "array")

LABELS = {
    "given": "the source's own silhouettes",
    "bgsub": "background subtraction (classical CV, no model)",
    "groundtruth": "synthetic ground truth (demo set only, no model)",
    "segmentation": "segmentation network",
    "none": "no pose",
    "transformers": "pose network",
    "mediapipe": "MediaPipe BlazePose (real model bundled with the mediapipe wheel, offline)",
}


@dataclass
class Extracted:
    """Masks (T, H, W) uint8 0/255 with one frame id each; ``rgb`` for previews; optional keypoints."""

    masks: np.ndarray
    names: list[str]
    problems: list[Problem] = field(default_factory=list)
    rgb: np.ndarray | None = None
    keypoints: np.ndarray | None = None       # (T, 17, 3) x, y, conf in pixels of the raw frame
    silhouette_from: str = "given"
    pose_from: str = "none"


def parse_backend(spec: str | None, choices: tuple[str, ...], what: str) -> tuple[str, str | None]:
    """'segmentation:/models/segformer' -> ('segmentation', '/models/segformer')."""
    spec = (spec or choices[0]).strip()
    name, _, model = spec.partition(":")
    if name not in choices:
        raise ConfigError(f"{what}: unknown choice {spec!r}; use one of {', '.join(choices)} "
                          "(model-backed ones as name:MODEL_DIR_OR_HUB_ID)")
    if name in ("segmentation", "transformers") and not model:
        raise ConfigError(f"{what}: {name} needs a model, e.g. {name}:/path/to/model")
    return name, model or None


def describe(spec: str | None, choices: tuple[str, ...], what: str) -> str:
    name, model = parse_backend(spec, choices, what)
    return LABELS.get(name, name) + (f" ({model})" if model else "")


@lru_cache(maxsize=4)
def _silhouette_backend(name: str, model: str | None):
    from core.silhouette import make_silhouette_backend

    return make_silhouette_backend(name, **({"model": model} if model else {}))


@lru_cache(maxsize=2)
def _pose_backend(model: str):
    from core.pose import make_pose_backend

    return make_pose_backend("transformers", model=model)


@lru_cache(maxsize=1)
def _blazepose():
    from core.pose.blazepose import BlazePose

    return BlazePose()


def _track_frames(raw: RawSequence, batch):
    """The frames of ``batch`` in which ``raw``'s tracked person is seen, and their boxes."""
    where = {n: i for i, n in enumerate(batch.names)}
    keep = [(where[n], b) for n, b in zip(raw.track.names, raw.track.boxes) if n in where]
    if not keep:
        raise InputError(raw.source or None, f"person {raw.track.number}'s frames were not decoded")
    idx = [i for i, _ in keep]
    batch.images = batch.images[idx]
    batch.names = [batch.names[i] for i in idx]
    return np.stack([b for _, b in keep]).astype(np.float32)


def _rgb_masks(name: str, model: str | None, rgb: np.ndarray, boxes, background) -> np.ndarray:
    """Masks of colour frames; with ``boxes`` (one tracked person), only the person in each box."""
    if name == "mediapipe":
        return _blazepose().run(rgb, boxes)[0]
    if name == "bgsub":
        from core.silhouette.bgsub import BackgroundSubtraction

        bg = background if background is not None and background.shape == rgb.shape[1:] else None
        return BackgroundSubtraction(background_image=bg).masks(rgb, boxes=boxes)
    masks = _silhouette_backend(name, model).masks(rgb)
    if boxes is not None:
        from core.silhouette.bgsub import inside_box

        masks = np.stack([inside_box(m, b) for m, b in zip(masks, boxes)])
    return masks


def _frame_index(name: str) -> int | None:
    """1-based frame number at the end of a frame id ('00012', '001-nm-01-090-012') -> 0-based index."""
    m = re.search(r"(\d+)$", name)
    return int(m.group(1)) - 1 if m else None


def _groundtruth(raw: RawSequence, names: list[str]):
    if raw.groundtruth is None:
        raise InputError(raw.source or None, "no synthetic ground truth beside this sequence: "
                                             "'groundtruth' works on demo sets only")
    from core.demo.groundtruth import load_groundtruth

    gt = load_groundtruth(raw.groundtruth)
    idx = [_frame_index(n) for n in names]
    if any(i is None or not 0 <= i < len(gt) for i in idx):
        raise InputError(raw.groundtruth, f"frame ids {names[:3]}... do not index its {len(gt)} frames")
    return gt, np.asarray(idx)


def _given_keypoints(raw: RawSequence, names: list[str]) -> np.ndarray:
    from core.pose.posefile import read_pose

    by_frame = {}
    for p in raw.pose:
        stem = Path(p).name.removesuffix("_2d_pose.txt")
        by_frame[stem] = p
    out = np.zeros((len(names), 17, 3), np.float32)
    for i, n in enumerate(names):
        if n in by_frame:
            out[i] = read_pose(by_frame[n]).keypoints
    return out


def camera_key(raw: RawSequence) -> str:
    """Sequences filmed by one static camera share a background: CCVID's camera id, else the view."""
    return raw.camera or raw.view or ""


def fit_camera_backgrounds(raws: list[RawSequence], *, stride: int = 1, per_camera: int = 12,
                           log=None) -> dict[str, np.ndarray]:
    """One background image per camera from up to ``per_camera`` of its colour sequences, each
    voting once (measured on the demo set: mean IoU 0.95 against 0.83 for a background per video,
    which fails where a walker never uncovers the wall). Cameras whose videos disagree in size are
    left out: their videos fall back to a background of their own."""
    from core.silhouette.bgsub import camera_background
    from core.errors import StudioError

    groups: dict[str, list[RawSequence]] = {}
    seen = set()
    for raw in raws:
        # the tracked persons of one video are one vote, not one each
        if raw.media in ("video", "rgb") and raw.source not in seen:
            seen.add(raw.source)
            groups.setdefault(camera_key(raw), []).append(raw)
    out = {}
    for cam, group in sorted(groups.items()):
        step = max(1, len(group) // per_camera)
        chosen = group[::step][:per_camera]

        def videos(chosen=chosen):
            for raw in chosen:
                try:
                    yield read_frames(raw, stride=max(stride, 2)).images
                except StudioError:   # an unreadable video is reported by its own conversion
                    continue
        try:
            out[cam] = camera_background(videos())
        except (StudioError, ValueError) as exc:
            if log:
                log(f"camera {cam or '?'}: no shared background ({exc}); each video gets its own")
    return out


def extract(raw: RawSequence, *, silhouette: str | None = "auto", pose: str | None = "none",
            stride: int = 1, max_frames: int | None = None, keep_rgb: bool = False,
            background: np.ndarray | None = None) -> Extracted:
    """Decode ``raw`` and produce its masks (and keypoints) with the chosen backends.
    ``background`` is the camera's background image for background subtraction, if known."""
    sil_name, sil_model = parse_backend(silhouette, SILHOUETTE_CHOICES, "silhouette")
    pose_name, pose_model = parse_backend(pose, POSE_CHOICES, "pose")
    batch = read_frames(raw, stride=stride, max_frames=max_frames)
    boxes = _track_frames(raw, batch) if raw.track is not None else None
    has_masks = raw.media in MASK_MEDIA
    if sil_name == "auto":
        sil_name = "given" if has_masks else "bgsub"
    if sil_name == "given" and not has_masks:
        raise ConfigError(f"silhouette: {raw.source} holds {raw.media} frames, not masks; "
                          "choose bgsub, segmentation:MODEL or (demo sets) groundtruth")
    rgb = batch.images if batch.images.ndim == 4 else None
    gt = idx = None
    if sil_name == "given":
        masks = batch.images if batch.images.ndim == 3 else batch.images[..., 0]
        masks = np.where(masks > 127, 255, 0).astype(np.uint8) if raw.media == "array" else masks
    elif sil_name == "groundtruth":
        gt, idx = _groundtruth(raw, batch.names)
        masks = (gt.parts[idx] > 0).astype(np.uint8) * np.uint8(255)
    else:
        if rgb is None:
            raise ConfigError(f"silhouette: {raw.source} holds masks already; '{sil_name}' needs colour frames")
        masks = _rgb_masks(sil_name, sil_model, rgb, boxes, background)
    keypoints = None
    if pose_name == "given":
        if raw.pose:
            keypoints = _given_keypoints(raw, batch.names)
        else:
            pose_name = "groundtruth"
    if pose_name == "groundtruth":
        if gt is None:
            gt, idx = _groundtruth(raw, batch.names)
        keypoints = gt.keypoints[idx].astype(np.float32)
    elif pose_name == "transformers":
        if rgb is None:
            raise ConfigError(f"pose: {raw.source} has no colour frames for a pose network")
        keypoints = _pose_backend(pose_model).keypoints(rgb, boxes, masks=masks)
    elif pose_name == "mediapipe":
        if rgb is None:
            raise ConfigError(f"pose: {raw.source} has no colour frames for MediaPipe's pose model")
        keypoints = _blazepose().run(rgb, boxes)[1]
    return Extracted(masks=np.ascontiguousarray(masks), names=batch.names, problems=batch.problems,
                     rgb=rgb if keep_rgb else None, keypoints=keypoints,
                     silhouette_from=sil_name, pose_from=pose_name)
