"""Real kills: each job kind started through the CLI in a subprocess, SIGKILLed at a seeded point,
then rerun (bench/chaos.py holds the harness; ``python -m bench.chaos`` runs many more scenarios).

Every scenario runs once, in a module fixture, and the tests below read its outcome: the catalog's
integrity, no temporary or half-written folder after the rerun, nothing redone, nothing lost, and
training resumed to the same weights as an unkilled run; no job row left running, no process left
behind, no temporary left after the rerun.
"""

import pytest

from bench.chaos import DemoSet, run_scenario

# The seeds were picked once; any seed must pass. (kind, seed, options)
PLAN = {
    "convert-progress": ("convert", 11, {"mode": "progress"}),
    "train": ("train", 12, {"on_temporary": False}),
    "train-on-checkpoint": ("train", 16, {"on_temporary": True}),
    "augment": ("augment", 13, {"mode": "progress"}),
    "curate": ("curate", 14, {"mode": "decided"}),
    "merge": ("merge", 15, {"on_temporary": True, "attempts": 6}),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    root = tmp_path_factory.mktemp("chaos")
    demo = DemoSet.build(root / "demo")
    chain: dict = {}     # curation and merge continue the augmentation scenario's workspace
    return {name: run_scenario(kind, seed, demo, root / name, chain=chain, **opts)
            for name, (kind, seed, opts) in PLAN.items()}


def survived(o, leftovers=True):
    assert o.integrity, "catalog failed PRAGMA integrity_check"
    assert o.rerun_ok, o.detail
    assert o.lost == 0, o.detail
    assert o.no_redo, o.detail
    if leftovers:
        assert o.leftovers == []


def test_conversion_killed_mid_way_reruns_without_redoing_or_losing(outcomes):
    o = outcomes["convert-progress"]
    assert o.killed, "the conversion finished before its kill point"
    survived(o)


def test_training_killed_between_checkpoints_resumes_to_the_same_weights(outcomes):
    o = outcomes["train"]
    assert o.killed
    survived(o)
    assert o.exact_resume, o.detail


def test_augmentation_killed_reuses_its_finished_variants(outcomes):
    o = outcomes["augment"]
    assert o.killed
    survived(o)


def test_bulk_curation_killed_keeps_every_decision(outcomes):
    survived(outcomes["curate"])   # the kill may miss: the CLI exits ms after its one transaction


def test_merge_killed_on_a_temporary_loses_no_variant(outcomes):
    o = outcomes["merge"]
    assert o.kills >= 1
    survived(o, leftovers=False)


def test_merge_killed_on_a_temporary_leaves_none_after_the_rerun(outcomes):
    o = outcomes["merge"]
    assert o.temporaries_at_kill > 0, "no kill landed on a temporary"
    assert o.leftovers == []


def test_training_killed_while_checkpointing_leaves_no_temporary_after_resume(outcomes):
    o = outcomes["train-on-checkpoint"]
    assert o.temporaries_at_kill > 0, "no kill landed on a checkpoint being written"
    assert o.leftovers == []


def test_training_killed_while_checkpointing_still_resumes_exactly(outcomes):
    o = outcomes["train-on-checkpoint"]
    assert o.killed
    survived(o, leftovers=False)
    assert o.exact_resume, o.detail


def test_killed_jobs_are_not_left_running(outcomes):
    stale = {name: outcomes[name].stale_rows for name in ("convert-progress", "train", "augment", "merge")}
    assert stale == dict.fromkeys(stale, 0)


def test_a_killed_conversion_leaves_no_process_behind(outcomes):
    assert outcomes["convert-progress"].orphans == 0
