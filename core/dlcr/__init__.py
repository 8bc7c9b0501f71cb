"""Model-backed DLCR clothing augmentation, one module per stage (docs/contracts.md, "DLCR stages").

``parsing``       human parsing -> part labels in core.parts ids + dilated clothes mask
``describe``      LLaVA-family clothing descriptions (batched, chat template)
``summarize``     LLM garment summary per identity, parsed defensively into Garment records
``prompts``       every stage's prompts; outfits for a source drawn from *other* identities
``inpaint``       Stable Diffusion inpainting, one seed + prompt per (sequence, variant)
``discriminator`` realism + identity-keeping score of a variant, trained in the studio
``loading``       local-folder / cached-hub-id resolution, device and dtype, provenance records

Models are loaded from local folders or hub ids (downloaded only when the user allows it); every output carries the
``provenance`` dict of the model that made it. Heavy libraries (transformers, diffusers) are
imported only when a model is loaded.
"""

from core.dlcr.discriminator import DiscriminatorConfig, VariantDiscriminator, VariantScore, identity_score
from core.dlcr.describe import ClothingDescriber, GenerateOptions, person_crop, pick_frames
from core.dlcr.guidance import DiscriminatorGuidance, LatentDiscriminator, train_latent_discriminator
from core.dlcr.inpaint import InpaintConfig, Inpainter, InpaintResult, guidance_preview
from core.hub import ModelSource, resolve_source
from core.dlcr.parsing import HumanParser, ParsedFrames, ParsingConfig
from core.dlcr.prompts import Garment, OutfitChoice, choose_outfits, outfit_prompt
from core.dlcr.summarize import GarmentSummarizer, Summary, SummaryConfig, parse_garments

__all__ = [
    "ClothingDescriber", "DiscriminatorConfig", "DiscriminatorGuidance", "LatentDiscriminator", "Garment", "GarmentSummarizer", "GenerateOptions", "HumanParser",
    "InpaintConfig", "InpaintResult", "Inpainter", "ModelSource", "OutfitChoice", "ParsedFrames", "ParsingConfig",
    "Summary", "SummaryConfig", "VariantDiscriminator", "VariantScore", "choose_outfits", "guidance_preview", "identity_score",
    "outfit_prompt", "parse_garments", "person_crop", "pick_frames", "resolve_source", "train_latent_discriminator",
]
