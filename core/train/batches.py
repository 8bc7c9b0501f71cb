"""From batch plans to model-ready batches on the training device, without worker processes.

Three ways to get the frames:
- resident: the training split's frames (uint8, already cut unless an augmentation needs the full
  width) are copied once into device memory; each batch is one index_select there. Used on CUDA
  when they fit ('auto'), or when asked for ('always', also on CPU).
- host: the same copy in host memory, for a GPU too small for the dataset ('auto' when it fits in
  HOST_SHARE of the free RAM, or 'host'). A background thread gathers each batch one ahead.
- read: frames are gathered from the memory-mapped packed array on the host, in a background
  thread one batch ahead, so the step never waits for the disk ('never', or when neither fits).
For host and read on CUDA the thread gathers into pinned memory and queues the copy to the device on
a side stream, so the transfer overlaps the previous step's kernels; the training stream only
waits for that copy's event, never the host. On CPU the same thread and code run without pinning
or streams (what the CPU tests exercise).

Either way the device does the rest on the training thread: uint8 -> float, augmentation
(core.data.transforms), area resize.
For models with pose heatmap channels (SkeletonGait++) each frame row brings its heatmaps along,
stacked behind the silhouette as (B, T, 1 + C, H, W); cut, flips and warps treat the channels
alike, erasing touches the silhouette only, and the resize covers all channels. On CPU that work stays on the training thread too: run
from a second thread, torch's operations would contend with the model's for the same cores
(two OpenMP teams on one machine), which measured slower than doing them in line.
The plan of the next batch is drawn on the calling thread (the sampler's generator is never
shared), and ``state()`` is the sampler state from before the pending batch was drawn: what a
checkpoint must store so that a resume redraws that very batch.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from core.data.transforms import params_to
from core.errors import InputError
from core.train.inputs import resize_frames
from core.train.losses import TripletIndex, triplet_index
from core.train.sampler import BatchPlan, PKSampler

# Frames go to device memory in 'auto' mode only if they take at most this share of what is free,
# else to host memory if they take at most HOST_SHARE of the free RAM (the rest is the page cache's
# and the other processes').
RESIDENT_SHARE = 0.6
HOST_SHARE = 0.5


@dataclass
class Batch:
    x: Tensor                  # (B, T, H, W), or (B, T, 1 + C, H, W) with heatmaps; float in [0, 1], augmented, resized
    labels: Tensor             # (B,) this rank's labels (cross-entropy)
    lengths: Tensor | None     # (B,) real frame counts; None when every sequence has T frames
    loss_labels: Tensor        # labels of the batch all ranks together embed (triplet loss)
    tindex: TripletIndex       # positives/negatives of ``loss_labels``, built on the host


class DeviceFrames:
    """The frames of some dataset rows (with their heatmaps, if asked), copied contiguously into
    one device tensor: (N, H, W) or (N, 1 + C, H, W)."""

    def __init__(self, sampler: PKSampler, device: torch.device, chunk_bytes: int = 64 << 20,
                 heatmaps: bool = False):
        arr, c = sampler.dataset.array, sampler.read_cut
        maps = sampler.dataset.heatmaps if heatmaps else None
        rows = sampler.rows
        lengths = sampler.lengths[rows]
        self.offsets = np.zeros(len(sampler.lengths), np.int64)
        self.offsets[rows] = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.starts = sampler.starts
        h, w = arr.shape[1], arr.shape[2] - 2 * c
        frame = (h, w) if maps is None else (1 + maps.shape[1], h, w)
        self.frames = torch.empty((int(lengths.sum()), *frame), dtype=torch.uint8, device=device)
        per_chunk = max(chunk_bytes // int(np.prod(frame)), 1)
        buf: list[np.ndarray] = []
        filled = pos = 0
        for r, n in zip(rows, lengths):
            s = int(self.starts[r])
            sil = arr[s:s + int(n), :, c:arr.shape[2] - c]
            buf.append(sil if maps is None else
                       np.concatenate([sil[:, None], maps[s:s + int(n), :, :, c:arr.shape[2] - c]], 1))
            filled += int(n)
            if filled >= per_chunk or r == rows[-1]:
                block = torch.from_numpy(np.ascontiguousarray(np.concatenate(buf)))
                self.frames[pos:pos + filled].copy_(block)
                pos, filled, buf = pos + filled, 0, []

    @staticmethod
    def nbytes(sampler: PKSampler, heatmaps: bool = False) -> int:
        arr = sampler.dataset.array
        channels = 1 + (sampler.dataset.heatmap_channels if heatmaps else 0)
        return int(sampler.lengths[sampler.rows].sum()) * arr.shape[1] * (arr.shape[2] - 2 * sampler.read_cut) * channels

    def gather(self, plan: BatchPlan, device: torch.device, pin: bool = False) -> Tensor:
        """The plan's frames; from a host copy, ``pin`` gathers straight into pinned memory."""
        rows = plan.frame_rows - self.starts[plan.seq_rows, None] + self.offsets[plan.seq_rows, None]
        idx = torch.from_numpy(rows.reshape(-1))
        shape = (*rows.shape, *self.frames.shape[1:])
        if self.frames.device.type == "cpu":
            out = torch.empty((idx.numel(), *self.frames.shape[1:]), dtype=torch.uint8, pin_memory=pin)
            return torch.index_select(self.frames, 0, idx, out=out).view(shape)
        return self.frames.index_select(0, _to(idx, device)).view(shape)


