"""The protocol registry: every protocol object's headline from a real evaluation, the typed
EvalResult through JSON, and the trainer's periodic evaluation under the dataset's own protocol."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from core.cli import build_parser
from core.errors import ConfigError
from core.evaluate import protocols as P
from core.evaluate.casia_b import evaluate_casia_b
from core.evaluate.protocols import cmc_curves
from core.evaluate.run import periodic_evaluator
from core.jobs.kinds import headline as job_headline
from core.train.trainer import train
from tests.test_protocols import ccvid_case, grew_case
from tests.test_train import make_packed, tiny

ROOT = Path(__file__).resolve().parents[1]


def casia_case():
    """Two ids on two views, every CASIA-B type; id 1's CL probes sit nearer id 0 (CL rank-1 50%)."""
    rows = []
    for sid, centre in (("001", 0.0), ("002", 10.0)):
        for t in P.get("casia-b").sequence_types:
            for view in ("090", "144"):
                x = 1.0 if (sid == "002" and t.startswith("cl")) else centre
                rows.append((x + 0.01 * len(rows), sid, t, view))
    emb = np.repeat(np.array([r[0] for r in rows], np.float32)[:, None, None], 2, axis=2)
    return dict(embeddings=emb, labels=[r[1] for r in rows], types=[r[2] for r in rows], views=[r[3] for r in rows])


def test_registry_names_aliases_and_arrays():
    assert P.PROTOCOLS == ("casia-b", "ccvid", "grew", "oumvlp", "sustech1k", "ccpg", "gait3d", "gallery-probe",
                           "gallery-probe-cross-view")
    assert P.get("CASIA_B") is P.get("casiab") is P.get("casia") is P.get("casia-b")
    assert P.get(P.get("grew")).name == "grew"
    with pytest.raises(ConfigError, match="unknown protocol 'market'"):
        P.get("market")
    assert P.get("ccvid").arrays == ("embeddings", "labels", "roles", "cameras", "clothes")
    assert {p.name: p.default_metric for p in P.REGISTRY} == {"casia-b": "euc", "ccvid": "cos", "grew": "euc",
                                                              **{n: "euc" for n in P.PROTOCOLS[3:]}}
    assert P.get("OU-MVLP") is P.get("oumvlp") and P.get("custom") is P.get("gallery-probe")
    assert P.FIG_PER_VIEW in P.get("casia-b").figures and P.FIG_PER_VIEW not in P.get("ccvid").figures
    assert all(P.FIG_CMC in p.figures for p in P.REGISTRY)
    assert P.get("casia-b").sequence_types[:4] == ["nm-01", "nm-02", "nm-03", "nm-04"]
    assert P.get("casia-b").probe_types["CL"] == ("cl-01", "cl-02")
    # the CLI offers exactly the registry's protocols
    choices = next(a.choices for a in build_parser()._subparsers._group_actions[0].choices["eval"]._actions
                   if a.dest == "protocol")
    assert list(choices) == list(P.PROTOCOLS)


def test_protocol_for_reads_the_source_format(tmp_path):
    for fmt, want in (("ccvid", "ccvid"), ("grew", "grew"), ("casia-b-silhouette", "casia-b"), ("", "casia-b"),
                      ("oumvlp", "oumvlp"), ("gait3d", "gait3d"), ("ccpg", "ccpg"), ("sustech1k", "sustech1k"),
                      ("generic-tree", "gallery-probe")):
        (tmp_path / "manifest.json").write_text(json.dumps({"parameters": {"format": fmt}}))
        assert P.protocol_for(tmp_path) == want
    assert P.protocol_for(tmp_path / "missing") == "casia-b"


def test_casia_b_headline_from_a_real_evaluation():
    case = casia_case()
    res = P.evaluate("casia-b", **case)
    ref = evaluate_casia_b(**case)
    assert {k: res[k] for k in ("NM", "BG", "CL")} == {k: ref[k] for k in ("NM", "BG", "CL")}
    assert P.get("casia-b").headline(res) == {"NM": 100.0, "BG": 100.0, "CL": 50.0}
    assert P.results_line("casia-b", res) == "rank-1 (euc): NM 100.00  BG 100.00  CL 50.00"
    r = P.EvalResult.from_dict(res)
    assert r.views == ["090", "144"] and r.per_view["CL"] == {"090": 50.0, "144": 50.0}
    assert r.conditions["NM"]["probes"] == 2 * 2 * 2 and r.conditions["CL"]["rank-1"] == 50.0
    # the CMC through the registry starts at the reported rank-1
    curves = cmc_curves(case, "casia-b")
    assert curves["CL"].at(1) == pytest.approx(50.0) and curves["NM"].at(1) == pytest.approx(100.0)


