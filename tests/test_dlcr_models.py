"""The model-backed DLCR stages on tiny random models saved to disk and loaded back by path.

Random weights make the models' *content* meaningless (descriptions are gibberish, inpainting is
noise), so these tests check what the code guarantees regardless: label mapping, batching that
does not change results, one seed and prompt per variant, pixels outside the mask untouched,
cancellation between batches, defensive reading of model replies, and clear errors.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from core.demo.body import make_identity, make_jitter
from core.demo.garments import casia_outfit
from core.demo.render import render_rgb, render_sequence
from core.dlcr.describe import ClothingDescriber, GenerateOptions, person_crop, pick_frames
from core.dlcr.discriminator import DiscriminatorConfig, VariantDiscriminator, identity_score
from core.dlcr.inpaint import InpaintConfig, Inpainter, crop_box
from core.hub import resolve_source
from core.dlcr.parsing import HumanParser, ParsingConfig, build_label_table, dilate
from core.dlcr.prompts import Garment, choose_outfits
from core.dlcr.summarize import GarmentSummarizer, SummaryConfig, parse_garments
from core.errors import ConfigError, InputError, JobCancelled
from core.parts import ARMS, BACKGROUND, COAT, LOWER, UPPER
from bench.tiny_models import LIP_LABELS, build_all

SIZE = dict(height=64, width=32)   # the tiny pipeline's canvas


def same_image(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to float summation order: a batch of 1 and of 3 may use different CPU kernels, and
    that last-bit difference can flip a rounded uint8 value. A different seed differs by ~100."""
    return int(np.abs(a.astype(int) - b.astype(int)).max()) <= 2


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    yield


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return build_all(tmp_path_factory.mktemp("tiny-models"))


def _walker(sid: str, frames: int = 4, seq_type: str = "nm-01"):
    """Demo-generator frames at half size: RGB (T, 120, 160, 3) and part labels (T, 120, 160)."""
    ident, outfit = make_identity(0, sid), casia_outfit(0, sid, seq_type)
    parts, _ = render_sequence(ident, make_jitter(0, sid, seq_type, "090"), outfit, "090", frames)
    rgb = np.stack([render_rgb(parts[i], outfit.palette(), i, 7) for i in range(frames)])
    return rgb[:, ::2, ::2].copy(), parts[:, ::2, ::2].copy()


@pytest.fixture(scope="module")
def walkers():
    return {sid: _walker(sid) for sid in ("001", "002", "003")}


@pytest.fixture(scope="module")
def parser(tiny):
    return HumanParser(tiny["segformer"], config=ParsingConfig(batch_size=3))


@pytest.fixture(scope="module")
def inpainter(tiny):
    return Inpainter(tiny["sd_inpaint"], config=InpaintConfig(steps=2, batch_size=3, **SIZE))


POOL = {
    "001": [Garment("upper", "t-shirt", "red"), Garment("lower", "jeans", "blue")],
    "002": [Garment("upper", "shirt", "white", "striped"), Garment("lower", "skirt", "black")],
    "003": [Garment("outer", "coat", "camel"), Garment("upper", "sweater", "grey")],
}


# ------------------------------------------------------------------------------------ loading

def test_missing_model_dir_and_uncached_hub_id_fail_fast_and_clearly(tmp_path, tiny):
    missing = tmp_path / "no-such-model"
    with pytest.raises(InputError, match="no-such-model.*does not exist"):
        HumanParser(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=f"{empty}: not a saved model folder"):
        resolve_source(empty)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"'nobody-here/tiny-inpainting-xyz'.*local folder"):
        Inpainter("nobody-here/tiny-inpainting-xyz")
    assert time.perf_counter() - t0 < 10, "an uncached hub id must not wait on the network"
    # A folder holding another kind of model is refused with its path named.
    with pytest.raises(InputError, match="model_index.json") as err:
        Inpainter(tiny["segformer"])
    assert err.value.path == str(Path(tiny["segformer"]).resolve())
    with pytest.raises(ConfigError, match="StableDiffusionInpaintPipeline.*unset the SDXL option"):
        Inpainter(tiny["sd_inpaint"], config=InpaintConfig(sdxl=True, **SIZE))


def test_provenance_names_the_model_folder_dtype_and_size(parser, inpainter, tiny):
    for obj, folder in ((parser, tiny["segformer"]), (inpainter, tiny["sd_inpaint"])):
        p = obj.provenance
        assert p["path"] == str(folder.resolve())
        assert p["dtype"] == "float32" and p["device"] == "cpu"
        assert p["parameters"] > 1000 and len(p["config_sha1"]) == 40
        json.dumps(p)
    assert inpainter.provenance["unet_in_channels"] == 9
    assert inpainter.provenance["attention"] == ["AttnProcessor2_0"]


