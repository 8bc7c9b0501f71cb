"""The job schemas: one declaration behind the CLI parser, the app's defaults and cli_command."""

from __future__ import annotations

import shlex

import pytest

from core import options as O
from core import schema
from core.cli import build_parser
from core.errors import ConfigError
from core.train.config import load_config

# For every kind, options that differ from every default the schema allows (lists, bools both
# ways, choices, numbers, positional and required fields), so a dropped flag shows.
EXAMPLES = {
    "demo": {"out": "/tmp/demo set", "name": "mine", "ids": 6, "views": ["000", "090"], "seed": 3, "frames": 12,
             "layout": "ccvid"},
    "scan": {"source": "/data/clips", "format": "video-folder", "pattern": "{sid}_{condition}-{seq}_{view}",
             "decode_sample": 4},
    "convert": {"source": "/data/raw", "out": "/data/out", "split": "first:2", "align": "letterbox", "size": 32,
                "workers": 2, "silhouette": "segmentation:/m/seg", "pose": "given", "stride": 2, "max_frames": 30,
                "camera_background": False, "format": "video-folder", "pattern": "{sid}-{condition}-{seq}-{view}",
                "opengait_pkl": "/data/pkl", "allow_download": True, "decode_sample": 0, "gallery": "nm-01,walk",
                "track": "hog"},
    "augment": {"dataset": "/data/conv", "per_sequence": 3, "seq_types": "nm-01,cl-02", "sids": ["001"],
                "kinds": ["coat", "skirt"], "seed": 7, "max_sequences": 4, "parsing": "geometry",
                "describe": "/m/llava", "summarize": "/m/llm", "inpaint": "/m/sd", "resilhouette": "auto",
                "discriminator": True, "guidance_weight": 0.5, "guidance_discriminator": "/m/d.pt", "steps": 5,
                "guidance": 5.0, "strength": 0.5, "batch_size": 2, "height": 64, "width": 32, "describe_frames": 2,
                "max_new_tokens": 16, "mask_to_person": False, "keep_rgb": True, "device": "cpu",
                "dtype": "float32", "sdxl": True, "purpose": "refine", "allow_download": True},
    "import": {"source": "/dlcr out", "kind": "dlcr-strips", "dataset": "conv", "keep": 4, "k": 8,
               "masks": "/dlcr/masks", "texts": "/dlcr/texts"},
    "train": {"dataset": "/data/conv", "preset": "casia-b-gaitbase", "iterations": 20, "name": "run-1"},
    "experiment": {"dataset": "/data/conv", "preset": "casia-b-gaitbase", "iterations": 20, "seeds": 5,
                   "name": "exp-1"},
}


def parse(command: str):
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "core"]
    return build_parser().parse_args(argv[3:])


@pytest.mark.parametrize("kind", sorted(O.SCHEMAS))
def test_cli_command_round_trips_through_the_generated_parser(kind):
    cls = O.schema(kind)
    assert set(EXAMPLES[kind]) == set(cls.model_fields), "the example must set every field"
    opts = cls(**EXAMPLES[kind])
    cmd = O.cli_command(kind, opts, workspace="/ws x")
    args = parse(cmd)
    assert args.verb == kind and args.workspace == "/ws x"
    assert O.from_args(cls, args).model_dump() == opts.model_dump()
    # defaults are left out, and still parse back to the same options
    required = {n: EXAMPLES[kind][n] for n, f in cls.model_fields.items() if f.is_required()}
    short = O.cli_command(kind, required)
    assert O.from_args(cls, parse(short)).model_dump() == cls(**required).model_dump()
    assert short.count("--") == sum(not schema.meta(f).get("positional") for n, f in cls.model_fields.items()
                                    if f.is_required() or schema.meta(f).get("always"))


