"""What the app shows about data and finished runs: previews, run lists, predictions, regions.

Everything here is plain data computed off the GUI thread (no Qt):

* :func:`preview_data` — sample shape, task, classes, class counts, split sizes and a few raw
  samples of a ``data`` setting (a table, thumbnails or a 2-D scatter in the app);
* :func:`list_runs` / :func:`run_summary` — every run folder of a design, with status, best
  metric, duration and device; :func:`epoch_records` for their curves; :func:`settings_diff`
  for what differs between two runs; :func:`mark_failed` and :func:`delete_run`;
* :func:`predict_run` — per-sample predictions of a trained run on a split (confusion-matrix
  cells, misclassified samples, predicted-vs-true), and :func:`decision_grid` — the model's
  class over a grid of 2-D inputs (decision regions, as TensorFlow Playground draws them).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from graph.metrics import metric_names
from graph.settings import DATASETS

from . import devices
from .data import Normalization, data_settings, decode_image, load_data, read_raw, split_indices
from .data.csvfile import csv_columns as read_csv_columns
from .metrics import classification_report, regression_metrics
from .paths import unique_dir
from .runs import RunError, RunFolder, load_run
from .training import first_output

PREVIEW_ROWS = 200
PREVIEW_IMAGES = 64
PREVIEW_POINTS = 5000


# ---- data preview --------------------------------------------------------------------------


@dataclass
class DataPreview:
    """A dataset as the data panel shows it. ``samples`` are raw (not normalized)."""

    name: str
    task: str
    source: str
    sample_shape: tuple[int, ...]
    class_names: list[str]
    class_counts: list[int]
    sizes: dict[str, int]
    total: int
    kind: str  # "table", "images" or "points" (2-D samples)
    samples: np.ndarray  # the first rows/images/points
    labels: np.ndarray  # their targets (class indices, or values for regression)
    columns: list[str] = field(default_factory=list)  # table column names (features)
    notes: list[str] = field(default_factory=list)  # what reading detected and skipped

    @property
    def num_classes(self) -> int | None:
        return len(self.class_names) if self.task == "classification" else None


def preview_data(data: Mapping[str, Any], base_dir: str | os.PathLike | None = None
                 ) -> DataPreview:
    """Read the dataset ``data`` names and describe it; raises DataError with the place."""
    raw = read_raw(data, base_dir)
    settings = data_settings(data)
    n = len(raw.y)
    labels = raw.y if raw.task == "classification" else None
    train, val, test = split_indices(n, labels, settings["val_fraction"],
                                     settings["test_fraction"], settings["split_seed"])
    counts = (np.bincount(raw.y, minlength=len(raw.class_names)).tolist()
              if raw.task == "classification" else [])
    if raw.x is not None:
        shape = tuple(int(d) for d in raw.x.shape[1:])
    else:
        (h, w), color = raw.image  # type: ignore[misc]
        shape = (1 if color == "grayscale" else 3, h, w)
    columns: list[str] = []
    if len(shape) == 3 and shape[0] in (1, 3):
        kind, limit = "images", PREVIEW_IMAGES
    elif shape == (2,):
        kind, limit = "points", PREVIEW_POINTS
    else:
        kind, limit = "table", PREVIEW_ROWS
    # Spread the preview over the whole set (files are often sorted by class).
    pick = np.unique(np.linspace(0, n - 1, min(n, limit)).astype(np.int64)) if n else \
        np.zeros(0, np.int64)
    if raw.x is not None:
        samples = np.asarray(raw.x[pick])
    else:
        (h, w), color = raw.image  # type: ignore[misc]
        samples = np.stack([decode_image(raw.files[i], (h, w), color) for i in pick])  # type: ignore[index]
    if kind == "table":
        samples = samples.reshape(len(samples), -1)
        columns = _column_names(data, raw, samples.shape[1])
    return DataPreview(
        name=str(data.get("name")), task=raw.task, source=raw.source, sample_shape=shape,
        class_names=list(raw.class_names), class_counts=counts,
        sizes={"train": len(train), "val": len(val), "test": len(test)}, total=n, kind=kind,
        samples=samples, labels=np.asarray(raw.y[pick]), columns=columns, notes=list(raw.notes))


def _column_names(data: Mapping[str, Any], raw, width: int) -> list[str]:
    if len(raw.columns) == width:  # a table names its own
        return list(raw.columns)
    if data.get("name") in ("iris", "wine", "breast_cancer", "diabetes"):
        from sklearn import datasets as skd

        bunch = getattr(skd, f"load_{data['name']}")()
        names = [str(n) for n in bunch.feature_names]
        if len(names) == width:
            return names
    return [f"x{i}" for i in range(width)]


def csv_columns(path: str | os.PathLike, options: Mapping[str, Any] | None = None) -> list[str]:
    """The column names of a CSV file as the loader reads it with ``options`` (header, lines
    to skip, delimiter), for the column picker; DataError when unreadable."""
    o = DATASETS["csv"].resolve(options or {})
    return read_csv_columns(Path(path), o["header"], o["skip_rows"], o["delimiter"])


# ---- run folders ---------------------------------------------------------------------------


@dataclass
class RunSummary:
    """One line of the run history."""

    dir: Path
    status: str  # running, completed, stopped, early_stopped, failed, interrupted
    best_metric: str | None
    best_value: float | None
    best_epoch: int | None
    epochs_completed: int
    epochs: int | None
    duration_s: float | None
    device: str | None
    created: str | None
    message: str | None
    resumable: bool
    checkpoints: tuple[str, ...] = ()  # best and/or last, when saved

    @property
    def name(self) -> str:
        return self.dir.name


def is_run_dir(path: Path) -> bool:
    return RunFolder(path).is_run()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _checked(read, damage: list[str]) -> dict[str, Any]:
    """``read()`` of a run file, or {} with why in ``damage`` when the file is damaged."""
    try:
        return read()
    except RunError as exc:
        damage.append(str(exc))
        return {}


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def run_summary(run_dir: str | os.PathLike) -> RunSummary:
    """Status, best metric, duration and device of one run folder, read from its files (a
    damaged file shows as the run's message, never as a crash)."""
    folder = RunFolder(run_dir)
    damage: list[str] = []
    status = _checked(lambda: folder.status(strict=True), damage)
    config = _checked(folder.config, damage) if folder.file(folder.CONFIG).exists() else {}
    events = folder.events()
    best = _dict(status.get("best"))
    end = next((e for e in reversed(events) if e.get("event") == "end"), None)
    if end and not best:
        best = _dict(end.get("best"))
    duration = None
    if end is not None:
        duration = end.get("duration_s")
    elif events:
        duration = events[-1].get("time")
    state = status.get("status") or (end or {}).get("status") or ("failed" if not events
                                                                  else "interrupted")
    error = next((e.get("message") for e in reversed(events) if e.get("event") == "error"), None)
    number = lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) else None  # noqa: E731
    return RunSummary(
        dir=folder.path, status=str(state), best_metric=best.get("metric"),
        best_value=number(best.get("value")), best_epoch=number(best.get("epoch")),
        epochs_completed=_whole(status.get("epochs_completed")),
        epochs=number(_dict(config.get("training")).get("epochs")),
        duration_s=number(duration), device=config.get("device"),
        created=str(config.get("created") or "") or None,
        message=damage[0] if damage else status.get("message") or error,
        resumable=folder.resumable, checkpoints=tuple(folder.available_checkpoints()))


