"""Image data: folders of class sub-folders (decoded in memory or streamed) and IDX files."""
from __future__ import annotations

import gzip
import math
import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from graph.summary import counted

from .base import DataError, Raw, classes_from_labels

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DEFAULT_MAX_MEMORY = 1 << 30  # image folders larger than this (decoded) stream from disk


def scan_image_folder(root: Path, skipped: list[Path] | None = None
                      ) -> tuple[list[Path], np.ndarray, list[str]]:
    """Image files under ``root/<class>/`` (sorted), their class indices and the class names;
    other files (not hidden) go to ``skipped`` when given."""
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (an image dataset is a folder with one sub-folder "
                        "per class)")
    files: list[Path] = []
    labels: list[int] = []
    names: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        candidates = [p for p in sub.rglob("*") if p.is_file() and not p.name.startswith(".")]
        found = sorted(p for p in candidates if p.suffix.lower() in IMAGE_EXTENSIONS)
        if skipped is not None:
            skipped += [p for p in candidates if p.suffix.lower() not in IMAGE_EXTENSIONS]
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
    skipped: list[Path] = []
    files, labels, names = scan_image_folder(root, skipped)
    h, w = int(size[0]), int(size[1])
    channels = 1 if color == "grayscale" else 3
    raw = Raw(None, labels, "classification", names, str(root), kind="image8", files=files,
              image=((h, w), color))
    if skipped:
        raw.notes.append(f"skipped {counted(len(skipped), 'file')} that are not images (such as "
                         f"{skipped[0].relative_to(root)})")
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
    indices, names = classes_from_labels(y, numeric=True)
    return Raw(np.ascontiguousarray(x), indices, "classification", names, str(images), kind=kind)
