"""The demo benchmark (docs/contracts.md, "The demo benchmark").

Demo set -> conversion -> model-free clothing augmentation of the training ids -> the augmentation
experiment: GaitBase (demo-cpu) trained with and without the merged variants for each of N seeds,
CASIA-B protocol, mean ± spread over the seeds.

Runs the real CLI verbs in a temporary workspace and prints rank-1 NM/BG/CL with wall times, so the
README's figures can be reproduced with one command:

    python -m bench.demo_benchmark            # default demo set, 3 seeds
    python -m bench.demo_benchmark --seeds 1 --ids 12 --iterations 20
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


ROOT = Path(__file__).resolve().parents[1]


def cli(ws: Path, *args: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "core", "--workspace", str(ws), *args, "--json"], cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t0


def table(out: dict) -> str:
    """The README's markdown table: each seed's NM / BG / CL with and without, then mean ± spread."""
    conds = [k[: -len(" with")] for k in out["seeds"][0] if k.endswith(" with")]
    lines = ["| seed | arm | " + " | ".join(conds) + " |", "|---|---|" + "---|" * len(conds)]
    for r in out["seeds"]:
        for arm in ("with", "without", "Δ"):
            vals = [r[f"{c} {arm}"] for c in conds]
            lines.append(f"| {r['seed']} | {arm} | " + " | ".join("—" if v is None else f"{v:+.2f}" if arm == "Δ"
                                                                  else f"{v:.2f}" for v in vals) + " |")
    for s in out["summary"]:
        for arm in ("with", "without", "Δ"):
            lines.append(f"| mean ± s.d. ({s['seeds']}) | {arm} | " + " | ".join(str(s[f'{c} {arm}']) for c in conds)
                         + " |")
        lines.append("| |Δ| > s.d. of Δ? | | " + " | ".join(str(s[f"{c} Δ beyond spread"]) for c in conds) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ids", type=int, default=None, help="identities (default: the studio's demo default)")
    ap.add_argument("--views", default=None)
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=None, help="training iterations (default: the preset's)")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds; each trains both arms (default 3)")
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
        conv = tmp / "conv"
        res, t_conv = cli(ws, "convert", str(raw), "--out", str(conv))
        print(f"convert: {t_conv:.1f} s, {res['test_ids']} test ids (chance {100.0 / res['test_ids']:.2f}%)")
        aug, t_aug = cli(ws, "augment", str(conv), "--per-sequence", str(args.per_sequence),
                         "--seq-types", "nm-01,nm-02", "--seed", str(args.seed), "--kinds", args.kinds)
        _, t_cur = cli(ws, "curate", str(conv), "--accept-all", "--merge")
        print(f"augment + merge: {aug['variants']} variants in {t_aug + t_cur:.1f} s")
        # One experiment: per seed, the same preset trained with and without the merged variants.
        exp_args = ["experiment", "--dataset", str(conv), "--preset", "demo-cpu", "--seeds", str(args.seeds)]
        if args.iterations:
            exp_args += ["--iterations", str(args.iterations)]
        out, t_exp = cli(ws, *exp_args)
        print(f"{2 * args.seeds} trainings + evaluations: {t_exp:.1f} s")
        print(table(out))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
