"""A 3-D (video) Swin transformer as SwinGait uses it: patch embedding, stages of window
self-attention over (frames x rows x columns) windows with a relative position bias, every second
block on windows shifted by half a window (with the mask that keeps wrapped-around tokens apart),
then a channel expansion or patch merging between stages. Works on (B, C, D, H, W).

Module and buffer names are OpenGait's (patch_embed, layers.i.blocks.j.attn.qkv, ...), so its
checkpoints load by name. Kept on purpose because checkpoints and results depend on them: a window
larger than the input shrinks to the input (and its shift to 0) and then reads the first N x N
entries of the full window's relative-position index; the shift mask labels regions with Python
slices exactly as there (a zero shift makes the last slice cover the whole axis).
"""

from __future__ import annotations

import math
from typing import Sequence as Seq

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fit_window(size: Seq[int], window: Seq[int], shift: Seq[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    w, s = list(window), list(shift)
    for i, n in enumerate(size):
        if n <= window[i]:
            w[i], s[i] = n, 0
    return tuple(w), tuple(s)


def partition(x: Tensor, w: Seq[int]) -> Tensor:
    """(B, D, H, W, C) -> (B * windows, wd * wh * ww, C)."""
    b, d, h, wd, c = x.shape
    x = x.view(b, d // w[0], w[0], h // w[1], w[1], wd // w[2], w[2], c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, w[0] * w[1] * w[2], c)


def merge(windows: Tensor, w: Seq[int], b: int, d: int, h: int, wd: int) -> Tensor:
    x = windows.view(b, d // w[0], h // w[1], wd // w[2], w[0], w[1], w[2], -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, wd, -1)


def shift_mask(d: int, h: int, wd: int, w: Seq[int], s: Seq[int], device: torch.device) -> Tensor:
    """(windows, N, N): 0 within a region, -100 across regions of the cyclically shifted map."""
    labels = torch.zeros((1, d, h, wd, 1), device=device)
    n = 0
    cuts = [(slice(-w[i]), slice(-w[i], -s[i]), slice(-s[i], None)) for i in range(3)]
    for sd in cuts[0]:
        for sh in cuts[1]:
            for sw in cuts[2]:
                labels[:, sd, sh, sw, :] = n
                n += 1
    win = partition(labels, w).squeeze(-1)
    diff = win.unsqueeze(1) - win.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


def _position_index(w: Seq[int]) -> Tensor:
    # On the CPU even when the model is built on the meta device: a constant, not a weight.
    grid = torch.stack(torch.meshgrid(*[torch.arange(n, device="cpu") for n in w], indexing="ij")).flatten(1)
    rel = (grid[:, :, None] - grid[:, None, :]).permute(1, 2, 0)
    rel = rel + torch.tensor([n - 1 for n in w], device="cpu")
    return rel[..., 0] * (2 * w[1] - 1) * (2 * w[2] - 1) + rel[..., 1] * (2 * w[2] - 1) + rel[..., 2]


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: Seq[int], heads: int):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros(math.prod(2 * n - 1 for n in window), heads))
        self.register_buffer("relative_position_index", _position_index(window))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        if not self.relative_position_bias_table.is_meta:
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: Tensor, mask: Tensor | None) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index[:n, :n].reshape(-1)]
        attn = attn + bias.reshape(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(b // nw, nw, self.heads, n, n) + mask.unsqueeze(1).unsqueeze(0)).view(-1, self.heads, n, n)
        return self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


def _drop_path(x: Tensor, p: float, training: bool) -> Tensor:
    """Stochastic depth: drop a sample's whole residual branch with probability ``p`` (training only)."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1 - p)
    return x * keep / (1 - p)


class SwinBlock(nn.Module):
    def __init__(self, dim: int, heads: int, window: Seq[int], shift: Seq[int], drop_path: float, mlp_ratio: float = 4.0):
        super().__init__()
        self.window, self.shift, self.drop_path = tuple(window), tuple(shift), float(drop_path)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _attend(self, x: Tensor, mask: Tensor) -> Tensor:
        b, d, h, wd, c = x.shape
        w, s = fit_window((d, h, wd), self.window, self.shift)
        x = self.norm1(x)
        pads = [(w[i] - n % w[i]) % w[i] for i, n in enumerate((d, h, wd))]
        x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        _, dp, hp, wp, _ = x.shape
        shifted = any(v > 0 for v in s)
        if shifted:
            x = torch.roll(x, shifts=tuple(-v for v in s), dims=(1, 2, 3))
        out = self.attn(partition(x, w), mask if shifted else None)
        x = merge(out.view(-1, *w, c), w, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=s, dims=(1, 2, 3))
        return x[:, :d, :h, :wd].contiguous()

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = x + _drop_path(self._attend(x, mask), self.drop_path, self.training)
        return x + _drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchMerging(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[2] % 2 or x.shape[3] % 2:
            x = F.pad(x, (0, 0, 0, x.shape[3] % 2, 0, x.shape[2] % 2))
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    """``downsample``: 'merge' (patch merging), 'expand' (LayerNorm + linear to twice the channels)
    or 'none'."""

    def __init__(self, dim: int, depth: int, heads: int, window: Seq[int], drop_paths: Seq[float], downsample: str):
        super().__init__()
        self.window = tuple(window)
        self.shift = tuple(n // 2 for n in window)
        self.blocks = nn.ModuleList(SwinBlock(dim, heads, window, (0, 0, 0) if i % 2 == 0 else self.shift,
                                              drop_paths[i]) for i in range(depth))
        self.downsample: nn.Module = {"merge": lambda: PatchMerging(dim), "none": nn.Identity,
                                      "expand": lambda: nn.Sequential(nn.LayerNorm(dim),
                                                                      nn.Linear(dim, 2 * dim, bias=False))}[downsample]()

    def forward(self, x: Tensor) -> Tensor:
        b, c, d, h, wd = x.shape
        w, s = fit_window((d, h, wd), self.window, self.shift)
        mask = shift_mask(*(math.ceil(n / w[i]) * w[i] for i, n in enumerate((d, h, wd))), w, s, x.device)
        x = x.permute(0, 2, 3, 4, 1)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.downsample(x).permute(0, 4, 1, 2, 3)


class PatchEmbed(nn.Module):
    def __init__(self, patch: Seq[int], cin: int, dim: int):
        super().__init__()
        self.patch = tuple(patch)
        self.proj = nn.Conv3d(cin, dim, self.patch, stride=self.patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        d, h, w = x.shape[2:]
        p = self.patch
        x = F.pad(x, (0, (p[2] - w % p[2]) % p[2], 0, (p[1] - h % p[1]) % p[1], 0, (p[0] - d % p[0]) % p[0]))
        x = self.proj(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)


class Swin3D(nn.Module):
    def __init__(self, cin: int, dim: int, depths: Seq[int], heads: Seq[int], window: Seq[int],
                 downsample: Seq[str], patch: Seq[int] = (1, 2, 2), drop_path: float = 0.1, out_dim: int | None = None):
        super().__init__()
        self.patch_embed = PatchEmbed(patch, cin, dim)
        rates = torch.linspace(0, drop_path, sum(depths), device="cpu").tolist()
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            lo = sum(depths[:i])
            self.layers.append(SwinStage(dim * 2 ** i, depth, heads[i], window, rates[lo:lo + depth], downsample[i]))
        self.norm = nn.LayerNorm(out_dim or dim * 2 ** len(depths))

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
