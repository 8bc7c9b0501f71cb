"""P x K identity batches with a fixed number of unordered frames per sequence.

All randomness comes from one numpy Generator whose state can be saved and restored, so a
resumed run draws exactly the batches an uninterrupted one would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.data.packed import PackedDataset
from core.errors import InputError
from core.train.inputs import side_cut


@dataclass
class BatchPlan:
    """What one batch is made of: dataset rows, their labels and the absolute frame rows to read."""

    seq_rows: np.ndarray      # (B,)
    labels: np.ndarray        # (B,) int64 class ids
    frame_rows: np.ndarray    # (B, frames) indices into the packed frame array


class PKSampler:
    """Draws P identities (without replacement) and K sequences of each (with replacement only
    when an identity has fewer than K), then ``frames`` frames of each sequence."""

    def __init__(self, dataset: PackedDataset, batch_ids: int, batch_seqs: int, frames: int,
                 seed: int = 0, split: str = "train"):
        rows = [i for i in dataset.indices(split) if dataset.entries[i].length > 0]
        if not rows:
            raise InputError(dataset.root, f"no non-empty sequences in split {split!r} to train on")
        self.dataset = dataset
        self.classes = sorted({dataset.entries[i].sequence.sid for i in rows})
        class_of = {sid: k for k, sid in enumerate(self.classes)}
        self.rows_by_class = [np.array([i for i in rows if class_of[dataset.entries[i].sequence.sid] == k], np.int64)
                              for k in range(len(self.classes))]
        # A dataset with fewer identities than P still trains, with every identity in each batch.
        self.batch_ids = min(int(batch_ids), len(self.classes))
        self.batch_seqs, self.frames = int(batch_seqs), int(frames)
        self.starts = np.array([e.start for e in dataset.entries], np.int64)
        self.lengths = np.array([e.length for e in dataset.entries], np.int64)
        self.rng = np.random.Generator(np.random.PCG64(seed))

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def state(self) -> dict[str, Any]:
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state

    def plan(self) -> BatchPlan:
        rng = self.rng
        ids = rng.choice(self.num_classes, self.batch_ids, replace=False)
        seq_rows, labels = [], []
        for k in ids:
            pool = self.rows_by_class[k]
            seq_rows.append(rng.choice(pool, self.batch_seqs, replace=len(pool) < self.batch_seqs))
            labels.append(np.full(self.batch_seqs, k, np.int64))
        seq_rows_a = np.concatenate(seq_rows)
        frame_rows = np.empty((len(seq_rows_a), self.frames), np.int64)
        for j, r in enumerate(seq_rows_a):
            n = self.lengths[r]
            # Sorted picks read the memmap front to back; order is irrelevant to set pooling.
            frame_rows[j] = self.starts[r] + np.sort(rng.choice(n, self.frames, replace=n < self.frames))
        return BatchPlan(seq_rows_a, np.concatenate(labels), frame_rows)

    def load(self, plan: BatchPlan) -> tuple[np.ndarray, np.ndarray]:
        """Read a plan's frames: (B, frames, H, W - 2*cut) uint8 and (B,) labels, one fancy index."""
        arr = self.dataset.array
        c = side_cut(arr.shape[2])
        # One mixed fancy/slice index: a single copy straight from the memmap, already cut.
        frames = np.asarray(arr[plan.frame_rows.ravel(), :, c:arr.shape[2] - c])
        return frames.reshape(*plan.frame_rows.shape, *frames.shape[1:]), plan.labels

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next collated batch: uint8 (P*K, frames, H, W') and int64 labels (P*K,)."""
        frames, labels = self.load(self.plan())
        return torch.from_numpy(frames), torch.from_numpy(labels)
