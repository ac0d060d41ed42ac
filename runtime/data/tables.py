"""Tabular files: CSV/TSV with a header row and NumPy ``.npz`` archives (no pickle)."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from .base import DataError, Raw, classes_from_labels, decide_task


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _parse_number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value


def read_csv_table(path: Path) -> tuple[int, list[str], list[tuple[int, list[str]]]]:
    """The one CSV reader (training, previews and the column picker all use it): the
    delimiter sniffed among ``, ; tab |``; returns the header's line number, the column names
    and the non-blank data rows with their line numbers."""
    text = _read_text(path)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        if row and any(cell.strip() for cell in row):
            rows.append((reader.line_num, row))
    if not rows:
        raise DataError(f"{path}: the file is empty")
    header_line, header = rows[0]
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise DataError(f"{path}: line {header_line}: the column name {dup!r} appears twice")
    return header_line, header, rows[1:]


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV/TSV file, read as training reads them."""
    return read_csv_table(Path(path))[1]


def load_csv(path: Path, target: str = "", features: str = "", task: str = "auto") -> Raw:
    """A CSV file with a header row. Feature cells must be numbers; target cells may be text
    (each distinct text is a class)."""
    _, header, data = read_csv_table(path)
    if not data:
        raise DataError(f"{path}: has a header but no data rows")
    columns = {name: i for i, name in enumerate(header)}
    target = target.strip() or header[-1]
    if target not in columns:
        raise DataError(f"{path}: no column {target!r} (columns: {', '.join(header)})")
    if features.strip():
        feature_names = [f.strip() for f in features.split(",") if f.strip()]
        for f in feature_names:
            if f not in columns:
                raise DataError(f"{path}: no feature column {f!r} (columns: {', '.join(header)})")
        if target in feature_names:
            raise DataError(f"{path}: the target column {target!r} cannot also be a feature")
    else:
        feature_names = [h for h in header if h != target]
    if not feature_names:
        raise DataError(f"{path}: no feature columns besides the target {target!r}")
    feature_idx = [columns[f] for f in feature_names]
    t_idx = columns[target]
    x = np.empty((len(data), len(feature_idx)), dtype=np.float32)
    targets: list[str] = []
    for r, (line, row) in enumerate(data):
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} values but the header has "
                            f"{len(header)} columns")
        for c, i in enumerate(feature_idx):
            cell = row[i].strip()
            value = _parse_number(cell)
            if value is None or not math.isfinite(value):
                what = "is empty" if not cell else (
                    f"{cell!r} is not a number" if value is None else f"{cell!r} is not finite")
                raise DataError(f"{path}: line {line}, column {feature_names[c]!r}: {what} "
                                "(feature columns must hold numbers)")
            x[r, c] = value
        cell = row[t_idx].strip()
        if not cell:
            raise DataError(f"{path}: line {line}, column {target!r}: the target is empty")
        targets.append(cell)
    numbers = [_parse_number(t) for t in targets]
    numeric = all(v is not None and math.isfinite(v) for v in numbers)
    decided = decide_task(task, numeric, np.asarray(numbers, np.float64) if numeric else None)
    if decided == "regression":
        if not numeric:
            r = next(i for i, v in enumerate(numbers) if v is None or not math.isfinite(v))
            raise DataError(f"{path}: line {data[r][0]}, column {target!r}: {targets[r]!r} is "
                            "not a number, but the task is regression")
        y = np.asarray(numbers, np.float32).reshape(-1, 1)
        return Raw(x, y, "regression", [], str(path))
    labels, names = classes_from_labels(numbers if numeric else targets, numeric)
    return Raw(x, labels, "classification", names, str(path))


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