def _to(t: Tensor, device: torch.device) -> Tensor:
    # Pinned + non_blocking: the copy is queued on the stream instead of stalling the host.
    return t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t


def wants_resident(mode: str, sampler: PKSampler, device: torch.device, heatmaps: bool = False) -> bool:
    if mode in ("never", "host") or (mode == "auto" and device.type != "cuda"):
        return False
    if mode == "always":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return DeviceFrames.nbytes(sampler, heatmaps) <= RESIDENT_SHARE * free


def free_host_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):    # not a POSIX system: do not guess
        return 0


def placement(mode: str, sampler: PKSampler, device: torch.device, heatmaps: bool = False) -> str:
    """'device', 'host' or 'read' for a ``data_on_device`` setting (see the module docstring)."""
    if wants_resident(mode, sampler, device, heatmaps):
        return "device"
    if mode == "host" or (mode == "auto" and device.type == "cuda"
                          and DeviceFrames.nbytes(sampler, heatmaps) <= HOST_SHARE * free_host_bytes()):
        return "host"
    return "read"


class BatchSource:
    """Model-ready batches one ahead; ``heatmaps`` adds the dataset's pose heatmaps behind each
    silhouette (the dataset must have them: ``PackedDataset.require_heatmaps``)."""

    def __init__(self, sampler: PKSampler, device: torch.device, resize_to: tuple[int, int] | None = None,
                 on_device: str = "auto", rank: int = 0, world: int = 1, heatmaps: bool = False,
                 keypoints: np.ndarray | None = None):
        self.sampler, self.device, self.resize_to = sampler, device, resize_to
        self.rank, self.world = rank, world
        self.heatmaps = bool(heatmaps)
        if self.heatmaps and sampler.dataset.heatmaps is None:
            raise InputError(sampler.dataset.root, f"no pose heatmaps: {sampler.dataset.heatmap_note}")
        # ``keypoints`` (N_frames, V, 3), row for row with the frames: batches are keypoint
        # sequences (B, T, V, 3) instead of frames; a few hundred bytes a frame, so always resident.
        self.keypoints = None if keypoints is None else torch.from_numpy(np.ascontiguousarray(keypoints)).to(device)
        self.placement = "device" if keypoints is not None else placement(on_device, sampler, device, self.heatmaps)
        if keypoints is not None:
            self.store = self.host_store = self.pool = self.copy_stream = None
            self._pending, self._state = None, None
            return
        self.store = DeviceFrames(sampler, device, heatmaps=self.heatmaps) if self.placement == "device" else None
        self.host_store = DeviceFrames(sampler, torch.device("cpu"), heatmaps=self.heatmaps) \
            if self.placement == "host" else None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="batch-loader") if self.store is None else None
        self.copy_stream = torch.cuda.Stream(device) if self.store is None and device.type == "cuda" else None
        self._pending: Any = None
        self._state: dict[str, Any] | None = None

    @property
    def resident(self) -> bool:
        return self.store is not None or self.keypoints is not None

    def state(self) -> dict[str, Any]:
        """Sampler state to checkpoint: from before the batch that ``next()`` will return."""
        return self._state if self._state is not None else self.sampler.state()

    def start(self) -> None:
        if self._pending is None:
            self._draw()

    def next(self) -> Batch:
        self.start()
        kind, plan, payload = self._pending
        if kind == "pose":
            rows = _to(torch.from_numpy(plan.frame_rows.reshape(-1)), self.device)
            x = self.keypoints.index_select(0, rows).view(*plan.frame_rows.shape, *self.keypoints.shape[1:])
            self._draw()
            return self._batch(x, plan, payload)
        if kind == "resident":
            frames, host = self.store.gather(plan, self.device), payload
        else:   # gathered by the loader thread; on CUDA already queued on the side stream
            (frames, copied), host = payload.result()
            if copied is not None:
                stream = torch.cuda.current_stream(self.device)
                stream.wait_event(copied)          # a device-side wait: the host runs on
                frames.record_stream(stream)       # allocated on the side stream, used on this one
        self._draw()
        return self._finish(frames, plan, host)

    def close(self) -> None:
        if self._pending is not None and isinstance(self._pending[2], Future):
            self._pending[2].cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True)

    # -- internals -------------------------------------------------------------------------
    def _draw(self) -> None:
        self._state = self.sampler.state()
        full = self.sampler.plan()
        plan = full.shard(self.rank, self.world)
        host = _host_part(full, self.world)
        if self.keypoints is not None:
            self._pending = ("pose", plan, host)
        elif self.store is not None:
            self._pending = ("resident", plan, host)
        else:
            self._pending = ("read", plan, self.pool.submit(self._read, plan, host))

    def _read(self, plan: BatchPlan, host: dict[str, Any]) -> tuple[tuple[Tensor, Any], dict[str, Any]]:
        pin = self.copy_stream is not None
        if self.host_store is not None:
            t = self.host_store.gather(plan, torch.device("cpu"), pin=pin)
        else:
            frames, _ = self.sampler.load(plan, self.heatmaps)   # numpy only: releases the GIL, no torch threads
            t = torch.from_numpy(frames)
            t = t.pin_memory() if pin else t
        if not pin:
            return (t, None), host
        with torch.cuda.stream(self.copy_stream):
            t = t.to(self.device, non_blocking=True)
            done = torch.cuda.Event()
            done.record(self.copy_stream)
        return (t, done), host

    def _finish(self, frames: Tensor, plan: BatchPlan, host: dict[str, Any]) -> Batch:
        dev = self.device
        x = frames.float().div_(255.0)
        aug = self.sampler.augmenter
        if aug is not None and (aug.pre or aug.post):      # a lone 'cut' already happened while reading
            x = aug.apply(x, params_to(plan.aug, dev), host=plan.aug, erase_channels=1 if self.heatmaps else None)
        return self._batch(resize_frames(x, self.resize_to), plan, host)

    def _batch(self, x: Tensor, plan: BatchPlan, host: dict[str, Any]) -> Batch:
        dev = self.device
        lengths = None if host["fixed"] else _to(torch.from_numpy(plan.lengths), dev)
        tindex = host["tindex"].pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else host["tindex"]
        return Batch(x=x, labels=_to(torch.from_numpy(plan.labels), dev), lengths=lengths,
                     loss_labels=_to(host["loss_labels"], dev), tindex=tindex)


def _host_part(full: BatchPlan, world: int) -> dict[str, Any]:
    """What the losses need that depends only on labels, computed once on the host."""
    loss_labels = full.gathered_labels(world)
    return {"loss_labels": torch.from_numpy(loss_labels), "tindex": triplet_index(loss_labels),
            "fixed": bool((full.lengths == full.frame_rows.shape[1]).all())}
