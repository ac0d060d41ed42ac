"""Look inside a network: one sample through a run's (or an untrained design's) model.

The app's *Try* page and its per-layer previews use these functions off the GUI thread; they
know nothing of Qt, so they are tested on their own.

* :func:`open_model` — the compiled design with a run's ``best`` or ``last`` weights, or freshly
  initialized (seeded) weights when there is no run;
* :func:`load_samples` — a split of the design's dataset as the model sees it (normalized with
  the run's own statistics), with the true labels;
* :func:`frame_drawing`, :func:`sample_from_picture` / :func:`sample_from_features` — a drawn
  digit (framed as the data's digits are), an image file or a typed row of features turned
  into a model input the way training prepared its samples;
* :func:`predict` — class probabilities (they sum to 1) or the regression value;
* :func:`layer_outputs` — every layer's output for the sample (forward hooks on the compiled
  ``torch.fx`` module), with the attention weights of attention layers.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from graph.design import Design

from .analysis import _probabilities as probabilities
from .compiler import Compiled, compile_design
from .data import DataError, Normalization, decode_image, load_data
from .runs import RunError, load_run
from .training import first_output

MAX_SAMPLES = 2000  # a Try page lists at most this many samples of a split


@dataclass
class InspectedModel:
    """A compiled model ready to look into, and where its weights came from."""

    compiled: Compiled
    design: Design
    source: str  # "untrained", "best" or "last"
    run_dir: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the run's config.json, if any

    @property
    def module(self) -> nn.Module:
        return self.compiled.module

    @property
    def normalization(self) -> Normalization | None:
        """The run's input statistics (None for an untrained design: the data decides)."""
        recorded = self.config.get("dataset", {}).get("normalization")
        return Normalization.from_dict(recorded) if recorded else None


def open_model(design: Design | None = None, run_dir: str | os.PathLike | None = None,
               checkpoint: str = "best") -> InspectedModel:
    """The model of ``run_dir`` with its ``best`` (else ``last``) weights, or of ``design`` with
    weights initialized from its training seed. Raises RunError or CompileError."""
    if run_dir is not None:
        run = load_run(run_dir)
        if not run.has_checkpoint("best") and not run.has_checkpoint("last"):
            raise RunError(f"{run.dir}: no checkpoint yet (the run ended before its first epoch)")
        kind = checkpoint if run.has_checkpoint(checkpoint) else "last"
        compiled = run.build_model(kind)
        return InspectedModel(compiled, run.design, kind, run.dir, dict(run.config))
    if design is None:
        raise ValueError("open_model needs a design or a run folder")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(design.training.get("seed", 0)))
        compiled = compile_design(design)
    compiled.module.eval()
    return InspectedModel(compiled, design, "untrained")


@dataclass
class Samples:
    """One split of the dataset, as the model sees it."""

    split: str
    task: str  # "classification" or "regression"
    inputs: torch.Tensor  # (N, *sample_shape), normalized
    targets: np.ndarray  # (N,) class indices, or (N, k) values in the data's units
    class_names: list[str]
    normalization: Normalization
    raw_range: tuple[float, float]  # smallest and largest raw value (for drawn pictures)

    def __len__(self) -> int:
        return len(self.inputs)

    def label(self, index: int) -> str:
        """The true label of sample ``index`` as a person reads it."""
        target = self.targets[index]
        if self.task == "classification":
            return self.class_names[int(target)]
        return ", ".join(f"{v:.4g}" for v in np.atleast_1d(target))


