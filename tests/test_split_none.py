"""--split none: a folder with one real street video converts, unsplit, to per-person sequences."""

import json
import os
from pathlib import Path

import pytest

from core.convert.converter import plan_conversion, run_conversion
from core.convert.options import ConvertOptions
from core.convert.splits import make_split
from core.errors import ConfigError
from core.readers import scan

VTEST = os.environ.get("HYBRIDGAIT_VTEST", "/tmp/hybridgait-opencv-doc/usr/share/doc/opencv-doc/examples/data/vtest.avi")


def test_one_id_is_refused_by_a_split_but_converts_with_none():
    with pytest.raises(ConfigError, match="--split none"):
        make_split("first:1", ["a"])
    split = make_split("none", ["a"])
    assert split.role("a", "x") == "unsplit" and split.summary()["unsplit_ids"] == 1


@pytest.mark.skipif(not Path(VTEST).is_file(), reason="the real street video (opencv-doc's vtest.avi) is not here")
def test_single_real_video_converts_unsplit_with_stable_track_names(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "vtest.avi").symlink_to(VTEST)
    opts = dict(split="none", track="bgsub", stride=4, max_frames=60, workers=1)
    names = []
    for _ in range(2):
        plan = plan_conversion(scan(src, pattern="{sid}", decode_sample=0), tmp_path / "out", ConvertOptions(**opts))
        names.append([it.target.sid for it in plan.items])
    assert names[0] == names[1] and names[0], "same video and options must give the same track names"
    assert all(n.startswith("vtest-p") and n[len("vtest-p"):].isdigit() for n in names[0])
    assert {it.target.split for it in plan.items} == {"unsplit"}
    result = run_conversion(plan)
    assert result["unsplit_ids"] == len(set(names[0])) and result["train_ids"] == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["split"]["spec"] == "none"
    assert all((tmp_path / "out" / "unsplit" / s["sid"] / s["seq"]).is_dir() for s in manifest["sequences"])
    assert not (tmp_path / "out" / "train").exists()


def test_training_and_evaluation_refuse_an_unsplit_dataset(tmp_path):
    from core.errors import InputError
    from core.evaluate.run import evaluate_run
    from core.layout import require_split

    (tmp_path / "manifest.json").write_text(json.dumps({"split": {"spec": "none"}, "sequences": []}))
    with pytest.raises(InputError, match="--split none .*to train"):
        require_split(tmp_path, "train")
    with pytest.raises(InputError, match="--split none"):
        evaluate_run(tmp_path / "no-run", tmp_path)
