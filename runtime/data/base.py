"""What every reader and the preparation share: the error type, the description of a loaded
dataset (:class:`DataInfo`, :class:`Normalization`) and raw samples before splitting (:class:`Raw`)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

MAX_AUTO_CLASSES = 20  # "auto" task: at most this many distinct integer targets → classes


class DataError(ValueError):
    """Data that cannot be used; the message names the file and the place in it."""


# ---- description ---------------------------------------------------------------------------------


@dataclass
class Normalization:
    """How raw samples become network inputs: ``(x · input_scale − mean) / std``.

    ``axis`` says what ``mean``/``std`` run over: ``feature`` (one value per entry of the last
    sample dimension), ``channel`` (one per channel, the first sample dimension), or ``none``.
    Regression targets are standardized too (``target_mean``/``target_std``); predictions are
    mapped back with :meth:`invert_targets`.
    """

    axis: str = "none"
    input_scale: float = 1.0
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    target_mean: list[float] | None = None
    target_std: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Normalization":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @property
    def is_identity(self) -> bool:
        return self.axis == "none" and self.input_scale == 1.0

    def affine(self, sample_shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(multiply, add)`` tensors broadcasting against a batch ``(N, *sample_shape)``."""
        if self.axis == "none":
            return torch.tensor(self.input_scale), torch.tensor(0.0)
        mean = torch.tensor(self.mean, dtype=torch.float32)
        std = torch.tensor(self.std, dtype=torch.float32)
        if self.axis == "channel":
            view = (-1,) + (1,) * (len(sample_shape) - 1)
            mean, std = mean.view(view), std.view(view)
        return self.input_scale / std, -mean / std

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Raw samples ``(N, *shape)`` (e.g. 8-bit pixels) → normalized float inputs."""
        if self.is_identity:
            return x
        mul, add = self.affine(x.shape[1:])
        return x.float() * mul.to(x.device) + add.to(x.device)

    def invert_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Normalized regression outputs → the data's own units."""
        if self.target_mean is None:
            return y
        mean = torch.tensor(self.target_mean, dtype=y.dtype, device=y.device)
        std = torch.tensor(self.target_std, dtype=y.dtype, device=y.device)
        return y.reshape(y.shape[0], -1) * std + mean


@dataclass
class DataInfo:
    """What the runtime and the app need to know about a loaded dataset."""

    name: str
    task: str  # "classification" or "regression"
    sample_shape: tuple[int, ...]
    x_dtype: str  # "float32" or "int64" (token ids)
    num_classes: int | None
    class_names: list[str]
    target_shape: tuple[int, ...]  # () for class indices, (k,) for k regression targets
    sizes: dict[str, int]  # samples per split: train, val, test
    normalization: Normalization
    source: str  # file or folder read, or a description of a built-in dataset
    streamed: bool = False
    notes: list[str] = field(default_factory=list)  # what the reader detected and skipped

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sample_shape"] = list(self.sample_shape)
        d["target_shape"] = list(self.target_shape)
        d["normalization"] = self.normalization.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DataInfo":
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["sample_shape"] = tuple(d["sample_shape"])
        fields["target_shape"] = tuple(d.get("target_shape", ()))
        fields["normalization"] = Normalization.from_dict(d.get("normalization", {}))
        return cls(**fields)


# ---- raw samples ---------------------------------------------------------------------------------


@dataclass
class Raw:
    """Samples as read, before splitting. ``x`` is None for image folders that stream."""

    x: np.ndarray | None
    y: np.ndarray  # int64 class indices (N,) or float targets (N, k)
    task: str
    class_names: list[str]
    source: str
    kind: str = "float"  # "float", "image8" (8-bit pixels, scaled by 1/255) or "int"
    files: list[Path] | None = None  # image folders that stream
    image: tuple[tuple[int, int], str] | None = None  # (height, width), color
    columns: list[str] = field(default_factory=list)  # feature names of a table
    notes: list[str] = field(default_factory=list)  # what the reader detected and skipped
    fill_missing: bool = False  # NaN features to fill with the training split's column means


def classes_from_labels(labels: Sequence[Any], numeric: bool) -> tuple[np.ndarray, list[str]]:
    """Class indices (sorted order of distinct values) and their names."""
    if numeric:
        values = np.asarray(labels, dtype=np.float64)
        distinct = np.unique(values)
        names = [number_name(v) for v in distinct]
        return np.searchsorted(distinct, values).astype(np.int64), names
    distinct_text = sorted(set(labels))
    index = {name: i for i, name in enumerate(distinct_text)}
    return np.array([index[v] for v in labels], dtype=np.int64), list(distinct_text)


def number_name(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def decide_task(task: str, numeric: bool, values: np.ndarray | None) -> str:
    """``auto``: text, or few distinct whole numbers → classification; else regression."""
    if task != "auto":
        return task
    if not numeric:
        return "classification"
    assert values is not None
    if np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"
