"""The augmentation job's DLCR chain on a small converted demo set (CASIA-B videos, ground-truth
silhouettes): tiny random models for every model stage, and the model-free fallbacks.

Random weights make descriptions gibberish and inpainting noise, so these tests check what the
chain guarantees whatever the models say: training sequences only, outfits from other training
identities only, one prompt and seed per variant, silhouettes re-extracted from generated frames,
provenance in every record, resumption, cancellation without half-written folders, and model-free
variants that change the silhouette when they should.
"""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from core.augment import fallbacks as fb
from core.augment.chain import ChainOptions, run_chain
from core.augment.rgb_source import load_rgb_sequence
from core.convert.converter import ConvertOptions, plan_conversion, run_conversion
from core.demo.writer import generate
from core.errors import ConfigError, InputError, JobCancelled
from core.layout import read_frames, read_manifest
from core.parts import ARMS, COAT, HEAD, LOWER, SHOES, UPPER
from core.readers import scan
from core.records import Sequence

FRAMES = 16          # enough for background subtraction to see past a slow walker
TINY = dict(steps=2, height=64, width=32, batch_size=4, max_new_tokens=12)
VARIANT_FILES = ("gei.png", "thumb.jpg", "compare.jpg", "variant.gif", "variant.json", "samples.npz")


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """4 identities (001-002 train, 003-004 test), one view, 10 CASIA types, converted with
    ground-truth silhouettes and pose files."""
    tmp = tmp_path_factory.mktemp("chain")
    generate(tmp / "raw", ids=4, views=("090",), seed=3, frames=FRAMES, layout="casia-b-video", workers=1)
    run_conversion(plan_conversion(scan(tmp / "raw"), tmp / "conv",
                                   ConvertOptions(silhouette="groundtruth", pose="groundtruth", workers=1)))
    return tmp / "conv"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from bench.tiny_models import write_tiny_causal_lm, write_tiny_llava, write_tiny_sd_inpaint, write_tiny_segformer

    root = tmp_path_factory.mktemp("tiny-models")
    return {"parsing": write_tiny_segformer(root / "segformer"), "describe": write_tiny_llava(root / "llava"),
            "summarize": write_tiny_causal_lm(root / "lm"), "inpaint": write_tiny_sd_inpaint(root / "sd")}


def model_options(tiny, **kw) -> ChainOptions:
    return ChainOptions(**{**{k: str(v) for k, v in tiny.items()}, "per_sequence": 2, "max_sequences": 2, **TINY, **kw})


@pytest.fixture()
def spy_inpaint(monkeypatch):
    """Every batch that reaches the diffusion pipeline: (prompt, seed, number of frames)."""
    from core.dlcr.inpaint import Inpainter

    calls = []
    real = Inpainter._run

    def run(self, crops, masks, prompt, seed, *rest, **kw):
        calls.append((prompt, int(seed), len(crops)))
        return real(self, crops, masks, prompt, seed, *rest, **kw)

    monkeypatch.setattr(Inpainter, "_run", run)
    return calls


def variant_dirs(root):
    return sorted(p for p in root.glob("*/*") if p.is_dir())


def aligned(folder) -> np.ndarray:
    return np.stack([cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in sorted((folder / "frames").glob("*.png"))])


def source_frames(conv, rec) -> np.ndarray:
    return read_frames(conv, Sequence(sid=rec["sid"], seq=rec["source_seq"]))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n] > 127, b[:n] > 127
    return float((a & b).sum() / max((a | b).sum(), 1))


# ------------------------------------------------------------------------------------ model chain