def test_revision_comes_from_a_cache_snapshot_folder(tmp_path, tiny):
    import shutil

    sha = "0123456789abcdef0123456789abcdef01234567"
    snap = tmp_path / "models--org--tiny" / "snapshots" / sha
    shutil.copytree(tiny["segformer"], snap)
    (tmp_path / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "models--org--tiny" / "refs" / "main").write_text(sha)
    assert resolve_source(snap).revision == sha
    assert HumanParser(snap).provenance["revision"] == sha


# ------------------------------------------------------------------------------------ parsing

def test_label_table_maps_lip_and_atr_names_and_reports_unknown_ones():
    lip = build_label_table(dict(enumerate(LIP_LABELS)), ParsingConfig())
    assert lip.to_part[LIP_LABELS.index("Coat")] == COAT
    assert lip.to_part[LIP_LABELS.index("Pants")] == LOWER
    assert lip.to_part[LIP_LABELS.index("Left-arm")] == ARMS
    assert {LIP_LABELS[i] for i in lip.clothes_ids} == {"Upper-clothes", "Coat", "Dress", "Skirt", "Pants",
                                                        "Jumpsuits"}
    assert lip.unmapped == ()
    odd = build_label_table({0: "background", 1: "upper_clothes", 2: "Tail"},
                            ParsingConfig(label_map={"tail": ARMS}, clothes_labels=("Upper Clothes",)))
    assert list(odd.to_part) == [BACKGROUND, UPPER, ARMS] and odd.clothes_ids == (1,)
    assert build_label_table({0: "background", 1: "wing"}, ParsingConfig(clothes_labels=("wing",))).unmapped == ("wing",)
    with pytest.raises(ConfigError, match="none of the clothes labels"):
        build_label_table({0: "background", 1: "face"}, ParsingConfig())


def test_parse_gives_our_classes_and_a_dilated_clothes_mask(parser, walkers):
    rgb, _ = walkers["001"]
    out = parser.parse(rgb)
    assert out.parts.shape == rgb.shape[:3] and out.parts.dtype == np.uint8
    # Every pixel's part is what the label table says for the model's class there.
    assert np.array_equal(out.parts, parser.table.to_part[out.model_labels])
    assert np.array_equal(out.clothes, np.isin(out.model_labels, parser.table.clothes_ids))
    assert np.array_equal(out.clothes_mask, dilate(out.clothes, 3))
    assert out.clothes_mask.sum() >= out.clothes.sum()
    # Batching is an implementation detail: one frame at a time gives the same labels.
    single = HumanParser(parser.source.path, config=ParsingConfig(batch_size=1)).parse(rgb[:2])
    assert np.array_equal(single.model_labels, out.model_labels[:2])


# ----------------------------------------------------------------------------------- describe

def test_describe_batched_equals_one_by_one_and_uses_the_chat_template(tiny, walkers):
    rgb, parts = walkers["001"]
    crops = [person_crop(rgb[i], parts[i] > 0) for i in pick_frames(len(rgb), 3)]
    d = ClothingDescriber(tiny["llava"], config=GenerateOptions(max_new_tokens=8, batch_size=3))
    assert d.text.startswith("USER: <image>\n") and d.text.endswith("ASSISTANT:")
    batched = d.describe(crops)
    d.config.batch_size = 1
    assert d.describe(crops) == batched and len(batched) == 3 and all(isinstance(t, str) for t in batched)
    d.config.temperature = 0.2
    assert d.describe(crops) == d.describe(crops), "sampling is seeded, so reruns agree"
    with pytest.raises(InputError, match="image 1"):
        d.describe([crops[0], np.zeros((4, 4), np.uint8)])


# ---------------------------------------------------------------------------------- summarize

@pytest.mark.parametrize("reply, garments, problem", [
    ("1. Red striped T-shirt\n2. dark blue jeans\n3. ???", ["red striped t-shirt", "dark blue jeans"], "line 3"),
    ("1. navy hoodie 2. khaki shorts", ["navy hoodie", "khaki shorts"], None),
    ("The person wears a black coat over a white shirt and grey trousers.",
     ["black coat", "white shirt", "grey trousers"], "not a numbered list"),
    ("a shirt in red and jeans in blue", ["red shirt", "blue jeans"], "not a numbered list"),
    ("Sure! Here is the list you asked for:", [], "no garment"),
    ("", [], "empty reply"),
    ("1.\n2.\n", [], "line 1"),
])
def test_parse_garments_reads_lists_and_prose_and_reports_malformed_replies(reply, garments, problem):
    found, problems = parse_garments(reply)
    assert [g.phrase() for g in found] == garments
    if problem:
        assert any(problem in p for p in problems), problems
    else:
        assert problems == []


