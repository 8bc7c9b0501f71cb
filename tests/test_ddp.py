"""Two-process DDP training on CPU (gloo), launched with torchrun exactly as a user would.

Rank 0 announces the run (as the CLI's train verb does) and rank 1 follows it; rank 0 asks to
stop part-way, which must stop both at the same step. Both ranks must end with identical
weights, and only rank 0 may write files.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

from core.train.checkpoint import load_checkpoint
from tests.test_train import TINY, make_packed

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import torch
    from core.train import launch as D
    from core.train import trainer as T

    cfg, run_dir, out = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

    def dump(tr):
        torch.save({k: v.detach().clone() for k, v in tr.model.named_parameters()}, out / f"rank{tr.rank}.pt")

    if D.is_follower():
        def refuse(*a, **k):
            raise AssertionError("a rank other than 0 tried to write a file")
        T.save_checkpoint = T.write_json = refuse
        summary = D.follow_leader(on_trained=dump)
    else:
        events, polls = [], []
        D.announce(cfg, run_dir)
        res = T.train(cfg, run_dir, report=events.append, on_trained=dump,
                      should_stop=lambda: polls.append(1) or len(polls) > 5)
        summary = {"rank": 0, "step": res.step, "stopped": res.stopped, "world_size": res.world_size,
                   "metrics": sum(e["type"] == "metrics" for e in events)}
    (out / f"summary{summary['rank']}.json").write_text(json.dumps(summary))
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_trains_identically_and_only_rank0_writes(tmp_path):
    data = make_packed(tmp_path / "data", ids=4, train_ids=4, frames=6)
    cfg = {**TINY, "dataset": str(data), "iterations": 8, "checkpoint_every": 100, "threads": 1,
           "augment": ["cut", {"type": "rotate", "prob": 0.5}, {"type": "flip", "prob": 0.5}]}
    out = tmp_path / "out"
    out.mkdir()
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "--no-python", sys.executable, "-c", WORKER,
           json.dumps(cfg), str(run_dir), str(out)]
    # ``python -c`` run from the project root finds ``core`` there, as a user's torchrun would.
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]

    s0 = json.loads((out / "summary0.json").read_text())
    s1 = json.loads((out / "summary1.json").read_text())
    assert s0["world_size"] == s1["world_size"] == 2
    assert s0["step"] == s1["step"] == 5 and s0["stopped"] and s1["stopped"]     # rank 0's stop reached rank 1
    assert s0["metrics"] == 5                                                     # log_every 1, rank 0 only
    w0, w1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    ck = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert ck["step"] == 5 and ck["world_size"] == 2
    assert all(torch.equal(ck["model"][k], w0[k]) for k in w0)
    assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoints", "config.json"]
