"""Tabular files: CSV (:mod:`.csvfile`, re-exported here) and NumPy ``.npz`` archives (no
pickle)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DataError, Raw, classes_from_labels, decide_task
from .csvfile import csv_columns, load_csv  # noqa: F401  (re-exported)


def _targets_from_array(y: np.ndarray, task: str, path: Path) -> tuple[np.ndarray, str, list[str]]:
    if y.dtype.kind in "US":
        if task == "regression":
            raise DataError(f"{path}: y holds text, but the task is regression")
        if y.ndim != 1:
            raise DataError(f"{path}: text labels in y must be one per sample (y has shape "
                            f"{y.shape})")
        labels, names = classes_from_labels([str(v) for v in y], numeric=False)
        return labels, "classification", names
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: y has element type {y.dtype}, expected numbers or text")
    values = y.astype(np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values.reshape(len(values), -1)))[0][0])
        raise DataError(f"{path}: y[{bad}] is NaN or infinite")
    decided = decide_task(task, True, values) if y.ndim == 1 else (
        "regression" if task == "auto" else task)
    if decided == "classification":
        if y.ndim != 1:
            raise DataError(f"{path}: class labels in y must be one per sample (y has shape "
                            f"{y.shape})")
        labels, names = classes_from_labels(values, numeric=True)
        return labels, "classification", names
    return values.astype(np.float32).reshape(len(values), -1), "regression", []


def load_npz(path: Path, task: str = "auto") -> Raw:
    """A ``.npz`` holding arrays ``x`` (samples first) and ``y``; pickled objects are refused."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a .npz file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if magic[:2] != b"PK":
        raise DataError(f"{path}: not a readable .npz file (a .npz is a zip of arrays, as "
                        "numpy.savez writes; save x and y with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = list(f.keys())
            missing = [k for k in ("x", "y") if k not in keys]
            if missing:
                raise DataError(f"{path}: no array named {' or '.join(missing)} (the file holds: "
                                f"{', '.join(keys) or 'nothing'})")
            x, y = f["x"], f["y"]
    except DataError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(f"{path}: holds Python objects; only plain arrays of numbers or text "
                            "can be read (pickle is never loaded)") from None
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    except Exception as exc:  # zipfile.BadZipFile and friends
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if x.ndim < 2:
        raise DataError(f"{path}: x must hold samples along its first axis with at least one "
                        f"feature (x has shape {x.shape})")
    if len(x) != len(y):
        raise DataError(f"{path}: x has {len(x)} samples but y has {len(y)}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x has element type {x.dtype}, expected numbers")
    kind = "int" if x.dtype.kind in "biu" else "float"
    if kind == "float":
        finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
        if not finite.all():
            raise DataError(f"{path}: x[{int(np.argmin(finite))}] holds NaN or infinite values")
    labels, decided, names = _targets_from_array(y, task, path)
    return Raw(x, labels, decided, names, str(path), kind=kind)
