"""Inpainting throughput: our batched path (core.dlcr.inpaint) vs a naive one-frame-at-a-time fp32 loop.

The naive loop is what the reference scripts do: an fp32 pipeline called once per image. Ours
batches the frames of a sequence (one seed and prompt per variant), in fp16 on CUDA. Both work on
the same demo frames, the same garment masks, canvas, steps and guidance; frames/s counts whole
frames in and out (crop, model, paste back), after one warm-up call each.

    python -m bench.generate                 # --tiny: tiny random pipeline (the only choice on CPU)
    python -m bench.generate --sd15          # SD 1.5 inpainting architecture, random weights, 512x512,
                                             # 25 steps, GPU only (1.40 s/frame naive fp32 vs 0.208 s/frame
                                             # fp16 batches of 8 on one H100: docs/contracts.md,
                                             # "Reference timings")
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def demo_frames(count: int, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Demo-generator RGB frames and their garment masks (upper, lower, coat)."""
    import cv2

    from core.demo.body import make_identity, make_jitter
    from core.demo.garments import casia_outfit
    from core.demo.render import render_rgb, render_sequence
    from core.parts import COAT, LOWER, UPPER

    ident, outfit = make_identity(0, "001"), casia_outfit(0, "001", "nm-01")
    parts, _ = render_sequence(ident, make_jitter(0, "001", "nm-01", "090"), outfit, "090", count)
    rgb = np.stack([render_rgb(parts[i], outfit.palette(), i, 7) for i in range(count)])
    masks = np.isin(parts, (UPPER, LOWER, COAT))
    if size is not None:
        h, w = size
        rgb = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in rgb])
        masks = np.stack([cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) for m in masks]) > 0
    return rgb, masks