def load_samples(model: InspectedModel, split: str = "test", base_dir: str | None = None,
                 limit: int = MAX_SAMPLES) -> Samples:
    """Up to ``limit`` samples of ``split`` (the validation split when there is no test split),
    normalized as the model was trained. Raises DataError with a readable message."""
    data_choice = model.config.get("data", model.design.data)
    base = model.config.get("base_dir", base_dir)
    dtype = model.design.node(model.compiled.input_nodes[0]).resolved_params()["dtype"]
    data = load_data(data_choice, input_dtype=dtype, base_dir=base,
                     normalization=model.normalization)
    info = data.info
    if len(data.split(split)) == 0:
        split = "val" if len(data.val) else "train"
    xs, ys, seen = [], [], 0
    for x, y in data.split(split).sequential(256):
        xs.append(x.cpu())
        ys.append(y.cpu())
        seen += len(y)
        if seen >= limit:
            break
    inputs = torch.cat(xs)[:limit]
    targets = torch.cat(ys)[:limit]
    norm = info.normalization
    if info.task == "regression":
        targets = norm.invert_targets(targets.float()).reshape(len(targets), -1)
    raw = to_raw(norm, inputs.float()) if inputs.is_floating_point() else inputs.float()
    return Samples(split, info.task, inputs, targets.numpy(), list(info.class_names), norm,
                   (float(raw.min()), float(raw.max())) if len(raw) else (0.0, 1.0))


def to_raw(norm: Normalization, x: torch.Tensor) -> torch.Tensor:
    """Normalized inputs ``(N, *shape)`` back in the data's own units."""
    mul, add = norm.affine(x.shape[1:])
    return (x - add) / mul


def from_raw(norm: Normalization, raw: torch.Tensor) -> torch.Tensor:
    """Raw samples ``(N, *shape)`` in the data's units → normalized model inputs."""
    mul, add = norm.affine(raw.shape[1:])
    return raw.float() * mul + add


def sample_from_picture(samples: Samples, picture: np.ndarray,
                        shape: Sequence[int]) -> torch.Tensor:
    """A picture with values in [0, 1] (ink = 1: a drawn digit, or a loaded image already
    scaled) resized to the Input's ``(channels, height, width)`` and mapped onto the data's
    raw range, then normalized: a ``(1, *shape)`` model input."""
    channels, height, width = (int(s) for s in shape)
    pic = torch.as_tensor(np.asarray(picture, dtype=np.float32))
    if pic.dim() == 2:
        pic = pic[None]
    pic = pic[None]  # (1, C, H, W)
    pic = nn.functional.interpolate(pic, size=(height, width), mode="area")
    if pic.shape[1] != channels:
        pic = pic.mean(dim=1, keepdim=True).expand(1, channels, height, width)
    low, high = samples.raw_range
    return from_raw(samples.normalization, low + pic.clamp(0, 1) * (high - low))


