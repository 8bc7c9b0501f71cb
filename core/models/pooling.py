"""Set (temporal) pooling and horizontal pyramid pooling over per-frame feature maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def set_max_pool(x: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Max over frames of (N, T, C, H, W) -> (N, C, H, W); padded frames beyond ``lengths`` are ignored.

    Max is order-invariant, which is what lets training sample frames as an unordered set.
    """
    if lengths is not None:
        t = torch.arange(x.shape[1], device=x.device)
        pad = (t[None, :] >= lengths.to(x.device)[:, None])[:, :, None, None, None]
        x = x.masked_fill(pad, float("-inf"))
    return x.amax(dim=1)


def horizontal_pyramid_pool(x: Tensor, parts: int) -> Tensor:
    """(N, C, H, W) -> (N, C, parts): mean + max over each horizontal strip.

    Adaptive pooling equals an exact split when H is a multiple of ``parts`` and still works
    (with overlapping strips) at the reduced resolutions of CPU presets.
    """
    avg = F.adaptive_avg_pool2d(x, (parts, 1))
    mx = F.adaptive_max_pool2d(x, (parts, 1))
    return (avg + mx).squeeze(-1)
