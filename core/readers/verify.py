"""The decoding half of ``scan``: every frame (or an evenly spaced sample) of every sequence is
decoded before anything is written, and what will not convert is listed per file.

A reader only walks the tree and reads names and headers; this pass reads the pixels, so a corrupt
JPEG, a zero-byte PNG, a frame of another size than its sequence's majority, or a video that holds
fewer decodable frames than its container declares (a truncated copy) is named in the report. A
sequence left with no decodable frame is an error and is taken out of the report's sequences, as
the conversion would fail it. The conversion itself decodes again and lists, in the manifest,
every frame it drops; this pass only reports.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2

from core.readers.base import RawSequence, ScanReport
from core.readers.media import read_image
from core.readers.sizes import majority_size, other_size_reason

Progress = Callable[[int, int, str], None]
SEEK_WORTH = 8     # a sampled video is sought only when it has more than this many frames per sample


def sample_indices(n: int, sample: int | None) -> list[int]:
    """All of ``range(n)``, or ``sample`` indices evenly spaced over it, first and last included."""
    if sample is None or sample >= n:
        return list(range(n))
    if sample <= 1:
        return [0][:sample]
    return sorted({round(i * (n - 1) / (sample - 1)) for i in range(sample)})


def _check_images(raw: RawSequence, report: ScanReport, sample: int | None) -> bool:
    """Decode the sequence's image files; True when at least one decodes."""
    sizes: list[tuple[int, int]] = []
    good: list[Path] = []
    checked = sample_indices(len(raw.frames), sample)
    for i in checked:
        f = Path(raw.frames[i])
        img, why = read_image(f, colour=False)     # decoding is what is checked; grey is enough for that
        if img is None:
            report.add_problem(f, why)
            continue
        sizes.append(img.shape[:2])
        good.append(f)
    major = majority_size(sizes)
    if major is None:
        report.add_problem(raw.source, f"no decodable frame among the {len(checked)} files checked; "
                                       f"sequence skipped")
        return False
    n_major = sizes.count(major)
    for f, size in zip(good, sizes):
        if size != major:
            report.add_problem(f, other_size_reason(size, major, n_major, len(sizes)))
    return True


def _check_video(raw: RawSequence, report: ScanReport, sample: int | None) -> bool:
    """Decode the video (every frame, or the sampled positions); True when at least one frame decodes.
    A stream that ends before the container's declared count is listed as truncated."""
    path = Path(raw.video)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            report.add_problem(path, "OpenCV cannot open this video (unknown container or codec, or a damaged "
                                     "file); sequence skipped")
            return False
        declared = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
        # OpenCV's seek costs several frames' decoding (measured: 8 seeks in a 36-frame MJPG clip take
        # 2.7x a full pass, in a 300-frame clip 0.4x), so a short clip is decoded whole, sample or not
        whole = sample is None or not declared or declared <= SEEK_WORTH * sample
        if whole:
            decoded = 0
            while cap.grab():
                decoded += 1
            short = declared and decoded < declared
            first_bad = decoded + 1
        else:
            decoded, first_bad = 0, None
            for i in sample_indices(declared, sample):
                cap.set(cv2.CAP_PROP_POS_FRAMES, i)
                if not cap.grab():
                    first_bad = i + 1
                    break
                decoded += 1
            short = first_bad is not None
    finally:
        cap.release()
    if decoded == 0:
        report.add_problem(path, f"no frame could be decoded (the container declares {declared or 'no count'}); "
                                 f"sequence skipped")
        return False
    if short:
        what = (f"decoded {decoded} of the {declared} frames the container declares" if whole else
                f"frame {first_bad} of the {declared} the container declares does not decode (sampled check)")
        report.add_problem(path, f"{what}; the file looks truncated or corrupt — frames from {first_bad} on "
                                 f"will be missing", "warning")
    return True


def verify(report: ScanReport, *, sample: int | None = None, progress: Progress | None = None) -> ScanReport:
    """Decode every sequence's frames (``sample``: at most that many per sequence, evenly spaced;
    0: nothing) and add a problem per file that will not convert as it is. Sequences with no
    decodable frame are removed from ``report.sequences``. ``progress(done, total, message)``
    counts sequences."""
    if sample == 0:
        return report
    total = len(report.sequences)
    kept = []
    for n, raw in enumerate(report.sequences):
        if raw.media in ("silhouette", "rgb"):
            ok = _check_images(raw, report, sample)
        elif raw.media == "video" and raw.video is not None:
            ok = _check_video(raw, report, sample)
        else:      # arrays are validated when their reader loads them
            ok = True
        if ok:
            kept.append(raw)
        if progress:
            progress(n + 1, total, f"decoding frames: {n + 1}/{total} sequences")
    report.sequences[:] = kept
    what = "every frame" if sample is None else f"up to {sample} frames per sequence"
    report.notes.append(f"decoded {what} of {total} sequences; {total - len(kept)} have no decodable frame")
    return report