def test_ccvid_headline_from_a_real_evaluation():
    res = P.evaluate("ccvid", **ccvid_case())
    h = P.get("ccvid").headline(res)
    assert list(h) == ["general rank-1", "general mAP", "cc rank-1", "cc mAP"]
    assert h["general rank-1"] == pytest.approx(50.0) and h["cc rank-1"] == 0.0 and h["cc mAP"] == pytest.approx(50.0)
    assert P.results_line("ccvid", res).startswith("CCVID (cos): general rank-1 50.00 mAP ")
    r = P.EvalResult.from_dict(res)
    assert set(r.conditions) == {"general", "cc", "sc"} and r.per_view == {} and r.metric == "cos"
    assert set(cmc_curves(ccvid_case(), "ccvid")) == {"general", "cc"}
    assert job_headline({**res, "chance": 10.0}) == {**h, "chance": 10.0, "protocol": "ccvid"}


def test_grew_headline_from_a_real_evaluation(tmp_path):
    res = P.evaluate("grew", submission=tmp_path / "s.csv", **grew_case())
    h = P.get("grew").headline(res)
    assert h == {"rank-1": 33.33, "rank-5": 66.67, "rank-10": 66.67, "rank-20": 66.67}
    line = P.results_line("grew", res)
    assert line.startswith("GREW (euc): rank-1 33.33  rank-5 66.67  rank-10 66.67  rank-20 66.67  submission: ")
    assert P.EvalResult.from_dict(res).conditions["probe"]["rank-1"] == 33.33
    assert job_headline(res) == {**h, "chance": None, "protocol": "grew"}


def test_eval_result_round_trips_through_json():
    res = P.evaluate("casia-b", **casia_case())
    res.update(step=7, chance=50.0, refined={**P.evaluate("casia-b", **casia_case()), "refined_queries": 3})
    stored = json.loads(json.dumps(res))           # as a catalog row or eval/*.json holds it
    r = P.EvalResult.from_dict(stored)
    assert (r.protocol, r.metric, r.step) == ("casia-b", "euc", 7)
    assert r.refined is not None and r.refined.headline == r.headline and r.refined.detail["refined_queries"] == 3
    assert r.to_dict() == stored and json.loads(json.dumps(r.to_dict())) == stored
    # results stored before 'protocol' was recorded are CASIA-B's
    old = {k: v for k, v in stored.items() if k not in ("protocol", "refined")}
    assert P.EvalResult.from_dict(old).protocol == "casia-b" and P.EvalResult.from_dict(old).to_dict() == old
    for name, case in (("ccvid", ccvid_case()), ("grew", grew_case())):
        stored = json.loads(json.dumps(P.evaluate(name, **case)))
        assert P.EvalResult.from_dict(stored).to_dict() == stored and P.EvalResult.from_dict(stored).protocol == name
    assert P.headline({}) == {}


def test_training_imports_no_evaluation():
    """The trainer receives its evaluator: core/train must not import core.evaluate (no cycle)."""
    for path in (ROOT / "core" / "train").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("core.evaluate") for n in names), f"{path.name} imports {names}"


@pytest.fixture(scope="module")
def grew_data(tmp_path_factory):
    root = make_packed(tmp_path_factory.mktemp("grew"), ids=5, train_ids=3)
    (root / "manifest.json").write_text(json.dumps({"parameters": {"format": "grew"}}))
    return root


def test_periodic_evaluation_reports_the_datasets_protocol(grew_data, tmp_path):
    cfg = tiny(grew_data, iterations=4, eval_every=2)
    evaluator = periodic_evaluator(cfg)
    assert evaluator.protocol == "grew"
    events = []
    train(cfg, tmp_path / "run", report=events.append, evaluator=evaluator)
    evals = [e for e in events if e["type"] == "eval"]
    assert [e["step"] for e in evals] == [2, 4]
    for e in evals:
        assert set(e) == {"type", "step", "rank-1", "rank-5", "rank-10", "rank-20"}      # not NM / BG / CL
        assert all(0 <= e[k] <= 100 for k in ("rank-1", "rank-5"))


def test_periodic_evaluation_needs_an_evaluator(grew_data, tmp_path):
    events = []
    train(tiny(grew_data, iterations=2, eval_every=1), tmp_path / "run", report=events.append)
    assert not [e for e in events if e["type"] == "eval"]
    warnings = [e["message"] for e in events if e["type"] == "warning"]
    assert len(warnings) == 1 and "no evaluator" in warnings[0]