def test_summarizer_handles_a_malformed_reply_without_raising(tiny):
    descriptions = {"001": ["The person wears a red t-shirt and blue jeans."], "002": ["A yellow dress."]}
    silent = GarmentSummarizer(tiny["lm_silent"], config=SummaryConfig(max_new_tokens=6, batch_size=2))
    out = silent.summarize(descriptions)
    assert out["001"].reply == "" and out["001"].source == "descriptions"
    assert "empty reply" in out["001"].problems
    assert [g.phrase() for g in out["001"].garments] == ["red t-shirt", "blue jeans"]
    silent.config.fallback_to_descriptions = False
    strict = silent.summarize(descriptions)
    assert strict["002"].garments == [] and strict["002"].source == "none" and strict["002"].problems
    json.dumps({k: v.to_dict() for k, v in strict.items()})


def test_summarizer_batches_identities_with_left_padding(tiny):
    lm = GarmentSummarizer(tiny["lm"], config=SummaryConfig(max_new_tokens=8, batch_size=2))
    descriptions = {"001": ["red shirt"], "002": ["a long description of a person in a black coat and grey pants"]}
    batched = {k: v.reply for k, v in lm.summarize(descriptions).items()}
    lm.config.batch_size = 1
    assert {k: v.reply for k, v in lm.summarize(descriptions).items()} == batched


# -------------------------------------------------------------------------------------- prompts

def test_outfits_come_only_from_other_identities_and_are_reproducible():
    outs = choose_outfits(POOL, "001", 2, seed=3, seq="nm-01-090")
    assert [o.index for o in outs] == [0, 1]
    assert all("001" not in o.donors for o in outs)
    own = set(POOL["001"])
    assert all(not own & set(o.garments) for o in outs)
    assert len({o.donors[0] for o in outs}) == 2, "two variants, two different donors"
    assert len({o.seed for o in outs}) == 2
    assert [o.to_dict() for o in choose_outfits(POOL, "001", 2, seed=3, seq="nm-01-090")] == [o.to_dict() for o in outs]
    assert [o.seed for o in choose_outfits(POOL, "001", 2, seed=3, seq="nm-02-090")] != [o.seed for o in outs]
    # 003 has no lower garment: its outfit borrows one from a further identity, named as a donor.
    from_003 = next(o for o in outs if o.donors[0] == "003")
    assert len(from_003.donors) == 2 and any(g.slot == "lower" for g in from_003.garments)
    with pytest.raises(ConfigError, match="other"):
        choose_outfits({"001": POOL["001"]}, "001", 1)


# -------------------------------------------------------------------------------------- inpaint

def test_crop_box_keeps_the_aspect_and_stays_inside_the_frame():
    m = np.zeros((120, 160), bool)
    m[30:70, 70:80] = True
    y0, y1, x0, x1 = crop_box(m, 0.5, 0.1)
    assert (y1 - y0) == 2 * (x1 - x0) or abs((x1 - x0) / (y1 - y0) - 0.5) < 0.05
    assert y0 <= 30 and y1 >= 70 and x0 <= 70 and x1 >= 80
    m[:] = False
    m[100:120, 0:5] = True   # at a corner: shifted, not cut
    y0, y1, x0, x1 = crop_box(m, 0.5, 0.1)
    assert 0 <= y0 < y1 <= 120 and 0 <= x0 < x1 <= 160 and y1 == 120 and x0 == 0