def sd15_pipeline():
    """Stable Diffusion 1.5 inpainting's architecture (UNet in_channels=9, 859.5 M parameters), random weights."""
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from bench.tiny_models import write_clip_bpe_files

    unet = UNet2DConditionModel(
        sample_size=64, in_channels=9, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
                        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                                        hidden_act="quick_gelu", projection_dim=768))
    with tempfile.TemporaryDirectory() as tmp:   # a small local BPE stands in for CLIP's 49,408-entry one
        vocab, merges = write_clip_bpe_files(Path(tmp))
        tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)
    sched = PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True,
                          steps_offset=1, set_alpha_to_one=False)
    return StableDiffusionInpaintPipeline(vae=vae, text_encoder=text.eval(), tokenizer=tokenizer, unet=unet.eval(),
                                          scheduler=sched, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def naive_loop(pipe, frames, masks, config, outfit, device) -> float:
    """Reference-script style: fp32, one pipeline call per frame. Returns seconds for all frames."""
    from PIL import Image

    import cv2

    from core.dlcr.inpaint import crop_box
    from core.dlcr.parsing import dilate

    grown = dilate(masks, config.mask_dilate_px)
    out = frames.copy()
    _sync(device)
    t0 = time.perf_counter()
    for i in range(len(frames)):
        y0, y1, x0, x1 = crop_box(grown[i], config.width / config.height, config.crop_margin)
        crop, m = frames[i, y0:y1, x0:x1], grown[i, y0:y1, x0:x1]
        image = Image.fromarray(cv2.resize(crop, (config.width, config.height)))
        mask = Image.fromarray(cv2.resize(m.astype(np.uint8) * 255, (config.width, config.height),
                                          interpolation=cv2.INTER_NEAREST))
        img = pipe(prompt=outfit.prompt, negative_prompt=config.negative_prompt, image=image, mask_image=mask,
                   height=config.height, width=config.width, num_inference_steps=config.steps,
                   guidance_scale=config.guidance, strength=config.strength,
                   generator=torch.Generator("cpu").manual_seed(outfit.seed), output_type="np").images[0]
        back = cv2.resize((img * 255).round().clip(0, 255).astype(np.uint8), (x1 - x0, y1 - y0))
        out[i, y0:y1, x0:x1][m] = back[m]
    _sync(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    kind = ap.add_mutually_exclusive_group()
    kind.add_argument("--tiny", action="store_true", help="tiny random pipeline (default on CPU)")
    kind.add_argument("--sd15", action="store_true", help="full-size SD 1.5 inpainting architecture (GPU only)")
    ap.add_argument("--frames", type=int, default=16, help="frames through our batched path")
    ap.add_argument("--naive-frames", type=int, default=None, help="frames through the naive loop (default: same)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=None, help="default 25 (sd15) / 10 (tiny)")
    ap.add_argument("--dtype", default=None, help="our path's dtype on CUDA: float16 (default) or bfloat16")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch (a busy small machine times more steadily with 1)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import diffusers
    import transformers
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.disable_progress_bar()

    from core.dlcr.inpaint import InpaintConfig, Inpainter
    from core.dlcr.prompts import Garment, choose_outfits

    cuda = torch.cuda.is_available()
    if args.sd15 and not cuda:
        sys.exit("--sd15 needs a CUDA GPU (an 860 M-parameter UNet at 512x512 takes minutes per frame on CPU)")
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cudnn.benchmark = True
    sd15 = bool(args.sd15)
    steps = args.steps or (25 if sd15 else 10)
    size = dict(height=512, width=512) if sd15 else dict(height=64, width=32)
    config = InpaintConfig(steps=steps, batch_size=args.batch, **size)
    naive_config = InpaintConfig(steps=steps, batch_size=1, **size)
    pool = {"001": [Garment("upper", "t-shirt", "red")],
            "002": [Garment("upper", "shirt", "white", "striped"), Garment("lower", "jeans", "blue")]}
    outfit = choose_outfits(pool, "001", 1, seed=0, seq="nm-01-090")[0]
    frames, masks = demo_frames(max(args.frames, args.naive_frames or 0))
    n_ours, n_naive = args.frames, args.naive_frames or args.frames

    t_build = time.perf_counter()
    if sd15:
        pipe = sd15_pipeline().to(device, torch.float32)
        label = "sd15-inpainting-architecture (random weights)"
    else:
        from diffusers import StableDiffusionInpaintPipeline

        from bench.tiny_models import write_tiny_sd_inpaint
        with tempfile.TemporaryDirectory(prefix="tiny-sd-") as tmp:
            folder = write_tiny_sd_inpaint(Path(tmp) / "sd")
            pipe = StableDiffusionInpaintPipeline.from_pretrained(folder, safety_checker=None,
                                                                  requires_safety_checker=False).to(device)
        label = "tiny random StableDiffusionInpaintPipeline (bench/tiny_models.py)"
    pipe.set_progress_bar_config(disable=True)
    t_build = time.perf_counter() - t_build
    unet_params = sum(p.numel() for p in pipe.unet.parameters())

    # Naive first, in fp32; then the same weights move to our dtype for the batched path.
    naive_loop(pipe, frames[:1], masks[:1], naive_config, outfit, device)           # warm-up
    t_naive = naive_loop(pipe, frames[:n_naive], masks[:n_naive], naive_config, outfit, device)

    ours = Inpainter.from_pipeline(pipe, config=config, device=device, dtype=args.dtype, label=label)
    ours.inpaint_sequence(frames[:config.batch_size], masks[:config.batch_size], outfit)   # warm-up
    _sync(device)
    t0 = time.perf_counter()
    ours.inpaint_sequence(frames[:n_ours], masks[:n_ours], outfit)
    _sync(device)
    t_ours = time.perf_counter() - t0

    fps_naive, fps_ours = n_naive / t_naive, n_ours / t_ours
    where = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"model: {label}; UNet {unet_params / 1e6:.1f} M parameters; built/loaded in {t_build:.1f} s")
    print(f"device: {where} ({torch.get_num_threads()} torch threads)" if not cuda else f"device: {where}", end="")
    print(f"; canvas {size['height']}x{size['width']}; {steps} steps; guidance {config.guidance}")
    print(f"naive  fp32, 1 frame per call : {fps_naive:8.2f} frames/s  ({t_naive / n_naive:.3f} s/frame, "
          f"{n_naive} frames)")
    print(f"ours   {str(ours.dtype).replace('torch.', ''):7s} batch {config.batch_size:<3d}       : "
          f"{fps_ours:8.2f} frames/s  ({t_ours / n_ours:.3f} s/frame, {n_ours} frames)")
    print(f"ratio (ours / naive): {fps_ours / fps_naive:.2f}x")
    if not cuda:
        print("note: CPU run, so only the tiny model ran and both paths are fp32: the ratio shows batching alone")
    print(json.dumps({"model": "sd15" if sd15 else "tiny", "device": where, "steps": steps, **size,
                      "batch": config.batch_size, "dtype": str(ours.dtype).replace("torch.", ""),
                      "naive_fps": round(fps_naive, 3), "ours_fps": round(fps_ours, 3),
                      "ratio": round(fps_ours / fps_naive, 3), "unet_params": unet_params}))


if __name__ == "__main__":
    main()
