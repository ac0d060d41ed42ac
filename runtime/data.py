"""Datasets: load, split, normalize and batch.

Every dataset declared in :data:`graph.settings.DATASETS` loads here:

* built-in (scikit-learn, nothing downloaded): digits, iris, wine, breast_cancer, diabetes;
* synthetic, from a seed: moons, circles, spirals, xor, sine;
* user files: CSV, NumPy ``.npz`` (read with ``allow_pickle=False``), image folders
  (``root/<class>/*.png|jpg``) and MNIST-style IDX files.

A problem with the data raises :class:`DataError` naming the place (file, line, column, sample).
:func:`load_data` returns a :class:`LoadedData`: a :class:`DataInfo` describing the samples
(shape, task, classes, normalization) and train/validation/test splits. Samples that fit in
memory are kept as tensors (moved once to the training device) and batched by index, without a
``DataLoader``; large image folders stream from disk through a ``DataLoader`` with workers.
Normalization statistics are fitted on the training split only.
"""
from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch

from graph.settings import DATA_PARAMS, DATASETS

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
MAX_AUTO_CLASSES = 20  # "auto" task: at most this many distinct integer targets → classes
DEFAULT_MAX_MEMORY = 1 << 30  # image folders larger than this (decoded) stream from disk


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


def _classes_from_labels(labels: Sequence[Any], numeric: bool) -> tuple[np.ndarray, list[str]]:
    """Class indices (sorted order of distinct values) and their names."""
    if numeric:
        values = np.asarray(labels, dtype=np.float64)
        distinct = np.unique(values)
        names = [_number_name(v) for v in distinct]
        return np.searchsorted(distinct, values).astype(np.int64), names
    distinct_text = sorted(set(labels))
    index = {name: i for i, name in enumerate(distinct_text)}
    return np.array([index[v] for v in labels], dtype=np.int64), list(distinct_text)


