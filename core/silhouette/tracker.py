"""One track per person across frames, by box overlap (IoU), greedy, frame by frame.

Each frame's boxes are matched to the live tracks in order of decreasing IoU (at least
``min_iou``); a box left over starts a new track; a track unmatched for more than ``max_gap``
frames ends. Gaps inside a track are filled by interpolating its box linearly, so a walker
briefly missed by the detector keeps one continuous sequence. Tracks shorter than ``min_length``
frames (passing noise, a half-seen walker at the border) are dropped.

Track numbers are stable for the same boxes: tracks are numbered from 1 in order of their first
frame, then of their first box's left edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import ConfigError

MIN_IOU = 0.3
MAX_GAP = 4
MIN_LENGTH = 10


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) intersection over union of boxes ``a`` (N, 4) and ``b`` (M, 4), x0, y0, x1, y1."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class Track:
    """Boxes of one person: ``frames`` (0-based indices into the frames given, consecutive) and
    ``boxes`` (len(frames), 4); ``detected`` marks the frames whose box was seen, not filled in."""

    number: int
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def add(self, frame: int, box: np.ndarray) -> None:
        if self.frames and frame > self.last + 1:     # fill the gap since the last sighting
            prev = self.boxes[-1]
            steps = frame - self.last
            for k in range(1, steps):
                self.frames.append(self.last + 1)
                self.boxes.append(prev + (box - prev) * (k / steps))
                self.detected.append(False)
        self.frames.append(frame)
        self.boxes.append(np.asarray(box, np.float32))
        self.detected.append(True)

    def box_array(self) -> np.ndarray:
        return np.stack(self.boxes).astype(np.float32)


def track_boxes(per_frame: list[np.ndarray], *, min_iou: float = MIN_IOU, max_gap: int = MAX_GAP,
                min_length: int = MIN_LENGTH) -> list[Track]:
    """Tracks from the (N_t, 4) boxes of each frame, numbered from 1 (see the module's doc)."""
    if not 0.0 < min_iou <= 1.0 or max_gap < 0 or min_length < 1:
        raise ConfigError(f"need 0 < min_iou <= 1, max_gap >= 0, min_length >= 1; "
                          f"got {min_iou}, {max_gap}, {min_length}")
    live: list[Track] = []
    ended: list[Track] = []
    for t, boxes in enumerate(per_frame):
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        still = []
        for tr in live:
            (ended if t - tr.last > max_gap + 1 else still).append(tr)
        live = still
        free = set(range(len(boxes)))
        if live and len(boxes):
            iou = iou_matrix(np.stack([tr.boxes[-1] for tr in live]), boxes)
            pairs = sorted(((iou[i, j], i, j) for i in range(len(live)) for j in range(len(boxes))
                            if iou[i, j] >= min_iou), reverse=True)
            used = set()
            for _, i, j in pairs:
                if i in used or j not in free:
                    continue
                used.add(i)
                free.discard(j)
                live[i].add(t, boxes[j])
        for j in sorted(free):
            tr = Track(0)
            tr.add(t, boxes[j])
            live.append(tr)
    tracks = [tr for tr in ended + live if sum(tr.detected) >= min_length]
    tracks.sort(key=lambda tr: (tr.first, float(tr.boxes[0][0])))
    for n, tr in enumerate(tracks, 1):
        tr.number = n
    return tracks