def test_model_chain_writes_traceable_variants_and_resumes(demo, tiny, tmp_path, spy_inpaint):
    out = tmp_path / "variants"
    seen = []
    res = run_chain(demo, out, model_options(tiny), on_variant=seen.append)
    assert res["method"] == "sd-inpaint" and res["new"] == 4 and res["failed"] == []
    assert res["loads"] == {"parsing": 1, "describe": 1, "summarize": 1, "inpaint": 1}   # each model once per job

    manifest = read_manifest(demo)
    train = {r["sid"] for r in manifest["sequences"] if r["split"] == "train"}
    pool = json.loads((out / ".chain" / "pool.json").read_text())["entries"]
    assert set(pool) == train == {"001", "002"}
    dirs = variant_dirs(out)
    assert [d.name for d in dirs] == ["nm-01-090__dlcr-0", "nm-01-090__dlcr-1"] * 2
    assert sorted(r["name"] for r in seen) == sorted(d.name for d in dirs)
    for d in dirs:
        rec = json.loads((d / "variant.json").read_text())
        assert all((d / f).is_file() for f in VARIANT_FILES)
        # Same keys as the model-free generator's records, plus the chain's provenance.
        for key in ("name", "sid", "source_seq", "method", "recipe", "description", "seed", "frames", "path",
                    "thumb", "compare", "score", "models", "prompt"):
            assert key in rec, key
        assert rec["sid"] in train and rec["frames"] == len(list((d / "frames").glob("*.png"))) > 0
        assert aligned(d).shape[1:] == (64, 64)
        for stage in ("parsing", "describe", "summarize", "inpaint"):
            prov = rec["models"][stage]
            assert prov["path"] == str(tiny[stage].resolve()) and prov["parameters"] > 0 and prov["class"]
        assert rec["models"]["silhouette"]["method"] == "bgsub"
        assert rec["recipe"]["models"]["inpaint"]["model_id"] == "sd"   # survives a merge into the manifest
        assert rec["prompt"] == rec["recipe"]["prompt"] and rec["steps"] == 2 and rec["seed"] == rec["recipe"]["seed"]
        # Outfits come from the other training identity only, and the description names them.
        assert rec["donors"] and set(rec["donors"]) <= train - {rec["sid"]}
        donor_garments = [g for s in rec["donors"] for g in pool[s]["garments"]]
        assert rec["garments"] and all(g in donor_garments for g in rec["garments"])
        for g in rec["garments"]:
            assert g["colour"] in rec["prompt"] and g["colour"] in rec["description"]
        # Silhouettes were extracted again from the repainted frames: they are not the source's.
        assert rec["frames_repainted"] > 0 and 0 < rec["silhouette"]["changed_fraction"]
        assert not np.array_equal(aligned(d), source_frames(demo, rec)[:rec["frames"]])

    # One (prompt, seed) per variant for every frame; variants of a sequence differ in seed.
    by_seed: dict[int, set] = {}
    for prompt, seed, n in spy_inpaint:
        by_seed.setdefault(seed, set()).add(prompt)
    recs = [json.loads((d / "variant.json").read_text()) for d in dirs]
    assert set(by_seed) == {r["seed"] for r in recs} and len(by_seed) == 4
    for r in recs:
        assert by_seed[r["seed"]] == {r["prompt"]}
        assert sum(n for _, s, n in spy_inpaint if s == r["seed"]) == r["frames_repainted"]

    # A second run reuses everything: no model loaded, no file rewritten.
    stamps = {d: (d / "variant.json").stat().st_mtime_ns for d in dirs}
    again = run_chain(demo, out, model_options(tiny))
    assert again["new"] == 0 and again["reused"] == 4 and again["loads"] == {}
    assert stamps == {d: (d / "variant.json").stat().st_mtime_ns for d in dirs}


