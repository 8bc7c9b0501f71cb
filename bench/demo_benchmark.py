"""The demo benchmark (docs/contracts.md, "The demo benchmark").

Demo set -> conversion -> GaitBase (demo-cpu) -> CASIA-B protocol,
once on the converted set and once after model-free clothing augmentation of the training ids.

Runs the real CLI verbs in a temporary workspace and prints rank-1 NM/BG/CL with wall times, so the
README's figures can be reproduced with one command:

    python -m bench.demo_benchmark            # default demo set, both arms
    python -m bench.demo_benchmark --no-augment --ids 12
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.evaluate.protocols import get as protocol

ROOT = Path(__file__).resolve().parents[1]


def cli(ws: Path, *args: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=None, help="identities (default: the studio's demo default)")
    ap.add_argument("--views", default=None)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=None, help="training iterations (default: the preset's)")
    ap.add_argument("--no-augment", action="store_true", help="skip the augmented arm")
    ap.add_argument("--per-sequence", type=int, default=2, help="variants per augmented sequence")
    ap.add_argument("--kinds", default="coat", help="model-free edits for the augmented arm (default coat: a "
                    "silhouette model sees only shape, so recolouring adds nothing but duplicates)")
    ap.add_argument("--keep", default=None, help="keep the workspace in this folder instead of a temp dir")
    args = ap.parse_args()

    from core.studio import DEMO_DEFAULTS

    ids = args.ids or DEMO_DEFAULTS["ids"]
    views = args.views or ",".join(DEMO_DEFAULTS["views"])
    frames = args.frames or DEMO_DEFAULTS["frames"]
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="demo-bench-"))
    ws, raw = tmp / "ws", tmp / "raw"
    try:
        demo, t_demo = cli(ws, "demo", "--out", str(raw), "--ids", str(ids), "--views", views,
                           "--frames", str(frames), "--seed", str(args.seed))
        print(f"demo set: {ids} ids x {demo['sequences'] // ids} sequences, {frames} frames each: {t_demo:.1f} s")
        arms = [("plain", tmp / "conv")] + ([] if args.no_augment else [("augmented", tmp / "conv-aug")])
        rows = []
        casia = protocol("casia-b")   # the demo set is CASIA-B-shaped: its headline is NM/BG/CL
        for arm, conv in arms:
            res, t_conv = cli(ws, "convert", str(raw), "--out", str(conv))
            extra = ""
            if arm == "augmented":
                aug, t_aug = cli(ws, "augment", str(conv), "--per-sequence", str(args.per_sequence),
                                 "--seq-types", "nm-01,nm-02", "--seed", str(args.seed), "--kinds", args.kinds)
                cur, t_cur = cli(ws, "curate", str(conv), "--accept-all", "--merge")
                extra = f"{aug['variants']} variants in {t_aug + t_cur:.1f} s; "
            train_args = ["train", "--dataset", str(conv), "--preset", "demo-cpu", "--name", arm]
            if args.iterations:
                train_args += ["--iterations", str(args.iterations)]
            r, t_train = cli(ws, *train_args)
            chance = 100.0 / res["test_ids"]
            print(f"{arm:>9}: {extra}convert {t_conv:.1f} s, train+eval {t_train:.1f} s -> "
                  f"{casia.line(r)}  (chance {chance:.2f})")
            rows.append((arm, r, t_train))
        if len(rows) == 2:
            (_, a, _), (_, b, _) = rows
            a, b = casia.headline(a), casia.headline(b)
            print("augmented - plain: " + "  ".join(f"{c} {b[c] - a[c]:+.2f}" for c in casia.conditions
                                                      if a[c] is not None and b[c] is not None))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