def _number_name(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _decide_task(task: str, numeric: bool, values: np.ndarray | None) -> str:
    """``auto``: text, or few distinct whole numbers → classification; else regression."""
    if task != "auto":
        return task
    if not numeric:
        return "classification"
    assert values is not None
    if np.all(np.mod(values, 1) == 0) and len(np.unique(values)) <= MAX_AUTO_CLASSES:
        return "classification"
    return "regression"


def _builtin(name: str, options: Mapping[str, Any]) -> Raw:
    from sklearn import datasets as skd

    loader = {"digits": skd.load_digits, "iris": skd.load_iris, "wine": skd.load_wine,
              "breast_cancer": skd.load_breast_cancer, "diabetes": skd.load_diabetes}[name]
    bunch = loader()
    x = np.asarray(bunch.data, dtype=np.float32)
    source = f"scikit-learn {name}"
    if name == "diabetes":
        return Raw(x, np.asarray(bunch.target, dtype=np.float32).reshape(-1, 1), "regression", [],
                   source)
    if name == "digits" and options.get("as_images", True):
        x = x.reshape(-1, 1, 8, 8)
    names = [str(n) for n in bunch.target_names]
    return Raw(x, np.asarray(bunch.target, dtype=np.int64), "classification", names, source)


def _synthetic(name: str, o: Mapping[str, Any]) -> Raw:
    from sklearn import datasets as skd

    n, noise, seed = int(o["n_samples"]), float(o["noise"]), int(o["seed"])
    rng = np.random.default_rng(seed)
    source = f"synthetic {name} (n_samples={n}, noise={noise}, seed={seed})"
    if name == "moons":
        x, y = skd.make_moons(n_samples=n, noise=noise, random_state=seed)
        names = ["upper", "lower"]
    elif name == "circles":
        x, y = skd.make_circles(n_samples=n, noise=noise, factor=float(o["factor"]),
                                random_state=seed)
        names = ["outer", "inner"]
    elif name == "spirals":
        k = int(o["classes"])
        y = np.arange(n) % k
        t = rng.uniform(0.05, 1.0, n)
        theta = 2 * np.pi * (y / k + 1.5 * t)
        x = np.stack([t * np.cos(theta), t * np.sin(theta)], axis=1)
        x = x + rng.normal(0.0, noise * 0.25, x.shape)
        names = [f"spiral {i}" for i in range(k)]
    elif name == "xor":
        clean = rng.uniform(-1.0, 1.0, (n, 2))
        y = (clean[:, 0] * clean[:, 1] > 0).astype(np.int64)
        x = clean + rng.normal(0.0, noise, clean.shape)
        names = ["different signs", "same signs"]
    elif name == "sine":
        x = rng.uniform(-math.pi, math.pi, (n, 1))
        y = np.sin(x) + rng.normal(0.0, noise, x.shape)
        return Raw(x.astype(np.float32), y.astype(np.float32), "regression", [], source)
    else:  # pragma: no cover - DATASETS and this function list the same names
        raise DataError(f"unknown synthetic dataset {name!r}")
    return Raw(np.asarray(x, np.float32), np.asarray(y, np.int64), "classification", names, source)


# ---- files -----------------------------------------------------------------------------------


def resolve_path(path: str, base_dir: str | os.PathLike | None = None, what: str = "file") -> Path:
    """An existing file or folder: absolute, or relative to ``base_dir`` (the design's folder)
    or the working directory."""
    if not path:
        raise DataError(f"no {what} given: set the dataset's path")
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else (
        ([Path(base_dir) / p] if base_dir else []) + [Path.cwd() / p])
    for c in candidates:
        if c.exists():
            return c
    raise DataError(f"{path}: no such {what}")


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


def load_csv(path: Path, target: str = "", features: str = "", task: str = "auto") -> Raw:
    """A CSV file with a header row. Feature cells must be numbers; target cells may be text
    (each distinct text is a class)."""
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
    data = rows[1:]
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
    decided = _decide_task(task, numeric, np.asarray(numbers, np.float64) if numeric else None)
    if decided == "regression":
        if not numeric:
            r = next(i for i, v in enumerate(numbers) if v is None or not math.isfinite(v))
            raise DataError(f"{path}: line {data[r][0]}, column {target!r}: {targets[r]!r} is "
                            "not a number, but the task is regression")
        y = np.asarray(numbers, np.float32).reshape(-1, 1)
        return Raw(x, y, "regression", [], str(path))
    labels, names = _classes_from_labels(numbers if numeric else targets, numeric)
    return Raw(x, labels, "classification", names, str(path))


def _targets_from_array(y: np.ndarray, task: str, path: Path) -> tuple[np.ndarray, str, list[str]]:
    if y.dtype.kind in "US":
        if task == "regression":
            raise DataError(f"{path}: y holds text, but the task is regression")
        if y.ndim != 1:
            raise DataError(f"{path}: text labels in y must be one per sample (y has shape "
                            f"{y.shape})")
        labels, names = _classes_from_labels([str(v) for v in y], numeric=False)
        return labels, "classification", names
    if y.dtype.kind not in "biuf":
        raise DataError(f"{path}: y has element type {y.dtype}, expected numbers or text")
    values = y.astype(np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values.reshape(len(values), -1)))[0][0])
        raise DataError(f"{path}: y[{bad}] is NaN or infinite")
    decided = _decide_task(task, True, values) if y.ndim == 1 else (
        "regression" if task == "auto" else task)
    if decided == "classification":
        if y.ndim != 1:
            raise DataError(f"{path}: class labels in y must be one per sample (y has shape "
                            f"{y.shape})")
        labels, names = _classes_from_labels(values, numeric=True)
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


def scan_image_folder(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image files under ``root/<class>/`` (sorted), their class indices and the class names."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (an image dataset is a folder with one sub-folder "
                        "per class)")
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = sorted(p for p in sub.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
                       and p.is_file() and not p.name.startswith("."))
        if not found:
            continue
        names.append(sub.name)
        files += found
        labels += [len(names) - 1] * len(found)
    if not files:
        raise DataError(f"{root}: no images found (expected {root}/<class>/*.png or *.jpg)")
    return files, np.asarray(labels, dtype=np.int64), names


