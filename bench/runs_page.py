"""How long the Runs page takes to open on one run: figures recomputed at open (before) vs read
from what the evaluation stored (after), side by side.

Each timing is one page render (the tick that fills the table, curves and the run's panels) in a
fresh process with the app's modules already imported, as in a running app that has not drawn this
run yet: so torch's import for the CMC ranking counts where the page needs it.

    python -m bench.runs_page                        # a tiny run trained here first
    python -m bench.runs_page --workspace WS --run 3 # a real run (e.g. the demo benchmark's)
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from app import results_tab as R
from app.run_detail import heavy
from core.studio import Studio
studio = Studio(sys.argv[1]); rid = int(sys.argv[2]); deep = sys.argv[3] == "1"
t0 = time.perf_counter()
R.refresh(studio, rid, "", None, "pca", "JSON", deep)
t1 = time.perf_counter()
heavy(studio, rid, "pca")          # the section opened afterwards
t2 = time.perf_counter()
R.refresh(studio, rid, "", None, "pca", "JSON", deep)   # warm: the same page opened again in this process
t3 = time.perf_counter()
print(json.dumps({"page": t1 - t0, "section": t2 - t1, "warm": t3 - t2}))
"""


def tiny_run(tmp: Path) -> tuple[Path, int]:
    from core.cli import run_job_here
    from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
    from core.jobs.kinds import register_converted
    from core.readers import scan
    from core.studio import Studio
    from core.train.config import preset
    from tests.fixtures import make_casia_b_silhouettes

    raw = make_casia_b_silhouettes(tmp / "raw", ids=(1, 2, 3, 4, 5, 6), views=("000", "090", "144"), frames=6)
    studio = Studio(tmp / "ws")
    out = studio.ws.datasets_dir / "tiny"
    conv = run_conversion(plan_conversion(scan(raw), out, ConvertOptions(split="first:3", workers=1)))
    ds_id = register_converted(studio.catalog, out, name="tiny", source=str(raw), result=conv)
    cfg = preset("demo-cpu", dataset=str(out.resolve()), iterations=4, log_every=2, checkpoint_every=4,
                 batch_ids=2, batch_seqs=2, frames=5)
    run_dir = studio.ws.runs_dir / "tiny"
    run_dir.mkdir(parents=True)
    rid = studio.catalog.create_run("tiny", cfg.model, asdict(cfg), run_dir, ds_id)
    run_job_here(studio, "train", {"run_id": rid}, run_id=rid, quiet=True)
    return tmp / "ws", rid


def render(ws: Path, rid: int, deep: bool) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ws), str(rid), "1" if deep else "0"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--run", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="runs-page-"))
    try:
        if args.workspace:
            ws, rid = Path(args.workspace), args.run
        else:
            ws, rid = tiny_run(tmp)
        from core.studio import Studio, runs

        report = runs.embeddings_file(Studio(ws).run(rid)).with_name("report.json")
        if not report.is_file():
            sys.exit(f"{report}: no stored report (evaluate the run with this version first)")
        aside = tmp / "report.json"
        before, after = [], []
        for _ in range(args.repeat):
            shutil.move(report, aside)          # before: nothing stored, every figure drawn at open
            try:
                before.append(render(ws, rid, deep=True))
            finally:
                shutil.move(aside, report)
            after.append(render(ws, rid, deep=False))
        b = statistics.median(x["page"] for x in before)
        a = statistics.median(x["page"] for x in after)
        s = statistics.median(x["section"] for x in after)
        w = statistics.median(x["warm"] for x in after)
        print(f"run #{rid} in {ws}, median of {args.repeat} fresh processes:")
        print(f"  before: figures recomputed at open, all drawn      {b:6.2f} s")
        print(f"  after:  stored figures, heavy section closed       {a:6.2f} s   ({b / a:.1f}x faster)")
        print(f"  after:  opening the heavy section (stored)         {s:6.2f} s")
        print(f"  after:  the page again in the same process (warm)  {w:6.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
