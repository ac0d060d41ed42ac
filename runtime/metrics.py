"""How each metric of :data:`graph.metrics.METRICS` is computed, accumulated on the training
device and read back once per evaluation.

:class:`ClassificationMeter` keeps a confusion matrix (and a top-k hit count); accuracy, macro
precision/recall/F1 and the per-class report all derive from it. :class:`RegressionMeter` keeps
running sums for MAE, RMSE and R² (R² per output, then averaged). ``update`` never synchronizes
with the device; ``compute`` does, once, and returns a dict keyed by the metrics' names.
:func:`regression_metrics` and :func:`classification_report` compute the same from arrays.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch



def predicted_classes(logits: torch.Tensor) -> torch.Tensor:
    """Class indices from scores: argmax over the last dim, or ``logit > 0`` for one score."""
    if logits.dim() == 1 or logits.shape[-1] == 1:
        return (logits.reshape(logits.shape[0]) > 0).long()
    return logits.argmax(dim=-1)


class ClassificationMeter:
    """Confusion matrix (rows: true class, columns: predicted class) and top-k hits (``topk``
    0: not counted)."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu", topk: int = 5):
        self.num_classes = int(num_classes)
        self.topk = topk
        self.confusion = torch.zeros(self.num_classes ** 2, dtype=torch.long, device=device)
        self.topk_hits = torch.zeros((), dtype=torch.long, device=device)

    def update(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        logits = logits.detach()
        targets = targets.reshape(-1).long()
        preds = predicted_classes(logits).reshape(-1)
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:  # else argmax is in range
            preds = preds.clamp_(0, self.num_classes - 1)
        # preds is a new tensor: the cell index (true × classes + predicted) is built in it
        self.confusion += torch.bincount(preds.add_(targets, alpha=self.num_classes),
                                         minlength=self.num_classes ** 2)
        if self.topk and logits.dim() == 2 and logits.shape[1] > self.topk:
            top = logits.topk(self.topk, dim=1).indices
            self.topk_hits += (top == targets[:, None]).any(dim=1).sum()

    def reduce(self, all_reduce_sum: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Add up the counts of every rank of a distributed evaluation (each rank counted
        its own shard)."""
        self.confusion = all_reduce_sum(self.confusion)
        self.topk_hits = all_reduce_sum(self.topk_hits)

    def matrix(self) -> list[list[int]]:
        return self.confusion.view(self.num_classes, self.num_classes).tolist()

    def compute(self, class_names: Sequence[str] | None = None,
                details: bool = True) -> dict[str, Any]:
        """Accuracy, top-5 (when there are more than 5 classes), macro precision/recall/F1,
        and (``details``) the per-class report and the confusion matrix."""
        matrix = self.matrix()
        hits = int(self.topk_hits.item()) if self.topk else 0
        out = classification_report(matrix, class_names, details)
        total = out["samples"]
        if total and self.topk and self.num_classes > self.topk:
            out[f"top{self.topk}"] = hits / total
        return out


def classification_report(matrix: Sequence[Sequence[int]],
                          class_names: Sequence[str] | None = None,
                          details: bool = True) -> dict[str, Any]:
    """Metrics from a confusion matrix (rows true, columns predicted); ``details`` adds the
    per-class report and the matrix itself (a training epoch reports neither).

    Macro averages run over the classes that occur in the targets or the predictions, as
    scikit-learn's do; a class never predicted has precision 0.
    """
    k = len(matrix)
    supports = [sum(row) for row in matrix]
    predictions = [sum(column) for column in zip(*matrix)] or [0] * k
    total = sum(supports)
    correct = sum(matrix[i][i] for i in range(k))
    precisions, recalls, f1s, seen = [], [], [], []
    for i in range(k):
        tp, support, predicted = matrix[i][i], supports[i], predictions[i]
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        precisions.append(precision)
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
        if support or predicted:
            seen.append(i)

    def macro(values: list[float]) -> float:
        return sum(values[i] for i in seen) / len(seen) if seen else 0.0

    out = {"samples": total, "accuracy": correct / total if total else 0.0,
           "precision": macro(precisions), "recall": macro(recalls), "f1": macro(f1s)}
    if details:
        names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
        out["per_class"] = [{"class": names[i], "precision": precisions[i], "recall": recalls[i],
                             "f1": f1s[i], "support": supports[i]} for i in range(k)]
        out["confusion_matrix"] = [list(map(int, row)) for row in matrix]
    return out


class RegressionMeter:
    """Running sums for MAE, RMSE and R² (averaged over output columns, like scikit-learn).

    ``scale``/``shift`` undo target normalization so the metrics read in the data's own units.
    """

    def __init__(self, width: int, device: torch.device | str = "cpu",
                 scale: torch.Tensor | None = None, shift: torch.Tensor | None = None):
        device = torch.device(device)
        self.dtype = torch.float32 if device.type == "mps" else torch.float64
        zeros = lambda: torch.zeros(width, dtype=self.dtype, device=device)  # noqa: E731
        self.n = torch.zeros((), dtype=self.dtype, device=device)
        self.abs_err, self.sq_err, self.sum_y, self.sum_y2 = zeros(), zeros(), zeros(), zeros()
        self.width = width
        self.scale = None if scale is None else scale.to(device, self.dtype).reshape(-1)
        self.shift = None if shift is None else shift.to(device, self.dtype).reshape(-1)

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        p = preds.detach().reshape(preds.shape[0], -1).to(self.dtype)
        t = targets.detach().reshape(targets.shape[0], -1).to(self.dtype)
        if self.scale is not None:
            p, t = p * self.scale + self.shift, t * self.scale + self.shift
        err = p - t
        self.n += p.shape[0]
        self.abs_err += err.abs().sum(0)
        self.sq_err += (err * err).sum(0)
        self.sum_y += t.sum(0)
        self.sum_y2 += (t * t).sum(0)

    def reduce(self, all_reduce_sum: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Add up the running sums of every rank of a distributed evaluation."""
        self.n, self.abs_err, self.sq_err, self.sum_y, self.sum_y2 = (
            all_reduce_sum(t) for t in (self.n, self.abs_err, self.sq_err, self.sum_y, self.sum_y2))

    def compute(self) -> dict[str, Any]:
        stats = torch.stack([self.abs_err, self.sq_err, self.sum_y, self.sum_y2]).tolist()
        n = float(self.n.item())
        if not n:
            return {"samples": 0, "mae": 0.0, "rmse": 0.0, "r2": 0.0}
        abs_err, sq_err, sum_y, sum_y2 = stats
        r2s = []
        for sse, sy, sy2 in zip(sq_err, sum_y, sum_y2):
            sst = sy2 - sy * sy / n
            r2s.append(1.0 - sse / sst if sst > 1e-12 else (1.0 if sse <= 1e-12 else 0.0))
        return {
            "samples": int(n),
            "mae": sum(abs_err) / (n * self.width),
            "rmse": math.sqrt(sum(sq_err) / (n * self.width)),
            "r2": sum(r2s) / len(r2s),
        }


def regression_metrics(predicted: torch.Tensor, targets: torch.Tensor) -> dict[str, Any]:
    """MAE, RMSE and R² of whole arrays ``(N, k)`` (in the same units), as the meter computes
    them during training."""
    meter = RegressionMeter(max(1, math.prod(predicted.shape[1:])), "cpu")
    if len(predicted):
        meter.update(predicted, targets)
    return meter.compute()
