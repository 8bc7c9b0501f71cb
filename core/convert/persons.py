"""One sequence per tracked person: a video with several walkers becomes several sequences.

Each colour video (or RGB frame folder) is decoded with the conversion's stride and frame limit,
people are found in every frame (:mod:`core.silhouette.persons`) and followed by box overlap
(:mod:`core.silhouette.tracker`); each track becomes its own sequence, identity
``<sid>-p<NN>`` (NN = the track number, stable for the same video and options), carrying its
boxes so that the silhouette and pose backends look at that person only. Sources that are
masks already are left as they are.
"""

from __future__ import annotations

import os
from dataclasses import replace

from core.errors import StudioError
from core.readers.base import PersonTrack, Problem, RawSequence, ScanReport
from core.readers.media import read_frames

_CACHE: dict[tuple, list[PersonTrack]] = {}


def person_tracks(raw: RawSequence, detector: str, stride: int = 1,
                  max_frames: int | None = None) -> list[PersonTrack]:
    """The tracked walkers of one colour sequence (cached per file state and options: a preview
    and the conversion that follows it in the same process track once)."""
    from core.silhouette.persons import person_boxes
    from core.silhouette.tracker import track_boxes

    try:
        st = os.stat(raw.source)
        key = (raw.source, st.st_mtime_ns, st.st_size, detector, stride, max_frames)
    except OSError:
        key = None
    if key in _CACHE:
        return _CACHE[key]
    batch = read_frames(raw, stride=stride, max_frames=max_frames)
    tracks = [PersonTrack(tr.number, [batch.names[i] for i in tr.frames], tr.box_array())
              for tr in track_boxes(person_boxes(batch.images, detector))]
    if key is not None:
        _CACHE[key] = tracks
    return tracks


def split_persons(report: ScanReport, detector: str, *, stride: int = 1,
                  max_frames: int | None = None) -> ScanReport:
    """``report`` with every colour sequence replaced by one sequence per tracked person."""
    out = ScanReport(root=report.root, format=report.format, problems=list(report.problems),
                     notes=list(report.notes))
    for raw in report.sequences:
        if raw.media not in ("video", "rgb"):
            out.sequences.append(raw)
            continue
        try:
            tracks = person_tracks(raw, detector, stride, max_frames)
        except StudioError as exc:
            out.problems.append(Problem(raw.source, f"could not track people: {exc}"))
            continue
        if not tracks:
            out.problems.append(Problem(raw.source, f"no person tracked ({detector} boxes) in the frames read"))
        for tr in tracks:
            sid = f"{raw.sid}-p{tr.number:02d}"
            out.sequences.append(replace(raw, sid=sid, clothes=f"{sid}_{raw.condition}", track=tr,
                                         frame_count=len(tr.names)))
    out.notes.append(f"people tracked with {detector} boxes: {len(out.sequences)} sequences "
                     f"from {len(report.sequences)}")
    return out