def test_generated_parser_keeps_the_flags_and_defaults():
    ap = build_parser()
    a = ap.parse_args(["augment", "ds"])
    o = O.from_args(O.AugmentJob, a)
    assert (o.per_sequence, o.seq_types, o.kinds, o.parsing, o.describe, o.summarize, o.inpaint, o.resilhouette,
            o.steps, o.guidance, o.strength, o.batch_size, o.height, o.width, o.purpose, o.discriminator) == \
        (2, ("nm-01",), None, "groundtruth", "colour", "none", "model-free", "bgsub", 25, 7.5, 1.0, 8, 512, 256,
         "train", False)
    assert o.given() == {"dataset": "ds"}     # a job records what was chosen, so refine keeps "all queries"
    a = ap.parse_args(["augment", "ds", "--seq-types", "nm-01,nm-02", "--kinds", "coat", "--guidance-weight", "1",
                       "--discriminator", "--purpose", "refine", "--max-sequences", "2"])
    o = O.from_args(O.AugmentJob, a)
    assert o.seq_types == ("nm-01", "nm-02") and o.kinds == ("coat",) and o.guidance_weight == 1.0
    assert o.discriminator and o.purpose == "refine" and o.max_sequences == 2
    c = O.from_args(O.ConvertJob, ap.parse_args(["convert", "src", "--out", "o", "--max-frames", "9",
                                                 "--opengait-pkl", "p"]))
    assert (c.align, c.silhouette, c.pose, c.stride, c.split, c.max_frames, c.opengait_pkl, c.format) == \
        ("opengait", "auto", "none", 1, None, 9, "p", None)
    d = O.from_args(O.DemoOptions, ap.parse_args(["demo", "--out", "x"]))
    assert (d.ids, d.views, d.seed, d.frames, d.layout) == (24, ("036", "090", "144"), 0, 36, "casia-b-silhouette")
    i = O.from_args(O.ImportOptions, ap.parse_args(["import", "s", "--kind", "variants", "--dataset", "d"]))
    assert (i.keep, i.k) == (10, None)
    t = O.from_args(O.TrainOverrides, ap.parse_args(["train", "--dataset", "d"]))
    assert (t.preset, t.iterations, t.name) == ("demo-cpu", None, None)
    for argv in (["convert", "src"], ["import", "s", "--dataset", "d"], ["convert", "s", "--out", "o", "--align", "x"],
                 ["augment", "ds", "--purpose", "merge"]):
        with pytest.raises(SystemExit):
            ap.parse_args(argv)


def test_errors_name_the_key_and_suggest_the_right_one():
    with pytest.raises(ConfigError, match=r"unknown augmentation option\(s\) 'seq_type' \(did you mean 'seq_types'\?\)"):
        O.ChainOptions(seq_type="nm-01")
    with pytest.raises(ConfigError, match=r"purpose: 'refin' is not one of train, refine \(did you mean 'refine'\?\)"):
        O.ChainOptions.from_params({"purpose": "refin"})
    with pytest.raises(ConfigError, match="steps must be at least 1, got 0"):
        O.ChainOptions(steps=0)
    with pytest.raises(ConfigError, match="align: 'opengit' is not one of opengait, letterbox"):
        O.ConvertOptions(align="opengit")
    with pytest.raises(ConfigError, match="unknown conversion option"):
        O.cli_command("convert", {"source": "s", "out": "o", "strid": 2})
    with pytest.raises(ConfigError, match="did you mean 'augment'"):
        O.cli_command("augmnet", {})
    for err in (lambda: O.ChainOptions(kinds="cape"), lambda: O.ChainOptions(steps="many")):
        with pytest.raises(ConfigError) as exc:
            err()
        assert "\n" not in str(exc.value)
    # the YAML training config goes through the same suggestion helper
    with pytest.raises(ConfigError, match=r"unknown config key\(s\): 'iteration' \(did you mean 'iterations'\?\)"):
        load_config({"dataset": "d", "iteration": 5})


def test_the_app_takes_its_defaults_and_choices_from_the_schema():
    from app import augment_tab, convert_tab, train_tab

    assert convert_tab.ALIGNS == list(O.choices("convert", "align"))
    assert "segmentation" not in convert_tab.SILHOUETTES and "bgsub" in convert_tab.SILHOUETTES
    assert augment_tab.D == O.defaults("augment") and train_tab.D["preset"] == "demo-cpu"
    assert O.implied("augment", "kinds") == ("recolour", "retexture", "coat")
    assert set(O.choices("augment", "kinds")) > set(O.implied("augment", "kinds"))
