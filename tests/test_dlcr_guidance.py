"""Discriminator guidance (DLCR's refinement of denoising) on the tiny inpainting pipeline, on CPU.

The tiny pipeline's weights are random, so "realistic" means nothing for its outputs; these tests
check what the code guarantees regardless: the latent discriminator learns real vs corrupted crops
from noisy latents, the correction points toward what it calls real, only steps with t > t_min
are touched, weight 0 is exactly the unguided pipeline, a comparison shares its seed, the record
says what was done, and the hook never outlives a run.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.demo.body import make_identity, make_jitter
from core.demo.garments import casia_outfit
from core.demo.render import render_rgb, render_sequence
from core.dlcr.guidance import (DiscriminatorGuidance, LatentDiscriminator, discriminator_probs, encode_crops,
                                train_latent_discriminator)
from core.dlcr.inpaint import InpaintConfig, Inpainter, guidance_preview
from core.dlcr.prompts import Garment, choose_outfits
from core.errors import ConfigError, InputError, JobCancelled
from core.parts import COAT, LOWER, UPPER
from bench.tiny_models import write_tiny_sd_inpaint

SIZE = dict(height=64, width=32)
STEPS = 6            # DDIM "leading" timesteps 831, 665, 499, 333, 167, 1 on the tiny scheduler
POOL = {"001": [Garment("upper", "t-shirt", "red"), Garment("lower", "jeans", "blue")],
        "002": [Garment("upper", "shirt", "white", "striped"), Garment("lower", "skirt", "black")]}


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    yield


def _walker(sid: str, frames: int):
    ident, outfit = make_identity(0, sid), casia_outfit(0, sid, "nm-01")
    parts, _ = render_sequence(ident, make_jitter(0, sid, "nm-01", "090"), outfit, "090", frames)
    rgb = np.stack([render_rgb(parts[i], outfit.palette(), i, 7) for i in range(frames)])
    return rgb[:, ::2, ::2].copy(), np.isin(parts[:, ::2, ::2], (UPPER, LOWER, COAT))


@pytest.fixture(scope="module")
def sd_path(tmp_path_factory):
    return write_tiny_sd_inpaint(tmp_path_factory.mktemp("tiny") / "sd_inpaint")


@pytest.fixture(scope="module")
def inpainter(sd_path):
    inp = Inpainter(sd_path, config=InpaintConfig(steps=STEPS, batch_size=3, **SIZE))
    return inp


@pytest.fixture(scope="module")
def crops(inpainter):
    """Real canvas crops of four walkers and 'generated' ones whose garments are random pixels."""
    rng = np.random.default_rng(0)
    real, masks = [], []
    for sid in ("004", "005", "006", "007"):
        rgb, m = _walker(sid, 6)
        r, cm = inpainter.canvas_crops(rgb, m)
        real.append(r)
        masks.append(cm)
    real, masks = np.concatenate(real), np.concatenate(masks)
    fake = real.copy()
    fake[masks] = rng.integers(0, 256, (int(masks.sum()), 3))
    # The random tiny VAE is not calibrated the way SD's is (its scaling factor makes clean
    # latents unit-variance); without that, noise drowns the signal at every timestep.
    raw = encode_crops(inpainter.pipe, real, masks).latents / inpainter.pipe.vae.config.scaling_factor
    inpainter.pipe.vae.register_to_config(scaling_factor=float(1.0 / raw.std()))
    return real, fake, masks


@pytest.fixture(scope="module")
def trained(inpainter, crops):
    real, fake, masks = crops
    n = len(real) - 6                     # the last walker's frames are held out
    seen = []
    disc = train_latent_discriminator(inpainter.pipe, real[:n], fake[:n], masks[:n], steps=60, batch_size=16,
                                      lr=3e-3, t_range=(0, 600), progress=lambda s, n, l: seen.append(s))
    assert seen == list(range(1, 61))
    return disc


@pytest.fixture(scope="module")
def walker():
    return _walker("003", 4)


def _outfit(seed=0):
    return choose_outfits(POOL, "002", 1, seed=seed)[0]


# ----------------------------------------------------------------------------------- training

def test_latent_discriminator_learns_real_vs_corrupted_on_held_out_frames(inpainter, crops, trained, tmp_path):
    real, fake, masks = crops
    loss = trained.metrics["loss"]
    assert np.mean(loss[-15:]) < np.mean(loss[:15]) - 0.1, (loss[:15], loss[-15:])
    assert trained.metrics["n_real"] == len(real) - 6 and trained.metrics["t_range"] == [0, 600]
    # Only the head is trainable and saved: the UNet stays out of the state dict.
    assert all(not k.startswith(("unet", "_encoder")) for k in trained.state_dict())
    assert not any(p.requires_grad for p in inpainter.pipe.unet.parameters())
    held = slice(len(real) - 6, None)
    p_real = discriminator_probs(trained, inpainter.pipe, real[held], masks[held], t=200)
    p_fake = discriminator_probs(trained, inpainter.pipe, fake[held], masks[held], t=200)
    assert p_real.mean() > p_fake.mean() + 0.15, (p_real, p_fake)

    path = trained.save(tmp_path / "latent-disc.pt")
    again = LatentDiscriminator.load(path, pipe=inpainter.pipe)
    assert again.source == str(path) and len(again.sha1) == 40
    assert np.allclose(discriminator_probs(again, inpainter.pipe, real[held], masks[held], t=200), p_real, atol=1e-5)
    with pytest.raises(ConfigError, match="not attached"):
        LatentDiscriminator.load(path)(torch.zeros(1, 9, 32, 16), torch.tensor([500]))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="junk.pt"):
        LatentDiscriminator.load(tmp_path / "junk.pt")
    with pytest.raises(ConfigError, match="t_range"):
        train_latent_discriminator(inpainter.pipe, real[:2], fake[:2], masks[:2], steps=1, t_range=(500, 100))


def test_correction_points_toward_what_the_discriminator_calls_real(inpainter, crops, trained):
    real, fake, masks = crops
    enc = encode_crops(inpainter.pipe, fake[:4], masks[:4])
    ab = inpainter.pipe.scheduler.alphas_cumprod
    t = 400
    x = torch.cat([ab[t].sqrt() * enc.latents + (1 - ab[t]).sqrt() * torch.randn_like(enc.latents), enc.cond], 1)
    guide = DiscriminatorGuidance(trained, weight=1.0, t_min=200).bind(inpainter.pipe)
    c1 = guide.correction(x, t)
    guide.weight = 3.0
    assert torch.allclose(guide.correction(x, t), 3 * c1, rtol=1e-4, atol=1e-7), "linear in the weight"
    # eps' = eps + c moves the predicted clean latent by -sqrt(1-abar)/sqrt(abar) * c; along that
    # direction (a small step) the discriminator's log ratio must go up.
    step = -(1 - ab[t]).sqrt() / ab[t].sqrt() * c1
    step = step * (0.05 / step.abs().max())
    tt = torch.full((4,), t)
    with torch.no_grad():
        before = trained.log_ratio(x, tt)
        after = trained.log_ratio(torch.cat([x[:, :4] + step, x[:, 4:]], 1), tt)
    assert bool((after > before).all()), (before, after)


# ----------------------------------------------------------------------------------- sampling

def test_guided_and_unguided_share_the_seed_and_differ_only_when_weight_is_positive(inpainter, trained, walker):
    rgb, masks = walker
    inpainter.set_discriminator(trained)
    calls = []
    real_forward = LatentDiscriminator.forward

    def spy(self, sample, t):
        calls.append(t.reshape(-1).tolist())
        return real_forward(self, sample, t)

    LatentDiscriminator.forward = spy
    try:
        plain = inpainter.inpaint_sequence(rgb, masks, _outfit())
        zero = inpainter.inpaint_sequence(rgb, masks, _outfit(), guidance_weight=0.0)
        assert calls == [], "weight 0 must not even ask the discriminator"
        unguided, guided = inpainter.compare_guidance(rgb, masks, _outfit(), weight=20.0)
    finally:
        LatentDiscriminator.forward = real_forward
    assert np.array_equal(zero.frames, plain.frames) and np.array_equal(unguided.frames, plain.frames)
    diff = np.abs(guided.frames.astype(int) - unguided.frames.astype(int)).sum(-1)
    assert diff.max() > 0, "a positive weight changes the repainted pixels"
    assert diff[~guided.masks].max() == 0, "outside the mask nothing changes, guided or not"
    assert guided.record["seed"] == unguided.record["seed"] == _outfit().seed

    # Only steps with t > t_min (200) were corrected: 4 of 6 per batch, 2 batches (3 + 1 frames).
    timesteps = [int(t) for t in inpainter.pipe.scheduler.timesteps]
    expected = [t for t in timesteps if t > 200]
    assert len(timesteps) == STEPS and 0 < len(expected) < STEPS
    assert len(calls) == 2 * len(expected)
    assert sorted({t for c in calls for t in c}, reverse=True) == expected
    assert guided.record["guided_timesteps"] == expected

    rec, off = guided.record, unguided.record
    assert (rec["guidance_weight"], rec["guidance_t_min"], rec["discriminator"]) == (20.0, 200, "in-memory")
    assert (off["guidance_weight"], off["guided_timesteps"], off["discriminator"]) == (0.0, [], None)
    json.dumps(rec)

    strip = guidance_preview(rgb, unguided, guided, height=64)
    assert strip.shape[0] == 64 and strip.shape[1] > 3 * 40 and strip.dtype == np.uint8


def test_t_min_moves_the_cut_and_a_saved_discriminator_is_recorded(sd_path, inpainter, trained, walker, tmp_path):
    rgb, masks = walker
    path = trained.save(tmp_path / "disc.pt")
    cfg = InpaintConfig(steps=STEPS, batch_size=4, guidance_weight=5.0, guidance_t_min=600, discriminator=path,
                        **SIZE)
    inp = Inpainter.from_pipeline(inpainter.pipe, config=cfg, device="cpu")
    r = inp.inpaint_sequence(rgb, masks, _outfit())
    timesteps = [int(t) for t in inp.pipe.scheduler.timesteps]
    assert r.record["guided_timesteps"] == [t for t in timesteps if t > 600] and len(r.record["guided_timesteps"]) == 2
    assert r.record["discriminator"] == str(path) and r.record["discriminator_sha1"] == LatentDiscriminator.load(
        path).sha1
    assert r.record["guidance_weight"] == 5.0 and r.record["guidance_t_min"] == 600
    # The job-level config turns it off again without touching the discriminator.
    inp.config.guidance_weight = 0.0
    assert inp.inpaint_sequence(rgb, masks, _outfit()).record["guided_timesteps"] == []


def test_cancellation_and_hooks_do_not_leak(inpainter, trained, walker):
    rgb, masks = walker
    inpainter.set_discriminator(trained)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(JobCancelled, match="after 3 of 4 frames"):
        inpainter.inpaint_sequence(rgb, masks, _outfit(), should_stop=stop, guidance_weight=5.0)
    assert not inpainter.pipe.unet._forward_hooks, "the guidance hook is removed after every batch"

    def boom(self, sample, t):
        raise RuntimeError("discriminator failed")

    real_forward = LatentDiscriminator.forward
    LatentDiscriminator.forward = boom
    try:
        with pytest.raises(RuntimeError, match="discriminator failed"):
            inpainter.inpaint_sequence(rgb[:1], masks[:1], _outfit(), guidance_weight=5.0)
    finally:
        LatentDiscriminator.forward = real_forward
    assert not inpainter.pipe.unet._forward_hooks


def test_guidance_settings_are_checked(sd_path, inpainter, walker, tmp_path):
    rgb, masks = walker
    with pytest.raises(ConfigError, match="guidance_weight"):
        InpaintConfig(guidance_weight=-1.0).check()
    with pytest.raises(ConfigError, match="guidance_t_min"):
        InpaintConfig(guidance_t_min=1000).check()
    bare = Inpainter.from_pipeline(inpainter.pipe, config=InpaintConfig(steps=1, **SIZE), device="cpu")
    with pytest.raises(ConfigError, match="needs a latent discriminator"):
        bare.inpaint_sequence(rgb[:1], masks[:1], _outfit(), guidance_weight=1.0)
    with pytest.raises(ConfigError, match="weight > 0"):
        bare.compare_guidance(rgb[:1], masks[:1], _outfit())
    with pytest.raises(InputError, match="missing.pt"):
        Inpainter(sd_path, config=InpaintConfig(guidance_weight=1.0, discriminator=tmp_path / "missing.pt", **SIZE))
    # A head trained on another UNet width is refused by name.
    LatentDiscriminator(feature_channels=64, temb_channels=64).save(tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="64 feature"):
        LatentDiscriminator.load(tmp_path / "other.pt", pipe=inpainter.pipe)