def test_inpaint_two_variants_one_seed_and_prompt_per_sequence_only_inside_the_mask(inpainter, walkers):
    rgb, parts = walkers["001"]
    # Frames 4 and 5 repeat frames 1 and 0 in the next batch of 3, at other places within it.
    frames = np.concatenate([rgb, rgb[1:2], rgb[:1]])
    masks = np.isin(np.concatenate([parts, parts[1:2], parts[:1]]), (UPPER, LOWER, COAT))
    masks[2] = False                                   # a frame with no garment stays as it was
    outfits = choose_outfits(POOL, "001", 2, seed=0, seq="nm-01-090")
    seen = []
    results = inpainter.variants(frames, masks, outfits, source_id="001", seq="nm-01-090", on_variant=seen.append)
    assert len(results) == len(seen) == 2
    for r, o in zip(results, outfits):
        diff = np.abs(r.frames.astype(int) - frames.astype(int)).sum(-1)
        assert np.array_equal(r.masks, dilate(masks, inpainter.config.mask_dilate_px))
        assert diff[~r.masks].max() == 0, "pixels outside the dilated mask must be untouched"
        assert diff[r.masks].mean() > 5, "the random model repaints inside the mask"
        assert np.array_equal(r.frames[2], frames[2])
        # Same input frame + same (seed, prompt) -> the same output, whichever batch it was in.
        assert same_image(r.frames[4], r.frames[1]) and same_image(r.frames[5], r.frames[0])
        rec = r.record
        assert (rec["seed"], rec["prompt"], rec["variant"]) == (o.seed, o.prompt, o.index)
        assert rec["steps"] == 2 and rec["strength"] == 1.0 and rec["guidance"] == 7.5
        assert rec["negative_prompt"] and rec["model"]["class"] == "StableDiffusionInpaintPipeline"
        assert rec["frames_repainted"] == 5 and rec["donors"] == o.donors
        json.dumps(rec)
    assert results[0].record["seed"] != results[1].record["seed"]
    assert not np.array_equal(results[0].frames, results[1].frames)


def test_inpaint_batch_size_does_not_change_the_result(tiny, inpainter, walkers):
    rgb, parts = walkers["002"]
    masks = np.isin(parts[:2], (UPPER, LOWER))
    outfit = choose_outfits(POOL, "002", 1, seed=1)[0]
    a = inpainter.inpaint_sequence(rgb[:2], masks, outfit).frames
    one = Inpainter(tiny["sd_inpaint"], config=InpaintConfig(steps=2, batch_size=1, **SIZE))
    b = one.inpaint_sequence(rgb[:2], masks, outfit).frames
    assert same_image(a, b)


def test_sdxl_inpainting_loads_by_flag_and_behaves_the_same(tiny, walkers):
    rgb, parts = walkers["002"]
    frames = np.concatenate([rgb[:2], rgb[:1]])
    masks = np.isin(np.concatenate([parts[:2], parts[:1]]), (UPPER, LOWER))
    xl = Inpainter(tiny["sdxl_inpaint"], config=InpaintConfig(steps=2, batch_size=2, sdxl=True, **SIZE))
    r = xl.inpaint_sequence(frames, masks, choose_outfits(POOL, "002", 1)[0])
    assert r.record["model"]["class"] == "StableDiffusionXLInpaintPipeline"
    diff = np.abs(r.frames.astype(int) - frames.astype(int)).sum(-1)
    assert diff[~r.masks].max() == 0 and diff[r.masks].mean() > 5
    assert same_image(r.frames[2], r.frames[0])
    with pytest.raises(ConfigError, match="StableDiffusionXLInpaintPipeline.*set the SDXL option"):
        Inpainter(tiny["sdxl_inpaint"], config=InpaintConfig(**SIZE))


def test_inpaint_cancels_between_batches(inpainter, walkers):
    rgb, parts = walkers["003"]
    masks = np.isin(parts, (UPPER, LOWER, COAT))
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 1   # let the first batch (3 frames) run, stop before the second

    with pytest.raises(JobCancelled, match="after 3 of 4 frames"):
        inpainter.inpaint_sequence(rgb, masks, choose_outfits(POOL, "003", 1)[0], should_stop=stop)
    assert len(asked) == 2


# -------------------------------------------------------------------------------- discriminator

def _gei(sils: np.ndarray) -> np.ndarray:
    """A stand-in gait model: the mean silhouette at 16x8, as a (c,) embedding."""
    import cv2
    return cv2.resize(sils.astype(np.float32).mean(0), (8, 16), interpolation=cv2.INTER_AREA).ravel()


