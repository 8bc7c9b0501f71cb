"""The colour frames of a converted training sequence, for augmentation (DLCR needs RGB).

A converted dataset keeps only aligned silhouettes, so the colour frames are fetched again from
where the conversion found them (the manifest record's ``source`` and ``media``):

* demo sets: re-rendered from the stored ground truth (``gt.rgb_all()`` frames, exactly what the
  generator rendered), together with the true part labels and keypoints;
* videos and folders of RGB frames: decoded again with the conversion's ``stride`` and
  ``max_frames`` (``manifest['parameters']``), so frame numbering matches the conversion's;
* silhouette-only sources (CASIA-B silhouettes, GREW, OpenGait pkl) have no colour at all: an
  :class:`InputError` says so instead of producing variants from nothing.

Keypoints come from the ground truth, else from the layout's ``<frame>_2d_pose.txt`` files when
the conversion wrote them (their order follows the *kept* frames, so dropped frames are skipped
when matching them to decoded frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.errors import InputError
from core.indices import spread_indices

COLOUR_MEDIA = ("video", "rgb")
MASK_ONLY_MEDIA = ("silhouette", "array")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class RGBSequence:
    """Colour frames of one sequence and what came with them."""

    rgb: np.ndarray                       # (T, H, W, 3) uint8 RGB
    names: list[str]                      # frame ids: 1-based frame numbers '00001' or image file stems
    origin: str                           # 'groundtruth-render' | 'video' | 'frames'
    path: str                             # what was read: the ground-truth file, the video or the folder
    parts: np.ndarray | None = None       # (T, H, W) uint8 true part labels (demo ground truth only)
    keypoints: np.ndarray | None = None   # (T, 17, 3) x, y, conf in pixels of these frames
    keypoints_from: str = "none"          # 'groundtruth' | 'pose-files' | 'none'
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.rgb.shape[0])


def groundtruth_of(record: dict[str, Any]) -> Path | None:
    gt = record.get("groundtruth")
    return Path(gt) if gt and Path(gt).is_file() else None


def has_rgb(record: dict[str, Any]) -> bool:
    """Whether colour frames can be had for this manifest record (without reading them)."""
    return groundtruth_of(record) is not None or record.get("media") in COLOUR_MEDIA


def no_rgb_reason(record: dict[str, Any]) -> str:
    media = record.get("media") or "unknown"
    if media in MASK_ONLY_MEDIA:
        return (f"the conversion read {media} files ({record.get('source') or 'no source recorded'}), which hold "
                f"silhouettes only; DLCR augmentation needs colour frames (videos or RGB frame folders such as "
                f"CASIA-B videos or CCVID)")
    return f"the manifest record names no colour source (media {media!r}); DLCR augmentation needs colour frames"


def _frame_indices(count: int, stride: int, max_frames: int | None) -> np.ndarray:
    idx = np.arange(0, count, max(1, int(stride)))
    return idx[:max_frames] if max_frames else idx


def _raw_sequence(record: dict[str, Any]):
    from core.readers.base import RawSequence

    source = Path(record.get("source") or "")
    media = record.get("media")
    common = dict(sid=record["sid"], seq_type=record.get("seq_type") or record["seq"], view=record.get("view", ""),
                  condition=record.get("condition", ""), name=record["seq"], media=media)
    if media == "video":
        if not source.is_file():
            raise InputError(source, f"the video of {record['sid']}/{record['seq']} named in the manifest is gone; "
                                     f"it is needed again to repaint the sequence's clothes")
        return RawSequence(video=source, **common)
    if not source.is_dir():
        raise InputError(source, f"the frame folder of {record['sid']}/{record['seq']} named in the manifest is gone; "
                                 f"it is needed again to repaint the sequence's clothes")
    frames = sorted(p for p in source.iterdir()
                    if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    if not frames:
        raise InputError(source, "holds no image frames")
    return RawSequence(frames=frames, **common)


def _pose_files(dataset_root: Path, record: dict[str, Any]) -> list[Path]:
    from core.layout import sequence_dir
    from core.pose.posefile import SUFFIX
    from core.records import Sequence

    folder = sequence_dir(dataset_root, Sequence.from_dict(record))
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def layout_keypoints(dataset_root: Path, record: dict[str, Any], raw, names: Sequence[str],
                     size: tuple[int, int]) -> tuple[np.ndarray | None, str]:
    """Keypoints of the decoded frames from the layout's pose files, or (None, why not).

    The converter wrote one pose file per *kept* frame, in order, and listed the dropped ones;
    so the decoded frames minus the dropped ones line up with the files. Dropped frames get zero
    confidence. Coordinates are rescaled when the files' image size differs from ``size`` (h, w).
    """
    from core.convert.converter import frame_label   # how the converter named the dropped frames
    from core.pose.posefile import read_pose

    files = _pose_files(dataset_root, record)
    if not files:
        return None, "the layout has no pose files for this sequence"
    dropped = {d.get("file") for d in record.get("dropped") or []}
    kept = [i for i, n in enumerate(names) if frame_label(raw, n) not in dropped]
    if len(kept) != len(files):
        return None, (f"{len(files)} pose files do not match the {len(kept)} frames kept by the conversion; "
                      f"pose ignored")
    out = np.zeros((len(names), 17, 3), np.float32)
    h, w = size
    for i, f in zip(kept, files):
        pf = read_pose(f)
        kp = pf.keypoints.copy()
        if (pf.width, pf.height) != (w, h):
            kp[:, 0] *= w / pf.width
            kp[:, 1] *= h / pf.height
        out[i] = kp
    return out, ""


def load_rgb_sequence(dataset_root: str | Path, record: dict[str, Any], parameters: dict[str, Any] | None = None,
                      *, select: Sequence[int] | None = None, sample: int | None = None) -> RGBSequence:
    """Colour frames of one manifest record; ``select`` keeps only those positions (after stride),
    ``sample`` that many evenly spread ones (a demo render then draws only those frames).

    Raises InputError (naming the file) when the source is silhouette-only or has gone missing.
    """
    dataset_root = Path(dataset_root)
    parameters = parameters or {}
    stride = int(parameters.get("stride") or 1)
    max_frames = parameters.get("max_frames")
    gt_path = groundtruth_of(record)
    if gt_path is not None:
        from core.demo.groundtruth import load_groundtruth

        gt = load_groundtruth(gt_path)
        idx = _frame_indices(len(gt), stride, max_frames)
        if sample is not None:
            idx = idx[spread_indices(len(idx), sample)]
        if select is not None:
            idx = idx[[i for i in select if 0 <= i < len(idx)]]
        if idx.size == 0:
            raise InputError(gt_path, "no frame left to render")
        rgb = np.stack([gt.rgb(int(i)) for i in idx])
        return RGBSequence(rgb=rgb, names=[f"{int(i) + 1:05d}" for i in idx], origin="groundtruth-render",
                           path=str(gt_path), parts=gt.parts[idx], keypoints=gt.keypoints[idx].astype(np.float32),
                           keypoints_from="groundtruth")
    if record.get("media") not in COLOUR_MEDIA:
        raise InputError(record.get("source") or dataset_root, no_rgb_reason(record))
    from core.readers.media import read_frames

    raw = _raw_sequence(record)
    batch = read_frames(raw, stride=stride, max_frames=max_frames)
    if batch.images.ndim != 4:
        raise InputError(raw.source, "decoded frames are not colour images; DLCR augmentation needs RGB")
    keypoints, why = layout_keypoints(dataset_root, record, raw, batch.names, batch.images.shape[1:3])
    rgb, names = batch.images, list(batch.names)
    if sample is not None:
        select = spread_indices(len(names), sample)
    if select is not None:
        keep = [i for i in select if 0 <= i < len(names)]
        rgb, names = rgb[keep], [names[i] for i in keep]
        keypoints = keypoints[keep] if keypoints is not None else None
    notes = [f"{p.path}: {p.reason}" for p in batch.problems]
    if why:
        notes.append(why)
    return RGBSequence(rgb=np.ascontiguousarray(rgb), names=names,
                       origin="video" if record.get("media") == "video" else "frames", path=raw.source,
                       keypoints=keypoints, keypoints_from="pose-files" if keypoints is not None else "none",
                       notes=notes)
