"""What the decoding scan costs: a structure-only scan, a sampled decode and a full decode of the
same trees, side by side, in seconds and as ratios to the structure-only scan.

    python -m bench.scan_decode                  # small demo sets in a temp folder
    python -m bench.scan_decode --ids 8 --frames 36 --sample 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def measure(root: Path, samples: list[int | None], repeat: int) -> list[tuple[str, float, int]]:
    from core.readers import scan

    rows = []
    for sample in samples:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            report = scan(root, decode_sample=sample)
            best = min(best, time.perf_counter() - t0)
        label = "structure only" if sample == 0 else "every frame" if sample is None else f"{sample} per sequence"
        rows.append((label, best, report.summary()["frames"]))
    return rows


def main(argv=None) -> None:
    from core.demo.writer import generate

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ids", type=int, default=4)
    ap.add_argument("--frames", type=int, default=36)
    ap.add_argument("--sample", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for layout in ("casia-b-silhouette", "ccvid", "casia-b-video"):
            root = Path(tmp) / layout
            generate(root, ids=args.ids, views=("090",), seed=0, frames=args.frames, layout=layout, workers=1)
            rows = measure(root, [0, args.sample, None], args.repeat)
            base = rows[0][1]
            print(f"{layout}: {rows[0][2]} frames")
            for label, secs, _ in rows:
                print(f"  {label:>16}: {secs:7.3f} s   x{secs / base:6.1f} the structure-only scan")


if __name__ == "__main__":
    main()