def test_discriminator_learns_real_vs_generated_and_scores_identity(tmp_path):
    rng = np.random.default_rng(0)
    real, fake, real_m, fake_m = [], [], [], []
    for sid in ("004", "005", "006", "007"):
        rgb, parts = _walker(sid, frames=6)
        body = parts > 0
        bad = rgb.copy()
        garment = np.isin(parts, (UPPER, LOWER, COAT))
        bad[garment] = rng.integers(0, 256, (int(garment.sum()), 3))   # what a broken generator paints
        real.append(rgb)
        real_m.append(body)
        fake.append(bad)
        fake_m.append(body)
    real, fake = np.concatenate(real), np.concatenate(fake)
    real_m, fake_m = np.concatenate(real_m), np.concatenate(fake_m)
    train, test = slice(0, 18), slice(18, 24)          # the last identity is held out entirely
    disc = VariantDiscriminator(DiscriminatorConfig(epochs=12, batch_size=16, val_fraction=0.25), device="cpu")
    metrics = disc.fit(real[train], fake[train], real_masks=real_m[train], fake_masks=fake_m[train])
    assert metrics["n_real"] == 18 and len(metrics["loss"]) == 12
    assert metrics["loss"][-1] < metrics["loss"][0]
    r_real = disc.realism(real[test], real_m[test])
    r_fake = disc.realism(fake[test], fake_m[test])
    assert r_real.mean() > r_fake.mean() + 0.2, (r_real, r_fake)

    # Identity: the variant keeps the source's silhouettes, another person does not.
    src = real_m[18:24].astype(np.uint8)
    others = [real_m[i * 6:(i + 1) * 6].astype(np.uint8) for i in range(3)]
    refs = [_gei(o) for o in others]
    kept = disc.score_variant(fake[test], masks=fake_m[test], embed_fn=_gei, variant_input=src,
                              source_input=src, reference_embeddings=refs)
    stranger = disc.score_variant(real[:6], masks=real_m[:6], embed_fn=_gei, variant_input=others[0],
                                  source_input=src, reference_embeddings=refs)
    assert kept.identity == 1.0 and kept.distance == pytest.approx(0.0, abs=1e-9)
    assert stranger.identity < 1.0 and stranger.distance > 0
    for s in (kept, stranger):
        assert 0.0 <= s.combined <= 1.0
        assert s.combined == pytest.approx(0.5 * s.realism + 0.5 * s.identity)
    plain = disc.score_variant(fake[test], masks=fake_m[test])
    assert plain.identity is None and plain.combined == pytest.approx(plain.realism)

    path = disc.save(tmp_path / "disc.pt")
    again = VariantDiscriminator.load(path, device="cpu")
    assert np.allclose(again.realism(real[test], real_m[test]), r_real, atol=1e-6)
    assert again.metrics["n_fake"] == 18
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="bad.pt"):
        VariantDiscriminator.load(tmp_path / "bad.pt")


def test_identity_score_by_rank_and_by_cosine():
    a = np.array([[1.0, 0.0], [0.0, 1.0]])            # (c=2, parts=2)
    near, far = a + 0.05, np.array([[0.0, 1.0], [1.0, 0.0]])
    s_near, d_near = identity_score(a, near, [far, far])
    s_far, d_far = identity_score(a, far, [near, near])
    assert s_near == 1.0 and s_far == 0.0 and d_near < d_far
    assert identity_score(a, a)[0] == pytest.approx(1.0)
    assert identity_score(a, far)[0] == 0.0   # orthogonal parts: cosine 0


# ---------------------------------------------------------------------------------- whole chain

def test_whole_chain_on_cpu(tiny, parser, inpainter, walkers):
    """parse -> describe -> summarize -> inpaint -> score, identities as the augment job would run them."""
    describer = ClothingDescriber(tiny["llava"], config=GenerateOptions(max_new_tokens=6, batch_size=4))
    summarizer = GarmentSummarizer(tiny["lm"], config=SummaryConfig(max_new_tokens=12, batch_size=3))
    parsed = {sid: parser.parse(rgb) for sid, (rgb, _) in walkers.items()}
    descriptions = {}
    for sid, (rgb, parts) in walkers.items():
        body = parsed[sid].parts > 0
        crops = [person_crop(rgb[i], body[i]) for i in pick_frames(len(rgb), 2)]
        descriptions[sid] = describer.describe(crops)
    summaries = summarizer.summarize(descriptions)
    assert set(summaries) == set(walkers)
    # Random models name no garments reliably: identities without any keep the demo's known outfit,
    # exactly the fallback a job takes when a summary comes back empty.
    pool = {sid: s.garments or POOL[sid] for sid, s in summaries.items()}
    rgb, _ = walkers["001"]
    outfits = choose_outfits(pool, "001", 2, seed=0, seq="nm-01-090")
    results = inpainter.variants(rgb, parsed["001"].clothes_mask, outfits, source_id="001", seq="nm-01-090")
    disc = VariantDiscriminator(DiscriminatorConfig(epochs=2, batch_size=8), device="cpu")
    disc.fit(np.concatenate([walkers[s][0] for s in walkers]), np.concatenate([r.frames for r in results]))
    for r in results:
        score = disc.score_variant(r.frames)
        assert 0.0 <= score.combined <= 1.0 and len(score.realism_frames) == len(rgb)
        outside = ~r.masks
        assert np.array_equal(r.frames[outside], rgb[outside])
        json.dumps({"record": r.record, "score": score.to_dict(), "parsing": parser.provenance,
                    "describe": describer.provenance, "summary": summarizer.provenance})