def list_runs(folder: str | os.PathLike, prefix: str = "") -> list[RunSummary]:
    """Every run folder directly inside ``folder`` (whose name starts with ``prefix``), newest
    first."""
    root = Path(folder)
    if not root.is_dir():
        return []
    runs = [run_summary(p) for p in root.iterdir() if p.name.startswith(prefix) and is_run_dir(p)]
    runs.sort(key=lambda r: (str(r.created or ""), r.dir.name), reverse=True)
    return runs


def transfer_runs(runs: list[str | os.PathLike], folder: str | os.PathLike, move: bool
                  ) -> list[Path]:
    """Move (or copy, when ``move`` is false) each run folder into ``folder``, keeping its name
    (``-2``, ``-3`` … when taken); returns where each one now is. A run that cannot be moved
    raises OSError after the ones before it are done."""
    target_root = Path(folder)
    target_root.mkdir(parents=True, exist_ok=True)
    done = []
    for run in map(Path, runs):
        if run.parent.resolve() == target_root.resolve():
            continue
        target = unique_dir(target_root / run.name)
        if move:
            shutil.move(str(run), str(target))
        else:
            shutil.copytree(run, target)
        done.append(target)
    return done


def epoch_records(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The ``epoch`` events of a run, in order (a resumed run's repeated epochs keep the last)."""
    return RunFolder(run_dir).epoch_records()


def settings_diff(run_a: str | os.PathLike, run_b: str | os.PathLike
                  ) -> list[tuple[str, Any, Any]]:
    """``(setting, value in a, value in b)`` for every training, data, device and layer
    setting that differs between two runs."""
    a, b = RunFolder(run_a), RunFolder(run_b)
    ca, cb = a.config_or_empty(), b.config_or_empty()
    rows: list[tuple[str, Any, Any]] = []

    def compare(prefix: str, x: Any, y: Any) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                compare(f"{prefix}.{key}" if prefix else key, x.get(key), y.get(key))
        elif x != y:
            rows.append((prefix, x, y))

    compare("training", ca.get("training", {}), cb.get("training", {}))
    compare("data", ca.get("data", {}), cb.get("data", {}))
    compare("device", ca.get("device"), cb.get("device"))
    compare("precision", ca.get("precision"), cb.get("precision"))
    da, db = a.design_dict(), b.design_dict()
    nodes_a = {n.get("name"): n for n in da.get("nodes", []) if isinstance(n, dict)}
    nodes_b = {n.get("name"): n for n in db.get("nodes", []) if isinstance(n, dict)}
    for name in sorted(set(nodes_a) | set(nodes_b), key=str):
        na, nb = nodes_a.get(name), nodes_b.get(name)
        if na is None or nb is None:
            rows.append((f"layer {name}", na and na.get("type"), nb and nb.get("type")))
        elif na.get("type") != nb.get("type"):
            rows.append((f"layer {name}.type", na.get("type"), nb.get("type")))
        else:
            compare(f"layer {name}", na.get("params", {}), nb.get("params", {}))
    links = lambda d: sorted((e.get("src"), e.get("dst")) for e in d.get("edges", []))  # noqa: E731
    if links(da) != links(db):
        rows.append(("links", f"{len(da.get('edges', []))} links", f"{len(db.get('edges', []))} links"))
    return rows


def mark_failed(run_dir: str | os.PathLike, message: str) -> bool:
    """Record that a run's process died without ending the run itself (crash, kill, out of
    memory). Returns False when the run had already recorded its own end."""
    return RunFolder(run_dir).mark_failed(message)


def delete_run(run_dir: str | os.PathLike) -> None:
    """Delete a run folder — only something that looks like one (guards against a wrong path)."""
    folder = RunFolder(run_dir)
    if not folder.is_run():
        raise RunError(f"{folder.path}: not a run folder; nothing deleted")
    unknown = [p.name for p in folder.path.iterdir()
               if p.name not in folder.owned_names() and not p.name.startswith(".")]
    if unknown:
        raise RunError(f"{folder.path}: holds files a run does not write "
                       f"({', '.join(sorted(unknown)[:3])}); delete it by hand")
    shutil.rmtree(folder.path)


# ---- predictions of a trained run ----------------------------------------------------------------


@dataclass
class DecisionGrid:
    """The predicted class over a regular grid of 2-D (normalized) inputs."""

    x: np.ndarray  # grid coordinates along the first input (columns)
    y: np.ndarray  # along the second input (rows)
    classes: np.ndarray  # (len(y), len(x)) predicted class index
    confidence: np.ndarray  # (len(y), len(x)) probability of that class


@dataclass
class Predictions:
    """A run's model applied to one split, sample by sample (inputs as the model saw them)."""

    task: str
    split: str
    checkpoint: str
    class_names: list[str]
    inputs: np.ndarray  # (N, *sample_shape), normalized
    targets: np.ndarray  # (N,) class indices, or (N, k) values in the data's units
    predicted: np.ndarray  # same form as targets
    confidence: np.ndarray | None  # (N,) probability of the predicted class
    metrics: dict[str, Any]
    confusion: np.ndarray | None = None
    per_class: list[dict[str, Any]] = field(default_factory=list)
    grid: DecisionGrid | None = None
    train_inputs: np.ndarray | None = None  # 2-D data: the training points, for the regions plot
    train_targets: np.ndarray | None = None

    def cell(self, true_class: int, predicted_class: int) -> np.ndarray:
        """Indices of the samples of one confusion-matrix cell."""
        return np.flatnonzero((self.targets == true_class) & (self.predicted == predicted_class))

    def misclassified(self) -> np.ndarray:
        """Indices of the wrongly classified samples, the most confident mistakes first."""
        wrong = np.flatnonzero(self.targets != self.predicted)
        if self.confidence is not None:
            wrong = wrong[np.argsort(-self.confidence[wrong], kind="stable")]
        return wrong


def _probabilities(out: torch.Tensor) -> torch.Tensor:
    out = out.float()
    if out.dim() == 1 or out.shape[-1] == 1:
        p = torch.sigmoid(out.reshape(-1))
        return torch.stack([1 - p, p], dim=1)
    return torch.softmax(out.reshape(out.shape[0], -1), dim=1)


def predict_run(run_dir: str | os.PathLike, split: str = "test", checkpoint: str = "best",
                device: str = "cpu", grid_size: int = 150, batch_size: int = 512) -> Predictions:
    """Apply a run's trained model to ``split`` (falling back to the validation split when the
    run has no test split). Raises RunError or DataError with a readable message."""
    run = load_run(run_dir)
    if not run.has_checkpoint(checkpoint) and not run.has_checkpoint("last"):
        raise RunError(f"{run.dir}: no checkpoint yet (the run ended before its first epoch)")
    dev = devices.resolve_device(device)
    compiled = run.build_model(checkpoint, dev)
    model = compiled.module
    config = run.config
    dataset = config.get("dataset", {})
    norm = Normalization.from_dict(dataset.get("normalization", {}))
    input_node = run.design.inputs()[0]
    data = load_data(config.get("data", run.design.data),
                     input_dtype=input_node.resolved_params()["dtype"],
                     base_dir=config.get("base_dir"), normalization=norm)
    info = data.info
    if len(data.split(split)) == 0:
        split = "val" if len(data.val) else "train"
    part = data.split(split).to(dev)
    xs, ys, outs = [], [], []
    with torch.inference_mode():
        for x, y in part.sequential(batch_size):
            xs.append(x.float().cpu())
            ys.append(y.cpu())
            outs.append(first_output(model(x)).float().cpu())
    inputs = torch.cat(xs).numpy() if xs else np.zeros((0, *info.sample_shape), np.float32)
    targets = torch.cat(ys) if ys else torch.zeros(0)
    out = torch.cat(outs) if outs else torch.zeros(0)
    result = Predictions(task=info.task, split=split, checkpoint=checkpoint,
                         class_names=list(info.class_names), inputs=inputs,
                         targets=targets.numpy(), predicted=np.zeros(0), confidence=None,
                         metrics={})
    if info.task == "classification":
        probs = _probabilities(out) if len(out) else torch.zeros(0, len(info.class_names))
        conf, pred = probs.max(dim=1) if len(probs) else (torch.zeros(0), torch.zeros(0))
        result.predicted = pred.long().numpy()
        result.confidence = conf.numpy()
        k = len(info.class_names)
        matrix = np.zeros((k, k), dtype=np.int64)
        np.add.at(matrix, (result.targets.astype(np.int64), result.predicted), 1)
        report = classification_report(matrix.tolist(), info.class_names)
        result.confusion = matrix
        result.per_class = report["per_class"]
        result.metrics = {k2: report[k2] for k2 in (*metric_names(info.task), "samples")
                          if k2 in report}
        if tuple(info.sample_shape) == (2,):
            train_x = torch.cat([x.float().cpu() for x, _ in data.train.sequential(4096)])
            train_y = torch.cat([y.cpu() for _, y in data.train.sequential(4096)])
            result.train_inputs, result.train_targets = train_x.numpy(), train_y.numpy()
            both = np.concatenate([result.train_inputs, inputs])
            result.grid = decision_grid(model, both, dev, grid_size)
    else:
        predicted = norm.invert_targets(out).reshape(len(out), -1)
        truth = norm.invert_targets(targets.float()).reshape(len(targets), -1)
        result.predicted, result.targets = predicted.numpy(), truth.numpy()
        result.metrics = regression_metrics(predicted, truth)
    return result


def decision_grid(model: torch.nn.Module, points: np.ndarray, device: torch.device | str = "cpu",
                  size: int = 150, margin: float = 0.15) -> DecisionGrid:
    """The model's predicted class and its probability over a ``size``×``size`` grid spanning
    ``points`` (normalized 2-D inputs) plus a margin."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = (hi - lo) * margin + 1e-6
    gx = np.linspace(lo[0] - pad[0], hi[0] + pad[0], size, dtype=np.float32)
    gy = np.linspace(lo[1] - pad[1], hi[1] + pad[1], size, dtype=np.float32)
    mesh = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)  # row-major: y, then x
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = first_output(model(torch.from_numpy(mesh).to(device)))
            conf, cls = _probabilities(out.cpu()).max(dim=1)
    finally:
        model.train(was_training)
    return DecisionGrid(gx, gy, cls.numpy().reshape(size, size),
                        conf.numpy().reshape(size, size))
