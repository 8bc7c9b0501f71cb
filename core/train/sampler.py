"""P x K identity batches: which sequences, which of their frames, and each one's augmentation.

All randomness comes from one numpy Generator whose state can be saved and restored, so a
resumed run draws exactly the batches an uninterrupted one would have drawn. Every DDP rank
draws the same global plan from the same seed and keeps its own share of it (``shard``), so
ranks agree without exchanging anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from core.data.frame_sampling import sample_batch
from core.data.packed import PackedDataset
from core.data.transforms import Augmenter
from core.errors import InputError
from core.train.config import SamplingConfig
from core.train.inputs import side_cut


@dataclass
class BatchPlan:
    """What one batch is made of: dataset rows, their labels, the frames to read and the augmentation."""

    seq_rows: np.ndarray      # (B,)
    labels: np.ndarray        # (B,) int64 class ids
    frame_rows: np.ndarray    # (B, T) indices into the packed frame array (short sequences padded by cycling)
    lengths: np.ndarray       # (B,) how many of the T frames are real
    aug: dict[str, np.ndarray] = field(default_factory=dict)   # per-sequence random choices (first axis B)

    def shard(self, rank: int, world: int) -> "BatchPlan":
        """Every ``world``-th sequence starting at ``rank`` (OpenGait's interleaved split)."""
        if world == 1:
            return self
        idx = np.arange(rank, len(self.seq_rows), world)
        return replace(self, seq_rows=self.seq_rows[idx], labels=self.labels[idx], frame_rows=self.frame_rows[idx],
                       lengths=self.lengths[idx], aug={k: v[idx] for k, v in self.aug.items()})

    def gathered_labels(self, world: int) -> np.ndarray:
        """Labels in the order an all-gather of the shards concatenates them (rank 0's first)."""
        return np.concatenate([self.labels[r::world] for r in range(world)]) if world > 1 else self.labels


class PKSampler:
    """Draws P identities (without replacement) and K sequences of each (with replacement only
    when an identity has fewer than K), then each sequence's frames as ``sampling`` says."""

    def __init__(self, dataset: PackedDataset, batch_ids: int, batch_seqs: int, frames: int = 30,
                 seed: int = 0, split: str = "train", sampling: SamplingConfig | None = None,
                 augmenter: Augmenter | None = None, use_variants: bool = True, common_batch: int = 0):
        rows = [i for i in dataset.indices(split) if dataset.entries[i].length > 0
                and (use_variants or not dataset.entries[i].sequence.origin)]
        if not rows:
            raise InputError(dataset.root, f"no non-empty sequences in split {split!r} to train on")
        self.dataset = dataset
        self.rows = np.array(rows, np.int64)
        self.classes = sorted({dataset.entries[i].sequence.sid for i in rows})
        class_of = {sid: k for k, sid in enumerate(self.classes)}
        self.rows_by_class = [np.array([i for i in rows if class_of[dataset.entries[i].sequence.sid] == k], np.int64)
                              for k in range(len(self.classes))]
        # A dataset with fewer identities than P still trains, with every identity in each batch.
        self.batch_ids = min(int(batch_ids), len(self.classes))
        self.batch_seqs = int(batch_seqs)
        self.sampling = sampling or SamplingConfig(frames=int(frames))
        self.augmenter = augmenter
        self.starts = np.array([e.start for e in dataset.entries], np.int64)
        self.lengths = np.array([e.length for e in dataset.entries], np.int64)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        # OpenGait's CommonSampler: batches of this many sequences drawn from all of them, without
        # replacement (with it when there are fewer), whatever their identities.
        self.common_batch = int(common_batch)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def batch_size(self) -> int:
        return self.common_batch or self.batch_ids * self.batch_seqs

    @property
    def read_cut(self) -> int:
        """Columns per side dropped while reading (the augmenter may need full-width frames)."""
        return self.augmenter.read_cut if self.augmenter else side_cut(self.dataset.array.shape[2])

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def plan(self) -> BatchPlan:
        rng = self.rng
        if self.common_batch:
            seq_rows_a = rng.choice(self.rows, self.common_batch, replace=len(self.rows) < self.common_batch)
            class_of = {sid: k for k, sid in enumerate(self.classes)}
            labels = [np.array([class_of[self.dataset.entries[i].sequence.sid] for i in seq_rows_a], np.int64)]
        else:
            ids = rng.choice(self.num_classes, self.batch_ids, replace=False)
            seq_rows, labels = [], []
            for k in ids:
                pool = self.rows_by_class[k]
                seq_rows.append(rng.choice(pool, self.batch_seqs, replace=len(pool) < self.batch_seqs))
                labels.append(np.full(self.batch_seqs, k, np.int64))
            seq_rows_a = np.concatenate(seq_rows)
        rel, counts = sample_batch(rng, self.sampling, self.lengths[seq_rows_a])
        aug = self.augmenter.draw(rng, len(seq_rows_a), rel.shape[1]) if self.augmenter else {}
        return BatchPlan(seq_rows_a, np.concatenate(labels), self.starts[seq_rows_a, None] + rel, counts, aug)

    def load(self, plan: BatchPlan, heatmaps: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Read a plan's frames: (B, T, H, W - 2*read_cut) uint8 and (B,) labels, one fancy index.

        With ``heatmaps`` the same rows of the dataset's pose heatmaps come along, stacked behind
        the silhouette: (B, T, 1 + C, H, W - 2*read_cut).
        """
        arr = self.dataset.array
        c = self.read_cut
        rows = plan.frame_rows.ravel()
        # One mixed fancy/slice index: a single copy straight from the memmap, already cut.
        frames = np.asarray(arr[rows, :, c:arr.shape[2] - c])
        if heatmaps:
            maps = self.dataset.heatmaps
            if maps is None:
                raise InputError(self.dataset.root, f"no pose heatmaps: {self.dataset.heatmap_note}")
            out = np.empty((len(rows), 1 + maps.shape[1], *frames.shape[1:]), np.uint8)
            out[:, 0] = frames
            out[:, 1:] = maps[rows, :, :, c:arr.shape[2] - c]
            frames = out
        return frames.reshape(*plan.frame_rows.shape, *frames.shape[1:]), plan.labels

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next collated batch, without augmentation: uint8 (P*K, T, H, W') and int64 labels (P*K,)."""
        frames, labels = self.load(self.plan())
        return torch.from_numpy(frames), torch.from_numpy(labels)
