"""GaitBase: a per-frame ResNet-9-style CNN, set max pooling, horizontal parts and a BNNeck.

With the reference arguments (channels 64/128/256/512, 16 parts, 256-d parts, 74 classes,
64x44 input) the model has exactly 7,305,408 parameters (7,002,304 without the classifier),
the size reported for OpenGait's GaitBase on CASIA-B.
"""

from __future__ import annotations

from typing import Sequence as Seq

from torch import Tensor, nn

from core.models.blocks import FrameResNet
from core.models.heads import BNNeck, SeparateFCs
from core.models.opengait_cfg import Keys, Translated, bnneck, separate_fcs
from core.models.pooling import horizontal_pyramid_pool, set_max_pool
from core.models.registry import register_model


@register_model("gaitbase")
class GaitBase(nn.Module):
    """Silhouette-set model; ``forward((N, T, H, W) in [0, 1])`` -> dict of embeddings and logits.

    ``embeddings`` (N, embed_dim, parts) are the pre-BN features used for retrieval;
    ``bn_embeddings`` feed the classifier, whose ``logits`` are (N, num_classes, parts).
    """

    OPENGAIT_CLASSES = ("Baseline",)

    @classmethod
    def from_opengait(cls, m: Keys, data: Keys) -> Translated:
        """OpenGait's Baseline on its ResNet9 backbone (defaults are ResNet9's own, not ours)."""
        b = m.sub("backbone_cfg")
        kind = b.str("type")
        if kind != "ResNet9":
            raise b.refuse("type", f"backbone {kind!r} is not implemented here for Baseline (ResNet9 is)")
        b.equal("block", b.str("block"), "BasicBlock", "only BasicBlock stages are implemented here")
        channels = b.ints("channels", 4, default=[32, 64, 128, 256])
        b.equal("in_channel", b.int("in_channel", default=1), 1,
                "only 1-channel silhouettes have a data path here (3 channels are LiDAR depth images)")
        layers = b.ints("layers", 4, default=[1, 2, 2, 1])
        if layers != [1, 1, 1, 1]:
            raise b.refuse("layers", f"{layers}: GaitBase here has one BasicBlock per stage ([1, 1, 1, 1])")
        strides = b.ints("strides", 4, default=[1, 2, 2, 1])
        b.equal("maxpool", b.bool("maxpool", default=True), False, "a stem max-pool is not implemented here")
        b.rest("not a ResNet9 argument: OpenGait's get_backbone drops it")
        parts, cin, cout = separate_fcs(m)
        m.equal("SeparateFCs", cin, channels[3], f"SeparateFCs.in_channels must be the backbone's {channels[3]} "
                "channels (OpenGait would fail on the mismatch)")
        classes = bnneck(m, parts, cout)
        bins = m.ints("bin_num")
        if bins != [parts]:
            raise m.refuse("bin_num", f"{bins}: GaitBase here pools one level of {parts} strips "
                                      f"(a pyramid, or a count other than SeparateFCs.parts_num, is not implemented)")
        return Translated({"channels": channels, "parts": parts, "embed_dim": cout, "strides": strides}, classes)

    def __init__(self, num_classes: int, channels: Seq[int] = (64, 128, 256, 512), parts: int = 16,
                 embed_dim: int = 256, in_channels: int = 1, strides: Seq[int] = (1, 2, 2, 1)):
        super().__init__()
        if num_classes < 1 or parts < 1 or embed_dim < 1:
            raise ValueError("num_classes, parts and embed_dim must be positive")
        self.num_classes, self.parts, self.in_channels = int(num_classes), int(parts), int(in_channels)
        self.backbone = FrameResNet(in_channels, tuple(channels), tuple(strides))
        self.fcs = SeparateFCs(parts, self.backbone.out_channels, embed_dim)
        self.neck = BNNeck(parts, embed_dim, num_classes)

    def forward(self, sils: Tensor, lengths: Tensor | None = None) -> dict[str, Tensor]:
        if sils.dim() == 4:
            sils = sils.unsqueeze(2)  # (N, T, H, W) -> (N, T, 1, H, W)
        n, t = sils.shape[:2]
        # All frames of all sequences go through the 2-D CNN as one batch: far faster than a loop.
        fmap = self.backbone(sils.reshape(n * t, *sils.shape[2:]))
        fmap = set_max_pool(fmap.reshape(n, t, *fmap.shape[1:]), lengths)
        feats = horizontal_pyramid_pool(fmap, self.parts)
        embed = self.fcs(feats)
        bn_embed, logits = self.neck(embed)
        return {"embeddings": embed, "bn_embeddings": bn_embed, "logits": logits}
