"""Datasets: read, split, normalize and batch.

Every dataset declared in :data:`graph.settings.DATASETS` loads here:

* built-in (scikit-learn, nothing downloaded): digits, digits_parity, iris, wine, breast_cancer,
  diabetes;
* synthetic, from a seed: moons, circles, spirals, xor, sine;
* user files: CSV, NumPy ``.npz`` (read with ``allow_pickle=False``), image folders
  (``root/<class>/*.png|jpg``) and MNIST-style IDX files.

The package in layers: :mod:`.base` (error, :class:`DataInfo`, :class:`Normalization`, raw
samples), the readers (:mod:`.builtin`, :mod:`.tables`, :mod:`.images`, dispatched by
:mod:`.sources`), :mod:`.preparation` (splitting, normalization, :func:`load_data`) and
:mod:`.batching` (sample order, in-memory and streamed splits).

A problem with the data raises :class:`DataError` naming the place (file, line, column, sample).
:func:`load_data` returns a :class:`LoadedData`: a :class:`DataInfo` describing the samples
(shape, task, classes, normalization) and train/validation/test splits. Samples that fit in
memory are kept as tensors (moved once to the training device) and batched by index, without a
``DataLoader``; large image folders stream from disk through a ``DataLoader`` with workers.
Normalization statistics are fitted on the training split only.
"""
from .base import DataError, DataInfo, Normalization, Raw
from .batching import IndexSampler, LoadedData, Split, StreamSplit, TensorSplit
from .images import DEFAULT_MAX_MEMORY, IMAGE_EXTENSIONS, decode_image, read_idx
from .preparation import data_settings, fit_normalization, load_data, split_indices
from .sources import CSV_EXTENSIONS, data_facts, data_from_path, read_raw, resolve_path
from .tables import load_csv, load_npz

__all__ = [
    "CSV_EXTENSIONS", "DEFAULT_MAX_MEMORY", "IMAGE_EXTENSIONS", "DataError", "DataInfo",
    "IndexSampler", "LoadedData", "Normalization", "Raw", "Split", "StreamSplit", "TensorSplit",
    "data_facts", "data_from_path", "data_settings", "decode_image", "fit_normalization", "load_csv",
    "load_data", "load_npz", "read_idx", "read_raw", "resolve_path", "split_indices",
]
