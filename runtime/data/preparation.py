"""From raw samples to training data: seeded splits, normalization fitted on the training split,
and tensors ready to batch (:func:`load_data`)."""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import torch

from graph.settings import DATA_PARAMS

from .base import DataError, DataInfo, Normalization, Raw
from .batching import LoadedData, StreamSplit, TensorSplit
from .images import DEFAULT_MAX_MEMORY, decode_image
from .sources import read_raw


def split_indices(n: int, labels: np.ndarray | None, val_fraction: float, test_fraction: float,
                  seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/validation/test indices; stratified by class when ``labels`` are given.

    Each sample's position within its class (in a seeded random order) decides its split, so
    every class is shared out in the same proportions.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    position = np.empty(n, dtype=np.float64)
    if labels is None:
        position[order] = (np.arange(n) + 0.5) / n
    else:
        ordered = labels[order]
        for c in np.unique(labels):
            members = order[ordered == c]
            position[members] = (np.arange(len(members)) + 0.5) / len(members)
    part = np.where(position < test_fraction, 2, np.where(position < test_fraction + val_fraction,
                                                          1, 0))
    splits = tuple(order[part[order] == k] for k in range(3))
    return splits  # type: ignore[return-value]


def _moments(x: np.ndarray, axes: tuple[int, ...], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (float64, in chunks to bound memory) of ``x · scale`` over ``axes``."""
    total = 0
    s = s2 = 0.0
    for start in range(0, len(x), 4096):
        chunk = x[start:start + 4096].astype(np.float64) * scale
        chunk_sum = chunk.sum(axis=axes)
        s = s + chunk_sum
        s2 = s2 + (chunk * chunk).sum(axis=axes)
        total += chunk.size // np.size(chunk_sum)
    mean = np.asarray(s) / total
    var = np.maximum(np.asarray(s2) / total - mean * mean, 0.0)
    std = np.sqrt(var)
    return mean, np.where(std < 1e-6, 1.0, std)


def fit_normalization(raw: Raw, train: np.ndarray, normalize: bool,
                      sample_shape: tuple[int, ...]) -> Normalization:
    """Statistics of the training split only: per feature (samples of rank 1–2) or per channel
    (rank 3 and more, such as images)."""
    scale = 1.0 / 255.0 if raw.kind == "image8" else 1.0
    norm = Normalization(input_scale=scale)
    if raw.task == "regression" and normalize:
        y = raw.y[train].astype(np.float64)
        std = y.std(axis=0)
        norm.target_mean = y.mean(axis=0).tolist()
        norm.target_std = np.where(std < 1e-6, 1.0, std).tolist()
    if not normalize or raw.kind == "int":
        return norm
    rank = len(sample_shape)
    if raw.x is None:  # streaming images: estimate from up to 2,000 training images
        pick = train[np.linspace(0, len(train) - 1, min(len(train), 2000)).astype(np.int64)]
        (h, w), color = raw.image  # type: ignore[misc]
        x = np.stack([decode_image(raw.files[i], (h, w), color) for i in pick])  # type: ignore[index]
    else:
        x = raw.x[train]
    if rank <= 2:
        norm.axis = "feature"
        mean, std = _moments(x, tuple(range(x.ndim - 1)), scale)
    else:
        norm.axis = "channel"
        mean, std = _moments(x, (0,) + tuple(range(2, x.ndim)), scale)
    norm.mean, norm.std = mean.reshape(-1).tolist(), std.reshape(-1).tolist()
    return norm


def fill_with_training_means(raw: Raw, train: np.ndarray) -> None:
    """Replace missing (NaN) feature cells by their column's mean over the training split (0
    where the training split has none)."""
    x = raw.x
    means = np.nanmean(np.where(np.isnan(x[train]), np.nan, x[train]), axis=0) if len(train) \
        else np.zeros(x.shape[1:])
    means = np.nan_to_num(means)
    holes = np.isnan(x)
    x[holes] = np.broadcast_to(means, x.shape)[holes]


def data_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """The split/normalize settings of ``data`` with defaults filled in."""
    out = {p.name: p.default for p in DATA_PARAMS}
    out.update({k: data[k] for k in out if k in data})
    return out


def load_data(data: Mapping[str, Any], *, input_dtype: str = "float32",
              base_dir: str | os.PathLike | None = None, max_memory: int = DEFAULT_MAX_MEMORY,
              normalization: Normalization | None = None) -> LoadedData:
    """Read, split and normalize the dataset a design names.

    ``input_dtype`` is the design's Input dtype (``int64`` keeps whole-number samples as token
    ids). ``normalization`` replaces the fitted statistics (evaluating a saved run uses its own).
    """
    settings = data_settings(data)
    raw = read_raw(data, base_dir, max_memory)
    n = len(raw.y)
    if raw.x is not None:
        sample_shape = tuple(int(d) for d in raw.x.shape[1:])
    else:
        (h, w), color = raw.image  # type: ignore[misc]
        sample_shape = (1 if color == "grayscale" else 3, h, w)
    if input_dtype == "int64":
        if raw.kind == "float" and raw.x is not None and not np.all(np.mod(raw.x, 1) == 0):
            raise DataError(f"{raw.source}: the network's Input takes whole-number token ids "
                            "(int64), but the samples hold fractions")
        raw.kind = "int"
    train, val, test = split_indices(
        n, raw.y if raw.task == "classification" else None, settings["val_fraction"],
        settings["test_fraction"], settings["split_seed"])
    if len(train) == 0:
        raise DataError(f"{raw.source}: {n} samples leave none for training with "
                        f"val_fraction={settings['val_fraction']} and "
                        f"test_fraction={settings['test_fraction']}")
    if raw.fill_missing:
        fill_with_training_means(raw, train)
    norm = normalization or fit_normalization(raw, train, settings["normalize"], sample_shape)
    info = DataInfo(
        name=str(data.get("name")), task=raw.task, sample_shape=sample_shape,
        x_dtype="int64" if raw.kind == "int" else "float32",
        num_classes=len(raw.class_names) if raw.task == "classification" else None,
        class_names=list(raw.class_names),
        target_shape=() if raw.task == "classification" else tuple(raw.y.shape[1:]),
        sizes={"train": len(train), "val": len(val), "test": len(test)},
        normalization=norm, source=raw.source, streamed=raw.x is None, notes=list(raw.notes))
    y_all = raw.y
    if raw.task == "regression" and norm.target_mean is not None:
        y_all = ((raw.y - np.asarray(norm.target_mean, np.float32))
                 / np.asarray(norm.target_std, np.float32)).astype(np.float32)
    y_tensor = torch.from_numpy(np.ascontiguousarray(y_all))

    if raw.x is None:
        (h, w), color = raw.image  # type: ignore[misc]
        splits = [StreamSplit([raw.files[i] for i in idx], raw.y[idx], (h, w), color, norm)  # type: ignore[index]
                  for idx in (train, val, test)]
        return LoadedData(info, *splits)

    if raw.kind == "int":
        x_all = torch.from_numpy(np.ascontiguousarray(raw.x)).long()
        per_batch = None
    elif raw.kind == "image8":
        x_all = torch.from_numpy(np.ascontiguousarray(raw.x))
        per_batch = norm
    else:
        x_all = norm.apply(torch.from_numpy(np.ascontiguousarray(raw.x, dtype=np.float32)))
        x_all = x_all.float().contiguous()
        per_batch = None

    def part(idx: np.ndarray) -> TensorSplit:
        t = torch.from_numpy(idx)
        return TensorSplit(x_all[t].contiguous(), y_tensor[t].contiguous(), per_batch)

    return LoadedData(info, part(train), part(val), part(test))
