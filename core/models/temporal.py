"""Helpers shared by the set and temporal models (GaitSet, GaitGL, DeepGaitV2, SkeletonGait++):
per-frame application of 2-D modules, OpenGait's initialisation, and exact handling of
variable sequence lengths."""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import Tensor, nn


def per_frame(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a 2-D module to every frame of (N, C, T, H, W); returns (N, C', T, H', W')."""
    n, c, t, h, w = x.shape
    y = module(x.transpose(1, 2).reshape(n * t, c, h, w))
    return y.reshape(n, t, *y.shape[1:]).transpose(1, 2)


def opengait_init(model: nn.Module) -> None:
    """OpenGait's initialisation (BaseModel.init_parameters): Xavier-uniform convs and linears,
    BatchNorm scale ~ N(1, 0.02); matching it keeps their training recipes valid for ours."""
    for m in model.modules():
        if getattr(getattr(m, "weight", None), "is_meta", False):
            continue   # shape-only models (parameter counting) have no values to set
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def check_lengths(lengths: Tensor | None, n: int, t: int) -> list[int] | None:
    """``lengths`` as a list, or None when every sequence fills all ``t`` frames."""
    if lengths is None:
        return None
    lens = [int(v) for v in lengths.reshape(-1).tolist()]
    if len(lens) != n:
        raise ValueError(f"lengths has {len(lens)} entries for a batch of {n} sequences")
    bad = [v for v in lens if not 1 <= v <= t]
    if bad:
        raise ValueError(f"lengths must lie in [1, {t}] (the padded frame count), got {bad}")
    return None if all(v == t for v in lens) else lens


def pool_by_length(features: Callable[[Tensor], Tensor], x: Tensor, lengths: Tensor | None) -> Tensor:
    """Run ``features`` ((n, T, ...) -> (n, ...), already pooled over time) on equal-length groups.

    Temporal convolutions would mix padded frames into real ones, so masking after the fact
    cannot make a padded batch exact; running each length separately on its unpadded frames can.
    (BatchNorm in training mode then sees per-group statistics; evaluation is exact.)
    """
    lens = check_lengths(lengths, x.shape[0], x.shape[1])
    if lens is None:
        return features(x)
    order, pieces = [], []
    for length in sorted(set(lens)):
        idx = [i for i, v in enumerate(lens) if v == length]
        order += idx
        pieces.append(features(x[torch.tensor(idx, device=x.device), :length]))
    inverse = torch.argsort(torch.tensor(order, device=x.device))
    return torch.cat(pieces)[inverse]


def frames_5d(x: Tensor, channels: int) -> Tensor:
    """(N, T, H, W) or (N, T, C, H, W) -> (N, T, C, H, W), checking the channel count."""
    if x.dim() == 4 and channels == 1:
        x = x.unsqueeze(2)
    if x.dim() != 5 or x.shape[2] != channels:
        want = "(N, T, H, W) or (N, T, 1, H, W)" if channels == 1 else f"(N, T, {channels}, H, W)"
        raise ValueError(f"expected input of shape {want}, got {tuple(x.shape)}")
    return x


def temporal_max(x: Tensor) -> Tensor:
    """(N, C, T, H, W) -> (N, C, H, W)."""
    return x.amax(dim=2)


def sil_and_heatmaps(x: Tensor | Mapping[str, Tensor], heatmap_channels: int = 2) -> Tensor:
    """Either accepted input form -> one (N, T, 1 + heatmap_channels, H, W) tensor, silhouette first."""
    k = 1 + heatmap_channels
    if isinstance(x, Mapping):
        missing = {"sils", "heatmaps"} - set(x)
        if missing:
            raise ValueError(f"SkeletonGait++ input mapping lacks {sorted(missing)} (needs 'sils' and 'heatmaps')")
        sils, maps = x["sils"], x["heatmaps"]
        if sils.dim() == 4:
            sils = sils.unsqueeze(2)
        if sils.dim() != 5 or sils.shape[2] != 1 or maps.dim() != 5 or maps.shape[2] != heatmap_channels:
            raise ValueError(f"expected sils (N, T, H, W) and heatmaps (N, T, {heatmap_channels}, H, W), "
                             f"got {tuple(sils.shape)} and {tuple(maps.shape)}")
        if sils.shape[:2] != maps.shape[:2] or sils.shape[3:] != maps.shape[3:]:
            raise ValueError(f"sils {tuple(sils.shape)} and heatmaps {tuple(maps.shape)} differ in N, T, H or W "
                             f"(crop square heatmaps to the silhouette width first)")
        return torch.cat([sils, maps.to(sils.dtype)], dim=2)
    if x.dim() != 5 or x.shape[2] != k:
        raise ValueError(f"SkeletonGait++ needs (N, T, {k}, H, W) = silhouette + {heatmap_channels} heatmaps, "
                         f"or a mapping with 'sils' and 'heatmaps'; got a tensor of shape {tuple(x.shape)}")
    return x