def frame_drawing(samples: Samples, picture: np.ndarray) -> np.ndarray:
    """A drawing (2-D, ink = 1) cropped to its ink and centred in a square with the margin the
    data's own pictures have, as datasets of digits were prepared (each digit scaled to a box
    and centred): a digit drawn small or in a corner reads like the training data. A blank
    pad is returned as it is."""
    rows, cols = np.flatnonzero((picture > 0.05).any(1)), np.flatnonzero((picture > 0.05).any(0))
    if rows.size == 0:
        return picture
    crop = picture[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    side = max(crop.shape)
    frame = int(round(side / max(_ink_extent(samples), 0.25)))
    out = np.zeros((frame, frame), picture.dtype)
    top, left = (frame - crop.shape[0]) // 2, (frame - crop.shape[1]) // 2
    out[top:top + crop.shape[0], left:left + crop.shape[1]] = crop
    return out


def _ink_extent(samples: Samples, count: int = 200) -> float:
    """The median share of a picture's larger side that its ink spans, over the first
    ``count`` samples (1.0 for scikit-learn's digits, about 0.7 for MNIST's)."""
    pictures = samples.inputs[:count]
    if pictures.dim() != 4 or len(pictures) == 0:
        return 1.0
    flat = pictures.mean(dim=1)  # (N, H, W)
    low = flat.amin(dim=(1, 2), keepdim=True)
    high = flat.amax(dim=(1, 2), keepdim=True)
    ink = (flat - low) > 0.1 * (high - low).clamp_min(1e-12)
    extents = []
    for mask in ink:
        rows, cols = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
        if rows.numel():
            extents.append(max(int(rows[-1] - rows[0] + 1) / mask.shape[0],
                               int(cols[-1] - cols[0] + 1) / mask.shape[1]))
    return float(np.median(extents)) if extents else 1.0


def picture_from_file(path: str | os.PathLike, shape: Sequence[int]) -> np.ndarray:
    """An image file resized to the Input's ``(channels, height, width)``, values in [0, 1]."""
    channels, height, width = (int(s) for s in shape)
    color = "grayscale" if channels == 1 else "rgb"
    return decode_image(Path(path), (height, width), color).astype(np.float32) / 255.0


def sample_from_features(samples: Samples, values: Sequence[float]) -> torch.Tensor:
    """A typed row of raw feature values → a ``(1, features)`` model input."""
    width = int(samples.inputs.shape[1]) if samples.inputs.dim() == 2 else None
    if width is None or len(values) != width:
        raise DataError(f"the network takes {width} feature values, not {len(values)}")
    return from_raw(samples.normalization, torch.tensor([list(values)], dtype=torch.float32))


@dataclass
class Prediction:
    output: np.ndarray  # the network's raw output for the sample
    probabilities: np.ndarray | None  # classification: one per class, summing to 1
    predicted: int | None  # classification: the most probable class
    value: np.ndarray | None  # regression: the prediction in the data's units


def predict(model: InspectedModel, x: torch.Tensor, task: str = "classification",
            normalization: Normalization | None = None) -> Prediction:
    """The model's answer for one sample ``x`` of shape ``(1, *sample_shape)``."""
    with torch.inference_mode():
        out = first_output(model.module(x)).float()
    if task == "classification":
        probs = probabilities(out)[0]
        return Prediction(out[0].numpy(), probs.numpy(), int(probs.argmax()), None)
    value = normalization.invert_targets(out) if normalization is not None else out
    return Prediction(out[0].numpy(), None, None, value.reshape(-1).numpy())


@dataclass
class LayerOutput:
    """What one node produced for the sample (batch dimension dropped)."""

    tensor: torch.Tensor
    kind: str  # "maps" (C×H×W), "vector", "sequence" (steps × features) or "attention"
    attention: torch.Tensor | None = None  # (steps, steps), averaged over heads


def preview_kind(shape: Sequence[int]) -> str:
    """How a tensor of ``shape`` (no batch dimension) is best shown."""
    return {1: "vector", 2: "sequence", 3: "maps"}.get(len(shape), "vector" if not shape
                                                        else "maps")


def layer_outputs(model: InspectedModel, x: torch.Tensor) -> dict[str, LayerOutput]:
    """Every node's output for the one sample ``x`` ``(1, *shape)``, keyed by node id: the
    Input's is ``x`` itself, an Output's is what flows into it."""
    compiled = model.compiled
    modules = compiled.modules_by_node()
    captured: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = []
    for nid, module in modules.items():
        def hook(_m, args, out, nid=nid):
            captured[nid] = (args[0] if args else None, first_output(out))
        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            compiled.module(x)
            result = {compiled.input_nodes[0]: _output(x)}
            for nid, (inp, out) in captured.items():
                result[nid] = _output(out, _attention(modules[nid], inp))
    finally:
        for h in hooks:
            h.remove()
    for nid in compiled.output_nodes:
        src = model.design.in_edges(nid)[0].src
        if src in result:
            result[nid] = result[src]
    return result


def _output(t: torch.Tensor, attention: torch.Tensor | None = None) -> LayerOutput:
    sample = t[0].detach().float().cpu()
    kind = "attention" if attention is not None else preview_kind(tuple(sample.shape))
    return LayerOutput(sample, kind, attention)


def _attention(module: nn.Module, x: torch.Tensor | None) -> torch.Tensor | None:
    """The head-averaged attention weights ``(steps, steps)`` of an attention layer."""
    attn = module if isinstance(module, nn.MultiheadAttention) else next(
        (m for m in module.modules() if isinstance(m, nn.MultiheadAttention)), None)
    if attn is None or x is None or x.dim() != 3:
        return None
    if isinstance(module, nn.TransformerEncoderLayer) and module.norm_first:
        x = module.norm1(x)
    _out, weights = attn(x, x, x, need_weights=True, average_attn_weights=True)
    return weights[0].detach().float().cpu()