def test_cancel_inside_inpainting_leaves_no_half_variant_and_resumes(demo, tiny, tmp_path, spy_inpaint):
    out = tmp_path / "variants"
    # Stop once the second variant's first batch has run: variant 0 is finished, variant 1 is
    # cancelled between its batches (16 frames in batches of 4).
    with pytest.raises(JobCancelled, match="inpainting stopped after 4 of"):
        run_chain(demo, out, model_options(tiny, max_sequences=1),
                  should_stop=lambda: len({s for _, s, _ in spy_inpaint}) >= 2)
    dirs = variant_dirs(out)
    assert [d.name for d in dirs] == ["nm-01-090__dlcr-0"]
    assert all((dirs[0] / f).is_file() for f in VARIANT_FILES)
    leftovers = [p for p in out.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    assert leftovers == []
    res = run_chain(demo, out, model_options(tiny, max_sequences=1))
    assert res["new"] == 1 and res["reused"] == 1 and res["pool_reused"]
    assert "describe" not in res["loads"] and "summarize" not in res["loads"]   # the pool came from disk


# ------------------------------------------------------------------------------------ fallbacks

def test_model_free_chain_coat_changes_silhouettes_recolour_does_not(demo, tmp_path):
    seen = []
    res = run_chain(demo, tmp_path / "v", ChainOptions(kinds=("coat", "recolour"), per_sequence=2, max_sequences=1),
                    on_variant=seen.append)
    assert res["method"] == "model-free" and res["loads"] == {} and res["new"] == 2
    by_kind = {r["recipe"]["kind"]: r for r in seen}
    for rec in seen:
        assert rec["method"] == "model-free" and rec["prompt"] is None
        assert all(m["model_free"] for m in rec["models"].values())
        assert rec["models"]["parsing"]["method"] == "groundtruth" and rec["silhouette"]["method"] == "bgsub"
        assert rec["recipe"]["colour_source"] == "pool" and rec["garment_pool_ids"] == ["002"]
    src = source_frames(demo, by_kind["coat"])
    coat, recolour = aligned(tmp_path / "v" / "001" / by_kind["coat"]["name"]), aligned(
        tmp_path / "v" / "001" / by_kind["recolour"]["name"])
    # A coat widens the body down to the knees; bgsub finds it in the generated frames.
    n = min(len(coat), len(src))
    assert (coat[:n] > 127).sum() > 1.08 * (src[:n] > 127).sum()
    assert iou(coat, src) < 0.92
    # A recolour keeps the outline: unchanged pixels keep the source silhouette, changed ones are the body.
    assert iou(recolour, src) > 0.97


def test_missing_resilhouette_model_fails_the_job_before_any_variant(demo, tmp_path):
    """A bad re-extraction model is the job's error, not one swallowed failure per variant."""
    missing = tmp_path / "no-such-segformer"
    with pytest.raises(InputError, match="no-such-segformer.*does not exist"):
        run_chain(demo, tmp_path / "v", ChainOptions(kinds=("coat",), per_sequence=1, max_sequences=1,
                                                     resilhouette=f"segmentation:{missing}"))
    broken = tmp_path / "broken-segformer"          # looks like a saved model, cannot be loaded
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="broken-segformer: cannot load the segmentation model"):
        run_chain(demo, tmp_path / "v", ChainOptions(kinds=("coat",), per_sequence=1, max_sequences=1,
                                                     resilhouette=f"segmentation:{broken}"))
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").rglob("*.png"))


def test_discriminator_scores_held_out_and_reports_after_scoring(demo, tmp_path):
    seen = []
    res = run_chain(demo, tmp_path / "v", ChainOptions(kinds=("coat", "retexture"), per_sequence=2, max_sequences=2,
                                                       discriminator=True), on_variant=seen.append)
    assert res["discriminator"]["trained"] and res["discriminator"]["scheme"].startswith("held-out")
    assert res["score_kind"].startswith("discriminator") and len(seen) == 4
    for rec in seen:   # reported once scored, and the same on disk
        on_disk = json.loads((tmp_path / "v" / rec["sid"] / rec["name"] / "variant.json").read_text())
        assert on_disk["score"] == rec["score"] and rec["score_kind"] == res["score_kind"]
        sc = rec["scores"]
        assert 0 <= sc["realism"] <= 1 and 0 <= sc["identity"] <= 1 and 0 <= rec["score"] <= 1
        assert rec["score"] == pytest.approx(0.5 * sc["realism"] + 0.5 * sc["identity"], abs=1e-3)
        assert 0 <= sc["consistency"] <= 1                      # the model-free score is kept beside it
        assert rec["models"]["discriminator"]["fold"] == (0 if rec["sid"] == "001" else 1)
    again = run_chain(demo, tmp_path / "v", ChainOptions(kinds=("coat", "retexture"), per_sequence=2,
                                                         max_sequences=2, discriminator=True))
    assert again["new"] == 0 and not again["discriminator"]["trained"] and again["score_kind"] == res["score_kind"]


