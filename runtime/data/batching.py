"""Batches for training and evaluation: a seeded, rank-aware sample order, splits held as tensors
(batched by index, no ``DataLoader``) and image splits streamed from disk by workers."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from .base import DataError, DataInfo, Normalization
from .images import decode_image


class IndexSampler:
    """Sample order for one split: a fresh permutation per epoch, seeded by ``(seed, epoch)``.

    The order depends only on the seed and the epoch, so a resumed run sees the very same
    batches. With ``world_size > 1`` each rank takes every ``world_size``-th sample of the order
    (padded so every rank gets as many), as ``torch.utils.data.DistributedSampler`` does.
    """

    def __init__(self, n: int, shuffle: bool = True, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size

    @property
    def num_samples(self) -> int:
        return math.ceil(self.n / self.world_size)

    def order(self, epoch: int) -> torch.Tensor:
        if self.shuffle:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2 ** 63))
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        if self.world_size > 1:
            total = self.num_samples * self.world_size
            if total > self.n:
                order = torch.cat([order, order[: total - self.n]])
            order = order[self.rank::self.world_size]
        return order

    def num_batches(self, batch_size: int) -> int:
        """Batches per epoch; a final batch of a single sample is dropped (BatchNorm cannot
        train on one sample)."""
        full, rest = divmod(self.num_samples, batch_size)
        return max(1, full + (1 if rest > 1 else 0))


CHUNK_BYTES = 4 << 20  # inputs gathered at once by TensorSplit.batches


class TensorSplit:
    """A split held in memory as tensors and batched by index (no ``DataLoader``).

    ``x`` keeps the stored form (normalized float32, int64 token ids, or 8-bit pixels that
    :attr:`normalization` turns into normalized floats per batch, on the device).
    """

    streamed = False

    def __init__(self, x: torch.Tensor, y: torch.Tensor, normalization: Normalization | None = None):
        self.x, self.y = x, y
        self.normalization = normalization
        self._affine: tuple[torch.Tensor, torch.Tensor] | None = None
        if normalization is not None:
            mul, add = normalization.affine(x.shape[1:])
            self._affine = (mul.to(x.device), add.to(x.device))

    def __len__(self) -> int:
        return len(self.y)

    @property
    def device(self) -> torch.device:
        return self.x.device

    def to(self, device: torch.device | str) -> "TensorSplit":
        device = torch.device(device)
        if self.x.device == device:
            return self
        return TensorSplit(self.x.to(device), self.y.to(device), self.normalization)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self._affine is None:
            return x
        return x.float() * self._affine[0] + self._affine[1]

    def take(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._prepare(self.x.index_select(0, idx)), self.y.index_select(0, idx)

    def batches(self, order: torch.Tensor, batch_size: int, num_batches: int,
                start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches ``start … num_batches−1`` of ``order`` (indices of this split).

        Several batches are gathered (and normalized) at once, up to :data:`CHUNK_BYTES` of
        inputs, and handed out as views: per batch that saves the gather and normalization
        kernels' fixed cost; the values are the same as batch by batch."""
        order = order.to(self.device, non_blocking=True)
        sample_bytes = 4 * max(1, self.x[0].numel()) if len(self.x) else 4
        per_chunk = max(1, CHUNK_BYTES // (batch_size * sample_bytes))
        for first in range(start, num_batches, per_chunk):
            stop = min(num_batches, first + per_chunk)
            x, y = self.take(order[first * batch_size:stop * batch_size])
            for b in range(0, len(y), batch_size):
                yield x[b:b + batch_size], y[b:b + batch_size]

    def sequential(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once, in order (for evaluation)."""
        for i in range(0, len(self), batch_size):
            yield self._prepare(self.x[i:i + batch_size]), self.y[i:i + batch_size]


class ImageFiles(torch.utils.data.Dataset):
    """Decodes images on demand (in ``DataLoader`` workers) as 8-bit tensors."""

    def __init__(self, files: Sequence[Path], labels: np.ndarray, size: tuple[int, int], color: str):
        self.files, self.labels, self.size, self.color = list(files), labels, size, color

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(decode_image(self.files[i], self.size, self.color)), int(self.labels[i])


class StreamSplit:
    """An image-folder split too large for memory: decoded by ``DataLoader`` workers."""

    streamed = True

    def __init__(self, files: Sequence[Path], labels: np.ndarray, size: tuple[int, int], color: str,
                 normalization: Normalization, device: torch.device | str = "cpu",
                 num_workers: int | None = None):
        self.dataset = ImageFiles(files, labels, size, color)
        self.normalization = normalization
        self._device = torch.device(device)
        self.num_workers = min(4, os.cpu_count() or 1) if num_workers is None else num_workers
        channels = 1 if color == "grayscale" else 3
        mul, add = normalization.affine((channels, *size))
        self._affine = (mul.to(self._device), add.to(self._device))

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: torch.device | str) -> "StreamSplit":
        out = StreamSplit.__new__(StreamSplit)
        out.__dict__.update(self.__dict__)
        out._device = torch.device(device)
        out._affine = (self._affine[0].to(device), self._affine[1].to(device))
        return out

    def _loader(self, batches: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=batches, num_workers=self.num_workers,
            pin_memory=self._device.type == "cuda")
        try:
            for x, y in loader:
                x = x.to(self._device, non_blocking=True)
                yield x.float() * self._affine[0] + self._affine[1], y.to(self._device,
                                                                          non_blocking=True)
        except DataError:
            raise
        except Exception as exc:  # a worker's DataError arrives re-wrapped with its traceback
            match = re.search(r"DataError: (.+?)\s*$", str(exc), flags=re.S)
            if match:
                raise DataError(match.group(1).strip().splitlines()[-1]) from None
            raise

    def batches(self, order: torch.Tensor, batch_size: int, num_batches: int,
                start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx = order.tolist()
        yield from self._loader([idx[b * batch_size:(b + 1) * batch_size]
                                 for b in range(start, num_batches)])

    def sequential(self, batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self)
        yield from self._loader([list(range(i, min(n, i + batch_size)))
                                 for i in range(0, n, batch_size)])


Split = TensorSplit | StreamSplit


@dataclass
class LoadedData:
    info: DataInfo
    train: Split
    val: Split
    test: Split

    def split(self, name: str) -> Split:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def to(self, device: torch.device | str) -> "LoadedData":
        """The same data with every in-memory split moved to ``device`` (once)."""
        return LoadedData(self.info, self.train.to(device), self.val.to(device),
                          self.test.to(device))
