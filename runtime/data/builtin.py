"""Datasets that need no file: scikit-learn's bundled ones and seeded synthetic ones."""
from __future__ import annotations

import csv
import importlib.util
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import numpy as np

from .base import DataError, Raw


def load_builtin(name: str, options: Mapping[str, Any]) -> Raw:
    bunch = _bundled(name) or _sklearn_loader(name)()
    x = np.asarray(bunch.data, dtype=np.float32)
    source = f"scikit-learn {name}"
    if name == "diabetes":
        return Raw(x, np.asarray(bunch.target, dtype=np.float32).reshape(-1, 1), "regression", [],
                   source)
    if name.startswith("digits") and options.get("as_images", True):
        x = x.reshape(-1, 1, 8, 8)
    if name == "digits_parity":
        return Raw(x, np.asarray(bunch.target % 2, dtype=np.int64), "classification",
                   ["even", "odd"], "scikit-learn digits, labelled even/odd")
    names = [str(n) for n in bunch.target_names]
    return Raw(x, np.asarray(bunch.target, dtype=np.int64), "classification", names, source)


def _sklearn_loader(name: str):
    from sklearn import datasets as skd

    return {"digits": skd.load_digits, "digits_parity": skd.load_digits, "iris": skd.load_iris,
            "wine": skd.load_wine, "breast_cancer": skd.load_breast_cancer,
            "diabetes": skd.load_diabetes}[name]


# scikit-learn's own files, read as its loaders read them: importing scikit-learn takes ~1.5 s
# of a run's "loading the data" (its loaders are the fallback, and the reference in the tests).
_BUNDLED = {"digits": "digits.csv.gz", "digits_parity": "digits.csv.gz", "iris": "iris.csv",
            "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}


def _bundled(name: str) -> SimpleNamespace | None:
    """``data``, ``target`` and ``target_names`` of a scikit-learn dataset read straight from
    the file scikit-learn ships (found without importing scikit-learn), or None when it is not
    where it should be."""
    spec = importlib.util.find_spec("sklearn")
    if name not in _BUNDLED or spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / _BUNDLED[name]
    if not path.is_file():
        return None
    if path.suffix == ".gz":  # digits: 64 pixels and the digit per line (load_digits)
        table = np.loadtxt(path, delimiter=",")
        return SimpleNamespace(data=table[:, :-1], target=table[:, -1].astype(np.int64),
                               target_names=np.arange(10))
    with path.open(encoding="utf-8") as f:  # n_samples, n_features, class names (load_csv_data)
        head = next(csv.reader(f))
        table = np.loadtxt(f, delimiter=",", ndmin=2)
    if table.shape != (int(head[0]), int(head[1]) + 1):
        return None
    return SimpleNamespace(data=table[:, :-1], target=table[:, -1].astype(np.int64),
                           target_names=np.array(head[2:]))


def load_synthetic(name: str, o: Mapping[str, Any]) -> Raw:
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