def test_all_model_free_chain_with_outline_silhouettes(demo, tmp_path):
    model_free = dict(resilhouette="groundtruth-outline", per_sequence=2, max_sequences=1, kinds=("coat",))
    seen = []
    res = run_chain(demo, tmp_path / "v", ChainOptions(**model_free), on_variant=seen.append)
    assert res["variants"] == 2 and res["method"] == "model-free" and res["resilhouette"] == "groundtruth-outline"
    assert all(r["name"].startswith("nm-01-090__aug-mf") and r["name"].endswith("-coat") for r in seen)
    assert run_chain(demo, tmp_path / "v", ChainOptions(**model_free))["reused"] == 2


def copy_without_groundtruth(conv, dest, **changes):
    shutil.copytree(conv, dest)
    man = json.loads((dest / "manifest.json").read_text())
    for r in man["sequences"]:
        r["groundtruth"] = None
        r.update(changes)
    (dest / "manifest.json").write_text(json.dumps(man))
    return dest


def test_geometry_parsing_without_groundtruth_decodes_video_and_reads_pose(demo, tmp_path):
    ds = copy_without_groundtruth(demo, tmp_path / "nogt")
    with pytest.raises(InputError, match="geometry"):
        run_chain(ds, tmp_path / "v0", ChainOptions(parsing="groundtruth"))
    seen = []
    res = run_chain(ds, tmp_path / "v", ChainOptions(parsing="geometry", kinds=("coat",), per_sequence=1,
                                                     max_sequences=1), on_variant=seen.append)
    assert res["new"] == 1
    rec = seen[0]
    assert rec["rgb_from"]["origin"] == "video" and rec["rgb_from"]["keypoints_from"] == "pose-files"
    assert rec["rgb_from"]["frames"] == FRAMES
    p = rec["parsing"]
    assert p["method"] == "geometry" and p["person_from"] == "bgsub"
    assert p["frames_by_pose"] == FRAMES and p["rule"].startswith("torso polygon")
    src = source_frames(ds, rec)
    coat = aligned(tmp_path / "v" / rec["sid"] / rec["name"])
    n = min(len(coat), len(src))
    assert (coat[:n] > 127).sum() > 1.05 * (src[:n] > 127).sum()


def test_pose_files_match_decoded_frames(demo):
    man = read_manifest(demo)
    rec = next(r for r in man["sequences"] if r["split"] == "train")
    with_gt = load_rgb_sequence(demo, rec, man["parameters"])
    decoded = load_rgb_sequence(demo, {**rec, "groundtruth": None}, man["parameters"])
    assert decoded.origin == "video" and with_gt.origin == "groundtruth-render"
    assert decoded.names == with_gt.names and decoded.rgb.shape == with_gt.rgb.shape
    # The video is the compressed render of the same frames; keypoints from the pose files are the truth's.
    assert np.abs(decoded.rgb.astype(int) - with_gt.rgb.astype(int)).mean() < 8
    np.testing.assert_allclose(decoded.keypoints, with_gt.keypoints, atol=1e-3)


def test_silhouette_only_dataset_is_refused(demo, tmp_path):
    ds = copy_without_groundtruth(demo, tmp_path / "sil", media="silhouette")
    with pytest.raises(InputError, match="colour frames"):
        run_chain(ds, tmp_path / "v", ChainOptions(parsing="geometry"))


def test_geometry_parsing_by_proportions_and_by_pose():
    t, h, w = 2, 200, 120
    masks = np.zeros((t, h, w), np.uint8)
    masks[:, 20:180, 40:80] = 255
    parts = fb.parse_geometry(masks).parts
    assert fb.parse_geometry(masks).detail["frames_by_proportions"] == t
    col = parts[0, :, 60]
    assert col[25] == HEAD and col[80] == UPPER and col[120] == LOWER and col[178] == SHOES
    assert set(np.unique(parts[masks == 0])) == {0}
    kp = np.zeros((t, 17, 3), np.float32)
    kp[:, [5, 6]] = (60, 50, 1.0)      # shoulders (side view: one column)
    kp[:, [11, 12]] = (60, 110, 1.0)   # hips
    kp[:, [15, 16]] = (60, 170, 1.0)   # ankles
    g = fb.parse_geometry(masks, kp)
    assert g.detail["frames_by_pose"] == t and g.detail["rule"].startswith("torso polygon")
    row = g.parts[0, 80]
    assert row[60] == UPPER and row[41] == ARMS and row[78] == ARMS        # beside the torso: arms
    assert g.parts[0, 130, 60] == LOWER and g.parts[0, 175, 60] == SHOES and g.parts[0, 30, 60] == HEAD
    assert g.clothes_mask[0, 80, 60] and not g.clothes_mask[0, 25, 60]
    assert not (g.parts == COAT).any()


