"""Tiny randomly initialised models written to disk in the exact layouts the real ones use.

Each builder saves with ``save_pretrained`` into a folder and returns it, so tests (and
``bench.generate``) load them back by path through ``core.dlcr`` loaders exactly as a user's downloaded model would be loaded. No
file is fetched from anywhere: tokenizers are trained here on a few sentences, configs are built
in code, weights are random (seeded, so outputs are reproducible).

Reuse from another test module::

    from bench.tiny_models import build_all
    @pytest.fixture(scope="session")
    def tiny(tmp_path_factory):
        return build_all(tmp_path_factory.mktemp("tiny-models"))
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

# LIP's 20 label names, in LIP's order, so the default label mapping is exercised as for a real
# LIP-trained parser (SCHP / Segformer fine-tunes use these names).
LIP_LABELS = (
    "Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks", "Pants",
    "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg", "Left-shoe",
    "Right-shoe",
)

IMAGE_TOKEN = "<image>"
# A plain USER/ASSISTANT template in LLaVA-1.5's style; images become one <image> placeholder.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | upper }}: "
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)

_CORPUS = (
    "What clothes is the person wearing? Describe the upper garment and the lower garment.",
    "The person is wearing a red striped t-shirt and blue jeans.",
    "A black coat over a white shirt, grey trousers and brown shoes.",
    "1. navy hoodie 2. khaki shorts 3. green plaid skirt 4. yellow dress",
    "Extract the clothing items from the following text as a numbered list.",
    "USER: ASSISTANT: colour pattern garment solid checked floral dotted jacket sweater pants",
)


def _seed(seed: int) -> None:
    torch.manual_seed(seed)


def make_tokenizer(vocab_size: int = 384):
    """A byte-level BPE tokenizer trained on a few sentences: encodes any text, decodes cleanly."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  special_tokens=["<pad>", "<s>", "</s>", "<unk>", IMAGE_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(_CORPUS) * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", extra_special_tokens={"image_token": IMAGE_TOKEN})
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _llama_config(vocab_size: int, tokenizer):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)


def write_tiny_segformer(out: str | Path, seed: int = 0, labels=LIP_LABELS) -> Path:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    out = Path(out)
    _seed(seed)
    cfg = SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                          hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
                          mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=len(labels),
                          id2label={i: n for i, n in enumerate(labels)},
                          label2id={n: i for i, n in enumerate(labels)})
    SegformerForSemanticSegmentation(cfg).eval().save_pretrained(out)
    SegformerImageProcessor(size={"height": 64, "width": 64}, do_reduce_labels=False).save_pretrained(out)
    return out


def write_tiny_causal_lm(out: str | Path, seed: int = 0, silent: bool = False) -> Path:
    """A 2-layer Llama with the shared tokenizer and chat template.

    ``silent=True`` zeroes the output head: every logit is equal, so greedy decoding always picks
    token 0 (``<pad>``), which decodes to an empty reply -- a deterministic malformed answer.
    """
    from transformers import LlamaForCausalLM

    out = Path(out)
    tok = make_tokenizer()
    _seed(seed)
    model = LlamaForCausalLM(_llama_config(len(tok), tok)).eval()
    if silent:
        with torch.no_grad():
            model.lm_head.weight.zero_()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def write_tiny_llava(out: str | Path, seed: int = 0) -> Path:
    """LLaVA-architecture model: tiny CLIP vision tower (30 px, 6 px patches) + tiny Llama."""
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)

    out = Path(out)
    tok = make_tokenizer()
    _seed(seed)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=30, patch_size=6, projection_dim=32)
    cfg = LlavaConfig(vision_config=vision, text_config=_llama_config(len(tok), tok),
                      image_token_index=tok.convert_tokens_to_ids(IMAGE_TOKEN), projector_hidden_act="gelu",
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    model = LlavaForConditionalGeneration(cfg).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out)
    improc = CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30})
    proc = LlavaProcessor(image_processor=improc, tokenizer=tok, patch_size=6,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1,
                          chat_template=CHAT_TEMPLATE,
                          image_token=IMAGE_TOKEN)
    proc.save_pretrained(out)
    return out


