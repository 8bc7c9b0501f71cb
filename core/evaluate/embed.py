"""Embedding every frame of each sequence with a trained model (no frame sampling at test time).

Models with pose heatmap channels (SkeletonGait++: ``heatmap_channels`` > 0) get each frame's
heatmaps stacked behind its silhouette, (N, T, 1 + C, H, W), cut and resized like the silhouette
exactly as in training.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from core.data.packed import PackedDataset
from core.train.inputs import cut_frames, to_model_input


def _length_batches(dataset: PackedDataset, rows: list[int], max_frames: int) -> list[list[int]]:
    """Sequences of equal length share a batch (no padding needed) up to ``max_frames`` frames."""
    by_len: dict[int, list[int]] = defaultdict(list)
    for r in rows:
        by_len[dataset.entries[r].length].append(r)
    batches = []
    for length, group in sorted(by_len.items()):
        per = max(1, max_frames // max(length, 1))
        batches += [group[s:s + per] for s in range(0, len(group), per)]
    return batches


@torch.no_grad()
def extract_embeddings(model: nn.Module, dataset: PackedDataset, indices: Iterable[int],
                       device: str | torch.device = "cpu", *, resize_to: tuple[int, int] | None = None,
                       max_frames: int = 1024, autocast_dtype: torch.dtype | None = None,
                       progress: Callable[[int, int], Any] | None = None) -> dict[str, Any]:
    """Embeddings (n, C, P) float32 in the order of ``indices`` plus labels/types/views/rows.

    Empty sequences have nothing to embed and are left out; ``rows`` says which ones remain.
    The model is put in eval mode and left there. A model with ``heatmap_channels`` needs a
    dataset with pose heatmaps (ConfigError naming the dataset otherwise).
    """
    device = torch.device(device)
    channels = int(getattr(model, "heatmap_channels", 0) or 0)
    if channels:
        dataset.require_heatmaps(channels, type(model).__name__)
    rows = [int(i) for i in indices if dataset.entries[int(i)].length > 0]
    keypoints = None
    if getattr(model, "input_kind", "") == "pose":     # skeleton-only models (GaitGraph2, GaitTR)
        from core.train.keypoints import dataset_keypoints

        keypoints = dataset_keypoints(dataset, rows, type(model).__name__, getattr(model, "fill_empty_joints", True))
    model.eval()
    out: dict[int, np.ndarray] = {}
    # max_frames bounds memory; frames with heatmaps weigh 1 + C silhouettes.
    batches = _length_batches(dataset, rows, max(1, max_frames // (1 + channels)))
    done = 0
    for batch in batches:
        if keypoints is not None:
            e = [dataset.entries[r] for r in batch]
            x = torch.from_numpy(np.stack([keypoints[s.start:s.start + s.length] for s in e])).to(device)
        else:
            x = _frames(dataset, batch, channels, device, resize_to)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            emb = model(x)["embeddings"]
        emb = emb.float().cpu().numpy()
        for r, e in zip(batch, emb):
            out[r] = e
        done += len(batch)
        if progress:
            progress(done, len(rows))
    return _arrays(dataset, rows, out)


def _frames(dataset: PackedDataset, batch: list[int], channels: int, device: torch.device,
            resize_to: tuple[int, int] | None) -> torch.Tensor:
    frames = np.stack([cut_frames(dataset.frames(r)) for r in batch])
    if channels:
        maps = np.stack([cut_frames(dataset.heatmap_frames(r)) for r in batch])      # (N, T, C, H, W')
        frames = np.concatenate([frames[:, :, None], maps], axis=2)
    return to_model_input(torch.from_numpy(frames).to(device), resize_to)


def _arrays(dataset: PackedDataset, rows: list[int], out: dict[int, np.ndarray]) -> dict[str, Any]:
    seqs = [dataset.entries[r].sequence for r in rows]
    first = next(iter(out.values()), None)
    shape = first.shape if first is not None else (0, 0)
    return {
        "embeddings": np.stack([out[r] for r in rows]).astype(np.float32) if rows else np.zeros((0, *shape), np.float32),
        "labels": np.array([s.sid for s in seqs], dtype=str),
        "types": np.array([s.seq_type for s in seqs], dtype=str),
        "views": np.array([s.view for s in seqs], dtype=str),
        "roles": np.array([s.split for s in seqs], dtype=str),
        "cameras": np.array([s.camera for s in seqs], dtype=str),
        "clothes": np.array([s.clothes for s in seqs], dtype=str),
        "seqs": np.array([s.seq for s in seqs], dtype=str),
        "rows": np.array(rows, dtype=np.int64),
    }