def decode_image(path: Path, size: tuple[int, int], color: str) -> np.ndarray:
    """One image as 8-bit ``(channels, height, width)``; a bad file raises DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if color == "grayscale" else "RGB")
            h, w = size
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            arr = np.array(im, dtype=np.uint8)  # a writable copy
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (unknown or corrupt format)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def load_images(root: Path, size: Sequence[int], color: str,
                max_memory: int = DEFAULT_MAX_MEMORY) -> Raw:
    files, labels, names = scan_image_folder(root)
    h, w = int(size[0]), int(size[1])
    channels = 1 if color == "grayscale" else 3
    raw = Raw(None, labels, "classification", names, str(root), kind="image8", files=files,
              image=((h, w), color))
    if len(files) * channels * h * w > max_memory:
        _check_headers(files)
        return raw
    x = np.empty((len(files), channels, h, w), dtype=np.uint8)

    def fill(i: int) -> None:
        x[i] = decode_image(files[i], (h, w), color)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(fill, range(len(files))))
    raw.x, raw.files = x, None
    return raw


def _check_headers(files: Sequence[Path]) -> None:
    """Open every file's header (cheap) so most broken images are named before training."""
    from PIL import Image

    for path in files:
        try:
            with Image.open(path):
                pass
        except Exception as exc:  # PIL raises many kinds
            raise DataError(f"{path}: not a readable image ({exc})") from None


IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (optionally gzipped), with its magic number, header and size checked."""
    try:
        blob = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an IDX file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: a broken gzip file ({exc})") from None
    if len(blob) < 4:
        raise DataError(f"{path}: too short to be an IDX file ({len(blob)} bytes)")
    if blob[0] != 0 or blob[1] != 0:
        raise DataError(f"{path}: not an IDX file: the header starts with 0x{blob[:4].hex()}, but "
                        "IDX files start with two zero bytes, a type code and a dimension count")
    code, ndim = blob[2], blob[3]
    if code not in IDX_TYPES:
        raise DataError(f"{path}: unknown IDX element type 0x{code:02x} in the header (known: "
                        + ", ".join(f"0x{c:02x}" for c in IDX_TYPES) + ")")
    if not 1 <= ndim <= 4:
        raise DataError(f"{path}: the header gives {ndim} dimensions; 1 to 4 are supported")
    if len(blob) < 4 + 4 * ndim:
        raise DataError(f"{path}: the header is cut short")
    dims = [int.from_bytes(blob[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    actual = len(blob) - 4 - 4 * ndim
    if actual != expected:
        raise DataError(f"{path}: the header promises an array of shape {tuple(dims)} "
                        f"({expected:,} bytes of data) but the file holds {actual:,} bytes")
    if dims[0] == 0:
        raise DataError(f"{path}: holds no samples")
    return np.frombuffer(blob, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(
        dtype.newbyteorder("="))


def load_idx(images: Path, labels: Path) -> Raw:
    x = read_idx(images)
    y = read_idx(labels)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{labels}: expected one whole-number label per sample, found an array "
                        f"of shape {y.shape} and type {y.dtype}")
    if len(y) != len(x):
        raise DataError(f"{labels}: {len(y)} labels, but {images} holds {len(x)} samples")
    if x.ndim == 3:
        x = x[:, None]
    if x.dtype == np.uint8 and x.ndim == 4:
        kind = "image8"
    else:
        x = x.astype(np.float32)
        kind = "float"
        if not np.isfinite(x).all():
            raise DataError(f"{images}: holds NaN or infinite values")
    indices, names = _classes_from_labels(y, numeric=True)
    return Raw(np.ascontiguousarray(x), indices, "classification", names, str(images), kind=kind)


def data_from_path(path: str) -> dict[str, Any]:
    """The ``data`` setting (name and options) for a file or folder given on the command line:
    ``.csv``/``.tsv`` → csv, ``.npz`` → npz, IDX files (or a folder of them) → idx, any other
    folder → images."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{path}: no such file or folder, and not a built-in dataset (built-in: "
                        + ", ".join(n for n, s in DATASETS.items() if s.kind != "file") + ")")
    p = p.resolve()
    if p.is_dir():
        idx = sorted(f for f in p.iterdir() if re.search(r"idx\d-ubyte", f.name))
        if idx:
            imgs = [f for f in idx if "idx3" in f.name and "t10k" not in f.name] or \
                   [f for f in idx if "idx3" in f.name]
            if not imgs:
                raise DataError(f"{p}: holds IDX files but no images file (…-idx3-ubyte)")
            return {"name": "idx", "options": {"images": str(imgs[0]),
                                               "labels": str(_idx_labels_for(imgs[0]))}}
        return {"name": "images", "options": {"path": str(p)}}
    suffix = p.suffix.lower()
    if suffix in CSV_EXTENSIONS:
        return {"name": "csv", "options": {"path": str(p)}}
    if suffix == ".npz":
        return {"name": "npz", "options": {"path": str(p)}}
    if re.search(r"idx\d|ubyte", p.name):
        return {"name": "idx", "options": {"images": str(p), "labels": str(_idx_labels_for(p))}}
    raise DataError(f"{p}: cannot tell the kind of data from the name (expected .csv, .tsv, "
                    ".npz, an IDX file, or a folder of class sub-folders with images)")