def write_clip_bpe_files(out: Path) -> tuple[Path, Path]:
    """vocab.json + merges.txt in CLIP's format (byte-level symbols, ``</w>`` ending each word).

    Merges are written by hand, joining each prompt word left to right, so a prompt costs words,
    not letters, and the files are byte-identical on every run (the BPE trainer breaks ties
    differently from run to run).
    """
    import re

    from tokenizers import pre_tokenizers

    corpus = list(_CORPUS) + ["a full-body photo of a person wearing, realistic, natural lighting",
                              "deformed body, extra limbs, missing limbs, blurry, low quality, text, watermark"]
    words = sorted({w for line in corpus for w in re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", line.lower())})
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(alphabet + [a + "</w>" for a in alphabet])}
    merges: list[tuple[str, str]] = []
    for word in words:
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            pair = (symbols[0], symbols[1])
            if pair not in merges:
                merges.append(pair)
                vocab.setdefault(pair[0] + pair[1], len(vocab))
            symbols = [pair[0] + pair[1]] + symbols[2:]
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return out / "vocab.json", out / "merges.txt"


def write_tiny_sd_inpaint(out: str | Path, seed: int = 0) -> Path:
    """A StableDiffusionInpaintPipeline with SD-1.5's structure at toy width (UNet in_channels=9)."""
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = write_clip_bpe_files(Path(tmp))
        tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)
    _seed(seed)
    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8,
                        layers_per_block=1, sample_size=32)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                        pad_token_id=tokenizer.pad_token_id, hidden_size=16, intermediate_size=32,
                                        num_attention_heads=2, num_hidden_layers=2, vocab_size=len(tokenizer),
                                        max_position_embeddings=77, projection_dim=16))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text.eval(), tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.save_pretrained(out)
    return out


def write_tiny_sdxl_inpaint(out: str | Path, seed: int = 0) -> Path:
    """A StableDiffusionXLInpaintPipeline at toy width: two text encoders, time-id conditioning."""
    from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLInpaintPipeline,
                           UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = write_clip_bpe_files(Path(tmp))
        tokenizer = CLIPTokenizer(vocab=str(vocab), merges=str(merges), model_max_length=77)
    _seed(seed)
    text_cfg = dict(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                    num_hidden_layers=2, vocab_size=len(tokenizer), max_position_embeddings=77, projection_dim=16)
    # Cross-attention reads both encoders' hidden states side by side (16 + 16); the added
    # embedding reads 6 time ids x 8 plus the second encoder's pooled projection (16).
    unet = UNet2DConditionModel(block_out_channels=(16, 32), layers_per_block=1, sample_size=16, in_channels=9,
                                out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=4, norm_num_groups=8, use_linear_projection=True,
                                addition_embed_type="text_time", addition_time_embed_dim=8,
                                projection_class_embeddings_input_dim=6 * 8 + 16)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=8,
                        layers_per_block=1, sample_size=32)
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLInpaintPipeline(
        vae=vae, text_encoder=CLIPTextModel(CLIPTextConfig(**text_cfg)).eval(),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text_cfg)).eval(), tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler, requires_aesthetics_score=False,
        force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.save_pretrained(out)
    return out


def build_all(root: str | Path) -> dict[str, Path]:
    """Write every tiny model under ``root`` (skipping ones already there) and return their folders."""
    root = Path(root)
    builders = {"segformer": write_tiny_segformer, "llava": write_tiny_llava, "lm": write_tiny_causal_lm,
                "lm_silent": lambda p: write_tiny_causal_lm(p, silent=True), "sd_inpaint": write_tiny_sd_inpaint,
                "sdxl_inpaint": write_tiny_sdxl_inpaint}
    out = {}
    for name, build in builders.items():
        target = root / name
        done = target / ".complete"
        if not done.is_file():
            build(target)
            done.write_text("ok\n")
        out[name] = target
    return out
