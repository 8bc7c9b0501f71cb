"""Export a converted dataset to OpenGait's pkl tree, so a curated set trains in OpenGait unchanged.

OpenGait reads ``<root>/<sid>/<type>/<view>/<view>.pkl``, each a pickled uint8 array (T, 64, 64),
and a partition JSON ``{"TRAIN_SET": [...], "TEST_SET": [...]}``. Sources without CASIA-B types and
views (CCVID, GREW) keep their sequence name in the ``<view>`` slot under their condition.
Only numpy arrays are pickled; our own reading never needs pickle.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Callable

from core import locks
from core.atomic import sweep_temporaries, write_bytes, write_json
from core.errors import InputError
from core.layout import read_frames, read_manifest, sequences
from core.records import Sequence

MARKER = ".studio-export.json"


def pkl_relpath(seq: Sequence) -> Path:
    if seq.view and seq.seq == f"{seq.seq_type}-{seq.view}":
        return Path(seq.sid, seq.seq_type, seq.view, f"{seq.view}.pkl")
    slot = seq.seq.replace("/", "_")
    return Path(seq.sid, seq.condition or "00", slot, f"{slot}.pkl")


def export_opengait_pkl(dataset: str | Path, out: str | Path,
                        progress: Callable[[int, int], None] | None = None) -> dict:
    """Write the pkl tree and ``<out>/partition.json``; a rerun into the same folder resumes."""
    dataset, out = Path(dataset), Path(out)
    with locks.writing(out):
        return _export(dataset, out, progress)


def _export(dataset: Path, out: Path, progress: Callable[[int, int], None] | None) -> dict:
    read_manifest(dataset)   # names the folder if it is not a converted dataset
    if out.resolve() == dataset.resolve() or dataset.resolve() in out.resolve().parents:
        raise InputError(out, f"export folder lies inside the dataset {dataset}; choose a folder outside it")
    marker = out / MARKER
    if marker.is_file():
        if json.loads(marker.read_text()).get("dataset") != str(dataset.resolve()):
            raise InputError(out, "holds an export of another dataset; choose an empty folder")
    elif out.exists() and any(out.iterdir()):
        raise InputError(out, "export folder is not empty; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"dataset": str(dataset.resolve()), "format": "opengait-pkl"})
    sweep_temporaries(out)   # a killed export's half-written pkl files; the folder is ours (marker)
    seqs = sequences(dataset)
    written = skipped = 0
    for i, seq in enumerate(seqs, 1):
        target = out / pkl_relpath(seq)
        if target.is_file():
            skipped += 1   # files appear whole (atomic rename), so an existing one is complete
        else:
            write_bytes(target, pickle.dumps(read_frames(dataset, seq), protocol=4))
            written += 1
        if progress:
            progress(i, len(seqs))
    train = sorted({s.sid for s in seqs if s.split == "train"})
    test = sorted({s.sid for s in seqs if s.split in ("gallery", "probe")})
    write_json(out / "partition.json", {"TRAIN_SET": train, "TEST_SET": test})
    return {"out": str(out), "sequences": len(seqs), "written": written, "skipped": skipped,
            "train_ids": len(train), "test_ids": len(test)}