def _idx_labels_for(images: Path) -> Path:
    name = images.name.replace("images", "labels").replace("idx3", "idx1")
    labels = images.with_name(name)
    if name == images.name or not labels.exists():
        raise DataError(f"{images}: no matching labels file found (looked for {labels.name})")
    return labels


def read_raw(data: Mapping[str, Any], base_dir: str | os.PathLike | None = None,
             max_memory: int = DEFAULT_MAX_MEMORY) -> Raw:
    """Read the samples a ``data`` setting names (no splitting or normalization yet)."""
    name = data.get("name")
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    o = spec.resolve(data.get("options", {}))
    if spec.kind == "builtin":
        return _builtin(name, o)
    if spec.kind == "synthetic":
        return _synthetic(name, o)
    if name == "csv":
        return load_csv(resolve_path(o["path"], base_dir), o["target"], o["features"], o["task"])
    if name == "npz":
        return load_npz(resolve_path(o["path"], base_dir), o["task"])
    if name == "images":
        return load_images(resolve_path(o["path"], base_dir, "folder"), o["size"], o["color"],
                           max_memory)
    if name == "idx":
        return load_idx(resolve_path(o["images"], base_dir, "images file"),
                        resolve_path(o["labels"], base_dir, "labels file"))
    raise DataError(f"no loader for dataset {name!r}")  # pragma: no cover


# ---- splitting and normalization -------------------------------------------------------------


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


# ---- batching ---------------------------------------------------------------------------------


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
        """Batches ``start … num_batches−1`` of ``order`` (indices of this split)."""
        order = order.to(self.device, non_blocking=True)
        for b in range(start, num_batches):
            yield self.take(order[b * batch_size:(b + 1) * batch_size])

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
    norm = normalization or fit_normalization(raw, train, settings["normalize"], sample_shape)
    info = DataInfo(
        name=str(data.get("name")), task=raw.task, sample_shape=sample_shape,
        x_dtype="int64" if raw.kind == "int" else "float32",
        num_classes=len(raw.class_names) if raw.task == "classification" else None,
        class_names=list(raw.class_names),
        target_shape=() if raw.task == "classification" else tuple(raw.y.shape[1:]),
        sizes={"train": len(train), "val": len(val), "test": len(test)},
        normalization=norm, source=raw.source, streamed=raw.x is None)
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
