"""Discriminator guidance for inpainting, as DLCR applies it (after Kim et al. 2023, "DG").

DG's idea: a discriminator ``d`` told real from generated samples *at every noise level* estimates
the density ratio ``r = d / (1 - d)`` between the data and what the model makes. Adding
``w * grad log r`` to the model's score pulls each denoising step toward what real data looks
like. In the noise-prediction form Stable Diffusion uses, ``score = -eps / sqrt(1 - abar_t)``, so
the corrected prediction is ``eps - w * sqrt(1 - abar_t) * grad_x log r(x_t, t)``. DLCR applies it
only while ``t > 200`` (the late, nearly clean steps are left alone) and never filters outputs.

How it is built here:

* Feature extractor (frozen): the inpainting UNet's own encoder half -- time embedding, input
  conv, down blocks and mid block -- run on the same 9-channel input the UNet sees (noisy latent,
  mask, masked-image latent) with the empty-prompt text embedding. Like DG's pretrained ADM
  encoder it is already noise-aware, it needs no extra download, and it fits any SD 1.x / 2.x
  inpainting UNet (the tiny test pipeline included). Its weights are never trained or saved.
* Head (trained): 1x1 conv + group norm over the mid-block features, pooled over the whole canvas
  and over the repainted region, plus a projection of the UNet's timestep embedding, then an MLP
  to one logit. ``log r`` is that logit (clamped, as DG clips ``d``).
* Sampling: a forward hook on the UNet adds the correction to its noise prediction before the
  scheduler step, so it works with any scheduler. ``callback_on_step_end`` only sees latents
  *after* the step, where the same correction would need scheduler-specific coefficients.
  With classifier-free guidance the correction is added to both halves alike, so it passes
  through ``uncond + g * (cond - uncond)`` unchanged.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.atomic import atomic_path
from core.errors import ConfigError, InputError, JobCancelled

FORMAT = "hybridgait-dlcr-latent-discriminator"
LOG_RATIO_CLAMP = 11.5      # |logit| bound: DG clips d to [1e-5, 1 - 1e-5]
NUM_TRAIN_TIMESTEPS = 1000


# ------------------------------------------------------------------------------ frozen features

def _unet_signature(unet) -> dict[str, Any]:
    c = unet.config
    return {"class": type(unet).__name__, "in_channels": int(c.in_channels),
            "block_out_channels": [int(b) for b in c.block_out_channels],
            "cross_attention_dim": c.cross_attention_dim if isinstance(c.cross_attention_dim, int)
            else list(c.cross_attention_dim)}


def check_supported(pipe) -> None:
    """Guidance reads the UNet's encoder; UNets that need extra conditioning (SDXL's text/time ids) are refused."""
    unet = getattr(pipe, "unet", None)
    if unet is None or not hasattr(unet, "down_blocks"):
        raise ConfigError(f"{type(pipe).__name__}: discriminator guidance needs a pipeline with a UNet")
    c = unet.config
    if c.addition_embed_type is not None or c.class_embed_type is not None or c.num_class_embeds is not None:
        raise ConfigError(f"{type(pipe).__name__}: discriminator guidance supports Stable Diffusion 1.x/2.x "
                          f"inpainting UNets only (this UNet needs extra conditioning: "
                          f"{c.addition_embed_type or c.class_embed_type or 'class labels'})")
    if getattr(pipe.scheduler.config, "prediction_type", "epsilon") not in ("epsilon", "v_prediction", "sample"):
        raise ConfigError(f"unknown scheduler prediction type {pipe.scheduler.config.prediction_type!r}")


class UNetEncoder:
    """The frozen encoder half of a pipeline's UNet: (sample, t) -> (mid-block features, time embedding)."""

    def __init__(self, pipe):
        check_supported(pipe)
        self.unet = pipe.unet
        self.unet.requires_grad_(False)    # inference pipeline: guidance needs grads w.r.t. the input only
        self.latent_channels = int(pipe.vae.config.latent_channels) if getattr(pipe, "vae", None) else 4
        device, dtype = self.unet.device, self.unet.dtype
        with torch.no_grad():
            null, _ = pipe.encode_prompt("", device, 1, False)
        self.null_text = null.to(device=device, dtype=dtype).detach().clone()

    @property
    def feature_channels(self) -> int:
        return int(self.unet.config.block_out_channels[-1])

    @property
    def temb_channels(self) -> int:
        return int(self.unet.time_embedding.linear_2.out_features)

    def __call__(self, sample: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = self.unet
        sample = sample.to(dtype=u.dtype)
        t = t.to(sample.device).reshape(-1).expand(sample.shape[0]) if t.numel() == 1 else t.to(sample.device)
        emb = u.time_embedding(u.get_time_embed(sample=sample, timestep=t), None)
        if u.time_embed_act is not None:
            emb = u.time_embed_act(emb)
        text = self.null_text.expand(sample.shape[0], -1, -1)
        h = u.conv_in(sample)
        for block in u.down_blocks:
            if getattr(block, "has_cross_attention", False):
                h, _ = block(hidden_states=h, temb=emb, encoder_hidden_states=text)
            else:
                h, _ = block(hidden_states=h, temb=emb)
        if u.mid_block is not None:
            if getattr(u.mid_block, "has_cross_attention", False):
                h = u.mid_block(h, emb, encoder_hidden_states=text)
            else:
                h = u.mid_block(h, emb)
        return h, emb


# ------------------------------------------------------------------------------ trainable head

class LatentDiscriminator(nn.Module):
    """Real-vs-generated classifier on noisy inpainting latents; only this head holds weights.

    ``attach(pipe)`` binds it to a pipeline's frozen UNet encoder (not part of ``state_dict``).
    ``forward(sample, t)`` takes the UNet's input layout: noisy latent, then (inpainting UNets)
    the mask and masked-image latent channels; it returns one logit per sample (real > 0).
    """

    def __init__(self, feature_channels: int, temb_channels: int, hidden: int = 64):
        super().__init__()
        if hidden % 8:
            raise ConfigError(f"discriminator hidden width {hidden} must be a multiple of 8")
        self.dims = {"feature_channels": int(feature_channels), "temb_channels": int(temb_channels),
                     "hidden": int(hidden)}
        self.proj = nn.Sequential(nn.Conv2d(feature_channels, hidden, 1), nn.GroupNorm(8, hidden), nn.SiLU(),
                                  nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU())
        self.time = nn.Linear(temb_channels, 2 * hidden)
        self.out = nn.Sequential(nn.SiLU(), nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))
        self.metrics: dict[str, Any] = {}
        self.source: str | None = None        # file it was loaded from, for records
        self.sha1: str | None = None
        self.unet_signature: dict[str, Any] | None = None
        object.__setattr__(self, "_encoder", None)   # kept out of the module tree and the state dict

    @classmethod
    def for_pipeline(cls, pipe, hidden: int = 64) -> "LatentDiscriminator":
        enc = UNetEncoder(pipe)
        d = cls(enc.feature_channels, enc.temb_channels, hidden)
        d._bind(enc)
        return d

    def _bind(self, enc: UNetEncoder) -> None:
        if (enc.feature_channels, enc.temb_channels) != (self.dims["feature_channels"], self.dims["temb_channels"]):
            raise ConfigError(f"discriminator{' ' + self.source if self.source else ''} was trained on a UNet with "
                              f"{self.dims['feature_channels']} feature / {self.dims['temb_channels']} time channels; "
                              f"this pipeline's UNet has {enc.feature_channels} / {enc.temb_channels}")
        object.__setattr__(self, "_encoder", enc)
        self.unet_signature = _unet_signature(enc.unet)
        self.to(device=enc.unet.device)

    def attach(self, pipe) -> "LatentDiscriminator":
        self._bind(UNetEncoder(pipe))
        return self

    @property
    def encoder(self) -> UNetEncoder:
        if self._encoder is None:
            raise ConfigError("the latent discriminator is not attached to a pipeline (call attach(pipe))")
        return self._encoder

    def forward(self, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        feats, emb = self.encoder(sample, t)
        return self.classify(sample, feats, emb)

    def classify(self, sample: torch.Tensor, feats: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Logits from encoder features already computed (training computes them without grad)."""
        h = self.proj(feats.float())
        lc = self.encoder.latent_channels
        if sample.shape[1] > lc:
            # Inpainting input: channel ``lc`` is the repaint mask; pool over it as well, since the
            # garment is what differs between a real frame and a generated one.
            m = F.adaptive_avg_pool2d(sample[:, lc:lc + 1].float(), h.shape[-2:])
            masked = (h * m).sum((2, 3)) / m.sum((2, 3)).clamp_min(1e-6)
        else:
            masked = h.mean((2, 3))
        z = torch.cat([h.mean((2, 3)), masked], 1) + self.time(emb.float())
        return self.out(z).squeeze(1)

    def log_ratio(self, sample: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """log(d / (1 - d)) = the logit, bounded as DG bounds d away from 0 and 1."""
        return self(sample, t).clamp(-LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)

    # ------------------------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        blob = {"format": FORMAT, "version": 1, "dims": dict(self.dims), "metrics": self.metrics,
                "unet": self.unet_signature,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()}}
        with atomic_path(path, suffix=".pt") as tmp:
            torch.save(blob, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, pipe=None) -> "LatentDiscriminator":
        """Read a saved head (weights only, no code runs); with ``pipe`` it is attached as well."""
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "latent discriminator file does not exist")
        data = path.read_bytes()
        try:
            blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(path, f"unreadable latent discriminator file ({type(exc).__name__}: {exc})") from exc
        if not isinstance(blob, dict) or blob.get("format") != FORMAT:
            raise InputError(path, f"not a {FORMAT} file")
        try:
            d = cls(**blob["dims"])
            d.load_state_dict(blob["state_dict"])
        except (KeyError, TypeError, RuntimeError) as exc:
            raise InputError(path, f"weights do not fit the saved dimensions ({exc})") from exc
        d.metrics = dict(blob.get("metrics") or {})
        d.unet_signature = blob.get("unet")
        d.source, d.sha1 = str(path), hashlib.sha1(data).hexdigest()
        if pipe is not None:
            sig = d.unet_signature
            d.attach(pipe)
            if sig and sig != d.unet_signature:
                raise ConfigError(f"{path}: trained on a {sig} UNet, this pipeline's is {d.unet_signature}")
        return d


# ----------------------------------------------------------------------------------- training

@dataclass
class EncodedCrops:
    """Clean latents of canvas crops and the conditioning channels the inpainting UNet reads with them."""
    latents: torch.Tensor                   # (N, 4, h, w) scaled like the pipeline's latents
    cond: torch.Tensor | None               # (N, 1 + 4, h, w) mask + masked-image latent, or None (4-ch UNet)


def encode_crops(pipe, images: np.ndarray, masks: np.ndarray, batch_size: int = 8) -> EncodedCrops:
    """VAE-encode (N, H, W, 3) uint8 crops with their (N, H, W) repaint masks as the pipeline would."""
    images, masks = np.asarray(images), np.asarray(masks).astype(bool)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(None, f"expected RGB crops (N, H, W, 3), got {images.shape}")
    if masks.shape != images.shape[:3]:
        raise InputError(None, f"masks {masks.shape} do not match crops {images.shape[:3]}")
    f = int(getattr(pipe, "vae_scale_factor", 8))
    if images.shape[1] % f or images.shape[2] % f:
        raise InputError(None, f"crop size {images.shape[1:3]} must be a multiple of the VAE factor {f}")
    vae, device = pipe.vae, pipe.unet.device
    inpaint = int(pipe.unet.config.in_channels) > int(vae.config.latent_channels)
    lat, cond = [], []
    with torch.no_grad():
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(images[s:s + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
            m = torch.from_numpy(masks[s:s + batch_size])[:, None].float()
            x, m = x.to(device=device, dtype=vae.dtype), m.to(device)
            sf = vae.config.scaling_factor
            lat.append((vae.encode(x).latent_dist.mode() * sf).float())
            if inpaint:
                # Masked region zeroed in [-1, 1] space and the mask resized to the latent grid, as
                # StableDiffusionInpaintPipeline does, so training inputs match sampling inputs.
                masked = vae.encode(x * (m < 0.5)).latent_dist.mode() * sf
                m_lat = F.interpolate(m, size=(x.shape[2] // f, x.shape[3] // f))
                cond.append(torch.cat([m_lat, masked.float()], 1))
    return EncodedCrops(torch.cat(lat), torch.cat(cond) if inpaint else None)


def _noised(enc: EncodedCrops, idx: torch.Tensor, t: torch.Tensor, alphas: torch.Tensor,
            gen: torch.Generator) -> torch.Tensor:
    x0 = enc.latents[idx]
    noise = torch.randn(x0.shape, generator=gen).to(x0.device)
    ab = alphas[t.cpu()].to(x0.device)[:, None, None, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    return xt if enc.cond is None else torch.cat([xt, enc.cond[idx]], 1)


def train_latent_discriminator(pipe, real_images: np.ndarray, fake_images: np.ndarray, masks: np.ndarray,
                               steps: int = 200, *, fake_masks: np.ndarray | None = None, batch_size: int = 16,
                               lr: float = 1e-3, t_range: tuple[int, int] = (0, NUM_TRAIN_TIMESTEPS),
                               hidden: int = 64, seed: int = 0, should_stop: Callable[[], bool] | None = None,
                               progress: Callable[[int, int, float], None] | None = None) -> LatentDiscriminator:
    """Train a latent discriminator on real vs generated canvas crops (see ``Inpainter.canvas_crops``).

    Each step draws a class-balanced batch, noises the clean latents at uniform random timesteps in
    ``t_range`` and fits the head with BCE; the UNet encoder stays frozen (features without grad).
    ``masks`` belong to the real crops; generated crops use ``fake_masks`` or the same masks.
    Returns the head, attached to ``pipe``, with ``metrics`` (loss per step, counts).
    """
    if len(real_images) < 1 or len(fake_images) < 1:
        raise InputError(None, f"training the latent discriminator needs real and generated crops "
                               f"(got {len(real_images)} and {len(fake_images)})")
    fake_masks = masks if fake_masks is None else fake_masks
    if len(fake_masks) != len(fake_images):
        raise InputError(None, f"{len(fake_images)} generated crops but {len(fake_masks)} masks for them")
    lo, hi = int(t_range[0]), int(t_range[1])
    if not 0 <= lo < hi <= NUM_TRAIN_TIMESTEPS:
        raise ConfigError(f"t_range {t_range} must satisfy 0 <= lo < hi <= {NUM_TRAIN_TIMESTEPS}")
    if steps < 1 or batch_size < 2:
        raise ConfigError("steps must be at least 1 and batch_size at least 2")
    torch.manual_seed(seed)
    disc = LatentDiscriminator.for_pipeline(pipe, hidden)
    real = encode_crops(pipe, real_images, masks)
    fake = encode_crops(pipe, fake_images, fake_masks)
    alphas = pipe.scheduler.alphas_cumprod.float().cpu()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(disc.parameters(), lr=lr, weight_decay=1e-4)
    half = batch_size // 2
    history = []
    disc.train()
    for step in range(steps):
        if should_stop and should_stop():
            raise JobCancelled(f"latent discriminator training stopped after {step} of {steps} steps")
        ir = torch.randint(len(real.latents), (half,), generator=gen)
        if_ = torch.randint(len(fake.latents), (half,), generator=gen)
        t = torch.randint(lo, hi, (2 * half,), generator=gen)
        x = torch.cat([_noised(real, ir, t[:half], alphas, gen), _noised(fake, if_, t[half:], alphas, gen)])
        y = torch.cat([torch.ones(half), torch.zeros(half)]).to(x.device)
        with torch.no_grad():                           # frozen extractor: no graph through the UNet
            feats, emb = disc.encoder(x, t.to(x.device))
        loss = F.binary_cross_entropy_with_logits(disc.classify(x, feats, emb), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.append(float(loss.item()))
        if progress:
            progress(step + 1, steps, history[-1])
    disc.eval()
    disc.metrics = {"steps": steps, "loss": history, "n_real": int(len(real_images)),
                    "n_fake": int(len(fake_images)), "t_range": [lo, hi], "batch_size": batch_size, "lr": lr}
    return disc


@torch.no_grad()
def discriminator_probs(disc: LatentDiscriminator, pipe, images: np.ndarray, masks: np.ndarray, t: int,
                        seed: int = 0) -> np.ndarray:
    """P(real) per crop after noising its latent to timestep ``t`` (fixed noise per seed)."""
    enc = encode_crops(pipe, images, masks)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.arange(len(enc.latents))
    x = _noised(enc, idx, torch.full((len(idx),), int(t)), pipe.scheduler.alphas_cumprod.float().cpu(), gen)
    disc.eval()
    return torch.sigmoid(disc(x, torch.full((len(idx),), int(t), device=x.device))).float().cpu().numpy()


# ----------------------------------------------------------------------------------- sampling

@dataclass
class GuidanceStep:
    t: int
    applied: bool
    grad_norm: float = 0.0


@dataclass
class DiscriminatorGuidance:
    """A UNet forward hook that corrects noise predictions at steps with t > t_min (weight 0 = off)."""
    disc: LatentDiscriminator
    weight: float
    t_min: int = 200
    steps: list[GuidanceStep] = field(default_factory=list)

    def __post_init__(self):
        if self.weight < 0:
            raise ConfigError(f"guidance weight {self.weight} must be >= 0")
        if not 0 <= self.t_min < NUM_TRAIN_TIMESTEPS:
            raise ConfigError(f"guidance t_min {self.t_min} must be within [0, {NUM_TRAIN_TIMESTEPS})")

    def bind(self, pipe) -> "DiscriminatorGuidance":
        """Read the noise schedule and prediction type of ``pipe`` (``install`` does this too)."""
        check_supported(pipe)
        self._pipe = pipe
        self._alphas = pipe.scheduler.alphas_cumprod.float().cpu()
        self._prediction = getattr(pipe.scheduler.config, "prediction_type", "epsilon")
        return self

    def install(self, pipe):
        """Hook ``pipe.unet``; returns the handle (``.remove()`` it after the run)."""
        self.bind(pipe)
        return pipe.unet.register_forward_hook(self._hook, with_kwargs=True)

    def correction(self, sample: torch.Tensor, t: int) -> torch.Tensor:
        """-w * sqrt(1 - abar_t) * grad log r, in the unit of the model's output."""
        ab = float(self._alphas[min(max(t, 0), len(self._alphas) - 1)])
        lc = self.disc.encoder.latent_channels
        # Sampling runs under no_grad / inference mode; the gradient needs ordinary tensors.
        with torch.inference_mode(False), torch.enable_grad():
            x = sample[:, :lc].detach().clone().float().requires_grad_(True)
            rest = sample[:, lc:].detach().clone().float()
            tt = torch.full((x.shape[0],), t, device=x.device)
            log_r = self.disc.log_ratio(torch.cat([x, rest], 1), tt)
            grad, = torch.autograd.grad(log_r.sum(), x)
        grad = torch.nan_to_num(grad.detach(), nan=0.0, posinf=0.0, neginf=0.0)
        d_eps = -self.weight * (1.0 - ab) ** 0.5 * grad
        if self._prediction == "v_prediction":   # v = (eps - sqrt(1-abar) x_t) / sqrt(abar) at fixed x_t
            d_eps = d_eps / ab ** 0.5
        elif self._prediction == "sample":      # x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)
            d_eps = -d_eps * (1.0 - ab) ** 0.5 / ab ** 0.5
        return d_eps

    def _hook(self, module, args, kwargs, output):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs["timestep"]
        t = int(round(float(timestep.reshape(-1)[0]) if torch.is_tensor(timestep) else float(timestep)))
        if self.weight == 0 or t <= self.t_min:
            self.steps.append(GuidanceStep(t, False))
            return None
        # With classifier-free guidance both halves hold the same noisy sample: judge it once and
        # add the same correction to both, which leaves uncond + g * (cond - uncond) shifted by it.
        n = sample.shape[0]
        halves = 2 if getattr(self._pipe, "do_classifier_free_guidance", False) and n % 2 == 0 else 1
        d = self.correction(sample[: n // halves], t).repeat(halves, 1, 1, 1)
        self.steps.append(GuidanceStep(t, True, float(d.norm() / max(n, 1))))
        eps = output[0] if isinstance(output, tuple) else output.sample
        new = eps + d.to(device=eps.device, dtype=eps.dtype)
        if isinstance(output, tuple):
            return (new,) + tuple(output[1:])
        output.sample = new
        return output

    def corrected_timesteps(self) -> list[int]:
        return [s.t for s in self.steps if s.applied]


# ------------------------------------------------------------------------------------ preview

def comparison_strip(source: np.ndarray, unguided: np.ndarray, guided: np.ndarray, *, weight: float | None = None,
                     height: int = 160) -> np.ndarray:
    """One RGB strip: source frame | unguided variant | guided variant (same seed), labelled."""
    from core.imaging import side_by_side

    label = "guided" if weight is None else f"guided w={weight:g}"
    return side_by_side([source, unguided, guided], labels=["source", "unguided", label], height=height)


def pick_preview_frame(masks: np.ndarray) -> int:
    """The repainted frame shown by default: the middle one among frames with a mask."""
    todo = [i for i in range(len(masks)) if np.asarray(masks[i]).any()]
    return todo[len(todo) // 2] if todo else 0


__all__ = ["DiscriminatorGuidance", "EncodedCrops", "GuidanceStep", "LatentDiscriminator", "UNetEncoder",
           "check_supported", "comparison_strip", "discriminator_probs", "encode_crops", "pick_preview_frame",
           "train_latent_discriminator"]

