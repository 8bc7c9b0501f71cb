"""CCVID: ``<root>/session{1,2,3}/<sid>_<NN>/<frame:05d>.jpg`` plus ``train.txt``, ``query.txt`` and
``gallery.txt``, whose lines read ``session1/001_01 001 <clothes_label>`` (whitespace separated).

Conventions (one RawSequence per listed tracklet, RGB frames):

* ``sid`` = the list's pid column; session 3 keeps the ids of session 1 (never renumbered);
* ``name`` = ``s<session>-<NN>`` (``session1/001_02`` -> ``s1-02``), so the session stays in the key;
* ``role`` = train / probe (query.txt) / gallery;
* ``clothes`` = ``<pid>_<clothes_label>``; ``condition`` = ``seq_type`` = the clothes label; ``view`` = '';
* ``camera`` = the number after ``_`` in the tracklet folder, plus 12 in session 3, as a string.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.demo.groundtruth import GT_DIR, groundtruth_name
from core.readers.base import Problem, RawSequence, ScanReport, nonempty_frames

LISTS = (("train", "train"), ("query", "probe"), ("gallery", "gallery"))
TRACKLET_RE = re.compile(r"^session(\d+)/([^/\s]+)_(\d+)/?$")
SESSION_RE = re.compile(r"^session(\d+)$")
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
SESSION3_CAMERA_OFFSET = 12


def camera_id(session: int, nn: str) -> str:
    return str(int(nn) + (SESSION3_CAMERA_OFFSET if session == 3 else 0))


def looks_like(root: Path) -> tuple[float, str]:
    present = [n for n, _ in LISTS if (root / f"{n}.txt").is_file()]
    if not present:
        return 0.0, "no train.txt / query.txt / gallery.txt"
    sessions = sorted(p.name for p in root.iterdir() if p.is_dir() and SESSION_RE.match(p.name))
    line = ""
    try:
        with open(root / f"{present[0]}.txt", encoding="utf-8", errors="replace") as fh:
            for raw in fh:
                if raw.strip():
                    line = raw.strip()
                    break
    except OSError:
        pass
    fields = line.split()
    ok_line = len(fields) == 3 and bool(TRACKLET_RE.match(fields[0]))
    conf = 0.3 + 0.2 * (len(present) == 3) + 0.25 * bool(sessions) + 0.2 * ok_line
    return conf, (f"{', '.join(f'{n}.txt' for n in present)} with {len(sessions)} session folder(s); "
                  f"first line {'reads' if ok_line else 'does not read'} like 'session1/001_01 001 <clothes>'")


def _frames(folder: Path, report: ScanReport) -> list[Path]:
    return nonempty_frames((f for f in sorted(folder.iterdir())
                            if f.is_file() and f.suffix.lower() in FRAME_SUFFIXES and not f.name.startswith(".")),
                           report)


def _parse_lists(root: Path, report: ScanReport) -> list[tuple[Path, int, str, str, str, str]]:
    """(list file, line number, tracklet, pid, clothes label, role) for every well-formed line."""
    entries = []
    for list_name, role in LISTS:
        list_path = root / f"{list_name}.txt"
        if not list_path.is_file():
            report.problems.append(Problem(str(list_path), f"list file missing: no {role} sequences can be read"))
            continue
        try:
            text = list_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            report.problems.append(Problem(str(list_path), f"unreadable list file ({exc})"))
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 3:
                report.problems.append(Problem(str(list_path), f"line {lineno}: expected 3 fields "
                                                               f"'<session>/<sid>_<NN> <pid> <clothes>', got "
                                                               f"{len(fields)} ({line.strip()[:80]!r}); skipped"))
                continue
            tracklet, pid, label = fields
            tracklet = tracklet.replace("\\", "/").rstrip("/")
            if not TRACKLET_RE.match(tracklet):
                report.problems.append(Problem(str(list_path), f"line {lineno}: {tracklet!r} is not "
                                                               f"session<k>/<sid>_<NN>; skipped"))
                continue
            entries.append((list_path, lineno, tracklet, pid, label, role))
    return entries


def scan(root: str | Path) -> ScanReport:
    root = Path(root)
    report = ScanReport(root=root, format="ccvid")
    gt_dir = root / GT_DIR
    entries = _parse_lists(root, report)
    where: dict[str, list[str]] = {}
    for list_path, lineno, tracklet, *_ in entries:
        where.setdefault(tracklet, []).append(f"{list_path.name} line {lineno}")
    for list_path, lineno, tracklet, pid, label, role in entries:
        here = f"{list_path.name} line {lineno}"
        if len(where[tracklet]) > 1:
            others = ", ".join(w for w in where[tracklet] if w != here)
            report.problems.append(Problem(str(list_path), f"line {lineno}: {tracklet} is also listed at {others}; "
                                                           f"a tracklet belongs to one list only — skipped everywhere"))
            continue
        m = TRACKLET_RE.match(tracklet)
        session, folder_sid, nn = int(m.group(1)), m.group(2), m.group(3)
        folder = root / tracklet
        if not folder.is_dir():
            report.problems.append(Problem(str(list_path), f"line {lineno}: folder {tracklet} does not exist; "
                                                           f"sequence skipped"))
            continue
        if folder_sid != pid:
            report.problems.append(Problem(str(list_path), f"line {lineno}: folder {tracklet} is named for id "
                                                           f"{folder_sid} but the list says {pid}; using {pid}",
                                           "warning"))
        frames = _frames(folder, report)
        if not frames:
            report.problems.append(Problem(str(folder), "no image frames; sequence skipped"))
            continue
        gt = gt_dir / groundtruth_name(tracklet)
        report.sequences.append(RawSequence(
            sid=pid, seq_type=label, view="", condition=label, frames=frames, clothes=f"{pid}_{label}",
            media="rgb", role=role, name=f"s{session}-{nn}", camera=camera_id(session, nn),
            groundtruth=gt if gt.is_file() else None))
    # tracklet folders that no list mentions
    for session_dir in sorted(p for p in root.iterdir() if p.is_dir() and SESSION_RE.match(p.name)):
        for folder in sorted(p for p in session_dir.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
            if f"{session_dir.name}/{folder.name}" not in where:
                report.problems.append(Problem(str(folder), "tracklet folder is in no list (train/query/gallery.txt); "
                                                            "ignored", "warning"))
    return report
