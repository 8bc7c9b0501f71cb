"""GREW (official release): ``train/<sid>/<seq>/*.png``, ``test/gallery/<sid>/<seq>/*.png`` and
``test/probe/<seq>/*.png`` (probe identities hidden). Beside each frame ``<frame>_2d_pose.txt`` may
hold its 2D pose; ``<seq>_gei.png`` beside a sequence folder is its gait energy image, never a frame.

Conventions (one RawSequence per sequence folder, binary silhouettes):

* ``role`` from the folder: 'train', 'gallery', 'probe';
* ``name`` = GREW's own sequence id (the folder name);
* hidden-id probes get ``sid = HIDDEN_SID`` ('_probe'), a constant that can never be a real id; the
  probe's true name stays in ``name``. A ``test/probe/<sid>/<seq>/`` tree (ids known, e.g. our own
  output layout) is read with its ids;
* ``condition`` = ``seq_type`` = 'nm' (GREW records no walking condition), ``view`` = '',
  ``clothes`` = '' (GREW records no clothes);
* ``pose`` = the ``*_2d_pose.txt`` files aligned with ``frames``, set only when every frame has one.
"""

from __future__ import annotations

from pathlib import Path

from core.readers.base import HIDDEN_SID, Problem, RawSequence, ScanReport, nonempty_frames

POSE_SUFFIX = "_2d_pose.txt"
GEI_SUFFIX = "_gei.png"
CONDITION = "nm"


def _subdirs(p: Path) -> list[Path]:
    return sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith((".", "_")))


def _is_frame(f: Path) -> bool:
    if not f.is_file() or f.suffix.lower() != ".png" or f.name.startswith("."):
        return False
    stem = f.stem.lower()
    return not stem.endswith("_gei") and "_pose" not in stem


def _has_frames(folder: Path) -> bool:
    return any(_is_frame(f) for f in folder.iterdir())


def looks_like(root: Path) -> tuple[float, str]:
    parts = [n for n in ("train", "test/gallery", "test/probe") if (root / n).is_dir()]
    if not parts:
        return 0.0, "no train/, test/gallery/ or test/probe/ folders"
    conf = 0.3 + 0.1 * len(parts)
    # sample one sequence folder
    sample = None
    for top in parts:
        base = root / top
        first = next(iter(_subdirs(base)), None)
        if first is None:
            continue
        if top == "test/probe" and _has_frames(first):
            sample = first
        else:
            sample = next(iter(_subdirs(first)), None)
        if sample is not None:
            break
    if sample is not None and _has_frames(sample):
        conf += 0.3
        return min(conf, 0.95), f"{', '.join(p + '/' for p in parts)} with PNG frames in sequence folders " \
                                f"(e.g. {sample.relative_to(root)})"
    return conf, f"{', '.join(p + '/' for p in parts)} but no sequence folder with PNG frames found in a sample"


def _sequence(folder: Path, sid: str, role: str, report: ScanReport) -> RawSequence | None:
    frames = nonempty_frames((f for f in sorted(folder.iterdir()) if _is_frame(f)), report)
    if not frames:
        report.problems.append(Problem(str(folder), "no PNG frames; sequence skipped"))
        return None
    poses = [f.with_name(f.stem + POSE_SUFFIX) for f in frames]
    have = [p.is_file() and p.stat().st_size > 0 for p in poses]
    if all(have):
        pose = poses
    else:
        pose = []
        if any(have):
            report.problems.append(Problem(str(folder), f"2D pose for {sum(have)} of {len(frames)} frames; "
                                                        f"given pose not used for this sequence", "warning"))
    return RawSequence(sid=sid, seq_type=CONDITION, view="", condition=CONDITION, frames=frames, clothes="",
                       media="silhouette", pose=pose, role=role, name=folder.name)


def _stray_files(folder: Path, report: ScanReport, where: str) -> None:
    stray = [f for f in folder.iterdir() if f.is_file() and not f.name.startswith(".")
             and not f.name.lower().endswith(GEI_SUFFIX)]
    if stray:
        report.problems.append(Problem(str(folder), f"{len(stray)} file(s) where {where} folders were expected "
                                                    f"(e.g. {sorted(stray)[0].name}); ignored", "warning"))


def _read_identities(base: Path, role: str, report: ScanReport) -> int:
    n = 0
    _stray_files(base, report, "identity")
    for sid_dir in _subdirs(base):
        _stray_files(sid_dir, report, "sequence")
        for seq_dir in _subdirs(sid_dir):
            seq = _sequence(seq_dir, sid_dir.name, role, report)
            if seq is not None:
                report.sequences.append(seq)
                n += 1
    return n


def scan(root: str | Path) -> ScanReport:
    root = Path(root)
    report = ScanReport(root=root, format="grew")
    counts = {"train": 0, "gallery": 0, "probe": 0}
    if (root / "train").is_dir():
        counts["train"] = _read_identities(root / "train", "train", report)
    if (root / "test" / "gallery").is_dir():
        counts["gallery"] = _read_identities(root / "test" / "gallery", "gallery", report)
    probe_dir = root / "test" / "probe"
    if probe_dir.is_dir():
        _stray_files(probe_dir, report, "probe sequence")
        hidden = 0
        for entry in _subdirs(probe_dir):
            if _has_frames(entry):                      # official: test/probe/<seq>/*.png, id hidden
                found = [(entry, HIDDEN_SID)]
            else:                                       # ids known: test/probe/<sid>/<seq>/
                found = [(seq_dir, entry.name) for seq_dir in _subdirs(entry)]
                if not found:
                    report.problems.append(Problem(str(entry), "no PNG frames and no sequence folders; skipped"))
                    continue
                _stray_files(entry, report, "sequence")
            for seq_dir, sid in found:
                seq = _sequence(seq_dir, sid, "probe", report)
                if seq is not None:
                    report.sequences.append(seq)
                    counts["probe"] += 1
                    hidden += sid == HIDDEN_SID
        if hidden:
            report.notes.append(f"{hidden} probe sequences with hidden identity (sid {HIDDEN_SID!r}, GREW id in the "
                                f"sequence name)")
        if counts["probe"] and not counts["gallery"]:
            report.problems.append(Problem(str(probe_dir), f"{counts['probe']} probe sequences but no gallery "
                                                           f"sequence (test/gallery/<sid>/<seq>/ missing or empty): "
                                                           f"probes cannot be matched against anything", "warning"))
    for extra in ("distractor",):
        if (root / extra).is_dir():
            report.problems.append(Problem(str(root / extra), f"{extra}/ is not read by this version; ignored",
                                           "warning"))
    if not any(counts.values()) and not report.problems:
        report.problems.append(Problem(str(root), "no train/<sid>/<seq>/, test/gallery/<sid>/<seq>/ or "
                                                  "test/probe/<seq>/ folders with PNG frames"))
    return report