def test_colour_description_names_the_dominant_colour():
    parts = np.zeros((1, 40, 20), np.uint8)
    parts[0, 5:20] = UPPER
    parts[0, 20:38] = LOWER
    rgb = np.zeros((1, 40, 20, 3), np.uint8)
    rgb[0, 5:20] = (188, 40, 40)           # red top ...
    rgb[0, 5:20:5] = (232, 232, 226)       # ... with thin white stripes: still a red top
    rgb[0, 20:38] = (34, 44, 92)           # navy trousers
    d = fb.describe_colours(rgb, parts)
    assert [(g["slot"], g["colour"]) for g in d.garments] == [("upper", "red"), ("lower", "navy")]
    assert d.colours["upper"] == [188, 40, 40] and "red top" in d.text and "navy trousers" in d.text


def test_options_are_checked():
    with pytest.raises(ConfigError, match="segmentation needs a model"):
        ChainOptions(resilhouette="segmentation").validate()
    with pytest.raises(ConfigError, match="unknown augmentation kind"):
        ChainOptions(kinds=("cape",)).validate()
    with pytest.raises(InputError, match="/nonexistent/sd-inpaint: inpaint model folder does not exist"):
        ChainOptions(inpaint="/nonexistent/sd-inpaint").validate()
    with pytest.raises(ConfigError, match="'nobody/uncached-llava'.*not in the local Hugging Face cache"):
        ChainOptions(describe="nobody/uncached-llava").validate()
    with pytest.raises(ConfigError, match="unknown augmentation option"):
        ChainOptions.from_dict({"colour": "red"})
    o = ChainOptions.from_params({"dataset_id": 3, "inpaint": "/m/sd", "seq_types": "nm-01,nm-02", "steps": 5})
    assert o.is_model("inpaint") and not o.is_model("parsing") and o.seq_types == ("nm-01", "nm-02")


def test_guided_chain_keeps_an_unguided_frame_beside_the_guided_one(demo, tiny, tmp_path):
    """With discriminator guidance on, each variant folder also holds source | unguided | guided
    for one frame (same seed and prompt), which the workbench shows under the comparison."""
    from core.dlcr.guidance import train_latent_discriminator
    from core.dlcr.inpaint import InpaintConfig, Inpainter

    inp = Inpainter(tiny["inpaint"], config=InpaintConfig(steps=2, batch_size=4, height=64, width=32))
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (6, 64, 32, 3)).astype(np.uint8)
    masks = np.zeros((6, 64, 32), bool)
    masks[:, 16:48, 8:24] = True
    fake = real.copy()
    fake[masks] = 0
    disc = train_latent_discriminator(inp.pipe, real, fake, masks, steps=4, batch_size=4)
    disc_path = tmp_path / "latent_discriminator.pt"
    disc.save(disc_path)
    out = tmp_path / "variants"
    res = run_chain(demo, out, model_options(tiny, per_sequence=1, max_sequences=1, guidance_weight=5.0,
                                             guidance_discriminator=str(disc_path)))
    assert res["new"] == 1 and res["failed"] == []
    (d,) = variant_dirs(out)
    rec = json.loads((d / "variant.json").read_text())
    assert rec["recipe"]["guidance_weight"] == 5.0 and rec["recipe"]["guidance_t_min"] == 200
    strip = cv2.imread(str(d / "guidance.jpg"))
    compare = cv2.imread(str(d / "compare.jpg"))
    assert strip is not None and compare.shape[0] > strip.shape[0] * 0.9    # stacked under the comparison
