"""Declarations of the training settings and datasets a design may choose.

Like the layer catalog, these are data: the training panel, validation and the trainer all read
them. Datasets that ship with Netwright declare their sample shape and task here so a mismatch
with the design's Input is found without loading any data; file datasets (CSV, npz, image
folders, IDX) learn theirs when the runtime reads the file.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .catalog import Param
from .metrics import METRICS, metric_names, stopping_choices
from .metrics import label as metric_label

_SGD_LIKE = (("optimizer", ("sgd", "rmsprop")),)
_EARLY_STOPPING = (("early_stopping_metric", stopping_choices()[1:]),)

TRAINING_PARAMS: tuple[Param, ...] = (
    Param("optimizer", "choice", "adam", "Update rule.", choices=("sgd", "adam", "adamw", "rmsprop"),
          choice_labels=(("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"),
                         ("rmsprop", "RMSprop"))),
    Param("lr", "float", 1e-3, "Learning rate.", min=1e-8, max=10.0, label="Learning rate"),
    Param("momentum", "float", 0.9, "Momentum (SGD, RMSprop).", min=0.0, max=0.999,
          when=_SGD_LIKE),
    Param("nesterov", "bool", False, "Nesterov momentum (SGD).", label="Nesterov momentum",
          when=(("optimizer", ("sgd",)),)),
    Param("weight_decay", "float", 0.0, "L2 penalty (decoupled for AdamW).", min=0.0, max=1.0),
    Param("grad_clip", "float", 0.0, "Clip the gradient norm to this value; 0 turns it off.",
          min=0.0, max=1e6, label="Gradient clip (norm)"),
    Param("schedule", "choice", "none", "Learning-rate schedule.",
          choices=("none", "step", "cosine", "onecycle", "plateau"), label="LR schedule",
          choice_labels=(("none", "None (constant)"), ("step", "Step decay"),
                         ("cosine", "Cosine annealing"), ("onecycle", "One-cycle"),
                         ("plateau", "Reduce on plateau"))),
    Param("warmup_epochs", "int", 0, "Linear warm-up from 0 over this many epochs.", min=0,
          max=1000, label="Warm-up epochs"),
    Param("step_size", "int", 10, "Epochs between decays (step schedule).", min=1, max=10000,
          label="Step size (epochs)", when=(("schedule", ("step",)),)),
    Param("gamma", "float", 0.1, "Decay factor (step and plateau schedules).", min=1e-6, max=1.0,
          label="Decay factor", when=(("schedule", ("step", "plateau")),)),
    Param("batch_size", "int", 64, "Samples per step.", min=1, max=1_000_000),
    Param("accumulate", "int", 1, "Add up the gradients of this many batches before each "
          "optimizer step: an effective batch of batch size × this × processes, for batches "
          "that do not fit in memory at once.", min=1, max=10_000, label="Accumulate batches"),
    Param("epochs", "int", 10, "Passes over the training split.", min=1, max=100_000),
    Param("loss", "choice", "cross_entropy", "What training minimizes.",
          choices=("cross_entropy", "mse", "l1", "huber", "bce_with_logits"),
          choice_labels=(("cross_entropy", "Cross-entropy"), ("mse", "Mean squared error"),
                         ("l1", "Mean absolute error (L1)"), ("huber", "Huber"),
                         ("bce_with_logits", "Binary cross-entropy (logits)"))),
    Param("label_smoothing", "float", 0.0, "Label smoothing (cross-entropy).", min=0.0, max=0.99,
          when=(("loss", ("cross_entropy",)),)),
    Param("metrics", "str", "accuracy",
          "Comma-separated metrics: " + ", ".join(METRICS) + "."),
    Param("early_stopping_metric", "choice", "none", "Stop when this stops improving.",
          choices=stopping_choices(), label="Early stopping on",
          choice_labels=tuple((c, "Off" if c == "none" else metric_label(c))
                              for c in stopping_choices())),
    Param("patience", "int", 5, "Epochs without improvement before early stopping.", min=1,
          max=10000, label="Patience (epochs)", when=_EARLY_STOPPING),
    Param("seed", "int", 0, "Random seed: the same seed on the same device gives the same curve "
          "(on CUDA while Reproducible on CUDA is on).", min=0, max=2**31 - 1),
    Param("deterministic", "bool", True, "On CUDA, use only deterministic cuDNN algorithms, so "
          "the same seed gives the same curve. Off, cuDNN times its algorithms and takes the "
          "fastest: often faster convolutions, but runs differ a little.",
          label="Reproducible on CUDA"),
    Param("device", "str", "auto", "auto, cpu, cuda, cuda:N or mps."),
    Param("precision", "choice", "fp32", "Mixed precision on CUDA (bf16 or fp16 autocast).",
          choices=("fp32", "bf16", "fp16"), label="Mixed precision"),
    Param("diagnostics_every", "int", 50, "Record per-layer gradient and activation statistics "
          "every this many steps; 0 turns it off.", min=0, max=1_000_000,
          label="Layer stats every (steps)"),
    Param("compile", "bool", False, "Compile the network with torch.compile: a slower start, "
          "often faster steps on a GPU; where it cannot run the run trains uncompiled and says "
          "why.", label="torch.compile"),
)

# How the Training panel groups the settings (device and metrics have their own editors).
TRAINING_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Optimizer", ("optimizer", "lr", "momentum", "nesterov", "weight_decay", "grad_clip")),
    ("Schedule", ("schedule", "warmup_epochs", "step_size", "gamma")),
    ("Loop", ("batch_size", "accumulate", "epochs", "seed", "deterministic", "precision",
              "compile", "diagnostics_every")),
    ("Loss and stopping", ("loss", "label_smoothing", "early_stopping_metric", "patience")),
)

METRIC_CHOICES = metric_names()


def default_training() -> dict[str, Any]:
    return {p.name: copy.deepcopy(p.default) for p in TRAINING_PARAMS}


# The training settings a command line overrides with a flag (``main.py train``, the app's
# worker), each with the placeholder its help shows.
FLAG_SETTINGS = {"epochs": "N", "batch_size": "N", "lr": "X", "device": "D", "seed": "N"}
_FLAG_TYPES = {"int": int, "float": float, "str": str}


def add_setting_flags(parser: Any) -> None:
    """Give an argparse ``parser`` a flag per :data:`FLAG_SETTINGS` entry (``--batch-size N``),
    typed and explained by the setting's declaration; read them with :func:`flagged_settings`."""
    by_name = {p.name: p for p in TRAINING_PARAMS}
    for name, metavar in FLAG_SETTINGS.items():
        param = by_name[name]
        parser.add_argument("--" + name.replace("_", "-"), dest=name, metavar=metavar,
                            type=_FLAG_TYPES[param.kind], help=param.doc)


def flagged_settings(args: Any) -> dict[str, Any]:
    """The settings that the flags of :func:`add_setting_flags` in ``args`` override."""
    return {name: getattr(args, name) for name in FLAG_SETTINGS
            if getattr(args, name, None) is not None}


def check_training(training: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(setting, problem)`` for each invalid training setting."""
    by_name = {p.name: p for p in TRAINING_PARAMS}
    problems = []
    for key, value in training.items():
        param = by_name.get(key)
        if param is None:
            problems.append((key, "is not a training setting"))
            continue
        msg = param.check(value)
        if msg:
            problems.append((key, msg))
    metrics = training.get("metrics", "")
    if isinstance(metrics, str):
        for m in filter(None, (x.strip() for x in metrics.split(","))):
            if m not in METRIC_CHOICES:
                problems.append(("metrics", f"unknown metric {m!r} (choose from "
                                            f"{', '.join(METRIC_CHOICES)})"))
    device = training.get("device", "auto")
    if isinstance(device, str) and not _valid_device(device):
        problems.append(("device", f"{device!r} is not auto, cpu, cuda, cuda:N or mps"))
    return problems


def _valid_device(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    return device.startswith("cuda:") and device[5:].isdigit()


# ---- datasets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a design can name. ``sample_shape``/``classes`` return None when only the file
    itself can tell (the runtime then reports them)."""

    name: str
    doc: str
    kind: str  # "builtin", "synthetic" or "file"
    task: str  # "classification", "regression" or "file" (decided by the data)
    options: tuple[Param, ...] = ()
    sample_shape: Callable[[Mapping[str, Any]], tuple[int, ...] | None] = lambda o: None
    classes: Callable[[Mapping[str, Any]], int | None] = lambda o: None
    extra: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""  # what a person reads; empty: the name, spaced and capitalized

    @property
    def title(self) -> str:
        """The dataset's name for people (``breast_cancer`` → "Breast cancer")."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def path_options(self) -> tuple[str, ...]:
        """The options that name files or folders (``path`` params)."""
        return tuple(p.name for p in self.options if p.kind == "path")

    def resolve(self, options: Mapping[str, Any]) -> dict[str, Any]:
        out = {p.name: copy.deepcopy(p.default) for p in self.options}
        out.update({k: v for k, v in options.items() if k in out})
        return out


_N = Param("n_samples", "int", 1000, "Number of samples to generate.", min=10, max=10_000_000,
           label="Samples")
_NOISE = Param("noise", "float", 0.1, "Standard deviation of added noise.", min=0.0, max=10.0)
_SEED = Param("seed", "int", 0, "Seed of the generator.", min=0, max=2**31 - 1)
_PATH = Param("path", "path", "", "File or folder to read.", label="File or folder")


def _fixed(shape: tuple[int, ...]):
    return lambda o: shape


DATASETS: dict[str, DatasetSpec] = {}


def _dataset(spec: DatasetSpec) -> None:
    DATASETS[spec.name] = spec


_dataset(DatasetSpec(
    "digits", "scikit-learn's 1,797 handwritten digits, 8×8 grey images, 10 classes.",
    "builtin", "classification",
    options=(Param("as_images", "bool", True, "1×8×8 images (true) or 64 features (false).",
                   label="As images"),),
    sample_shape=lambda o: (1, 8, 8) if o.get("as_images", True) else (64,),
    classes=lambda o: 10,
))
_dataset(DatasetSpec(
    "digits_parity", "The same 1,797 digits labelled even or odd: 8×8 grey images, 2 classes "
    "(a transfer task for networks trained on digits).", "builtin", "classification",
    options=(Param("as_images", "bool", True, "1×8×8 images (true) or 64 features (false)."),),
    sample_shape=lambda o: (1, 8, 8) if o.get("as_images", True) else (64,),
    classes=lambda o: 2,
))
_dataset(DatasetSpec("iris", "Fisher's iris flowers: 4 measurements, 3 species.", "builtin",
                     "classification", sample_shape=_fixed((4,)), classes=lambda o: 3))
_dataset(DatasetSpec("wine", "Wine recognition: 13 chemical measurements, 3 cultivars.", "builtin",
                     "classification", sample_shape=_fixed((13,)), classes=lambda o: 3))
_dataset(DatasetSpec("breast_cancer", "Breast cancer Wisconsin: 30 features, 2 classes.", "builtin",
                     "classification", sample_shape=_fixed((30,)), classes=lambda o: 2))
_dataset(DatasetSpec("diabetes", "Diabetes progression: 10 features, regression target.", "builtin",
                     "regression", sample_shape=_fixed((10,)), classes=lambda o: None))
_dataset(DatasetSpec("moons", "Two interleaving half circles in 2-D.", "synthetic", "classification",
                     options=(_N, _NOISE, _SEED), sample_shape=_fixed((2,)), classes=lambda o: 2))
_dataset(DatasetSpec("circles", "A circle inside another in 2-D.", "synthetic", "classification",
                     options=(_N, Param("noise", "float", 0.05, _NOISE.doc, min=0.0, max=10.0),
                              Param("factor", "float", 0.5, "Inner/outer radius ratio.", min=0.01,
                                    max=0.99, label="Radius ratio"), _SEED),
                     sample_shape=_fixed((2,)), classes=lambda o: 2))
_dataset(DatasetSpec("spirals", "Interleaved 2-D spirals, one per class.", "synthetic",
                     "classification",
                     options=(_N, _NOISE, Param("classes", "int", 2, "Number of spirals.", min=2,
                                                max=10), _SEED),
                     sample_shape=_fixed((2,)), classes=lambda o: int(o.get("classes", 2))))
_dataset(DatasetSpec("xor", "Points in four quadrants labelled by the sign of x·y.", "synthetic",
                     "classification", options=(_N, _NOISE, _SEED), sample_shape=_fixed((2,)),
                     classes=lambda o: 2, label="XOR"))
_dataset(DatasetSpec("sine", "Noisy sine wave: x → sin(x) + noise (regression).", "synthetic",
                     "regression", options=(_N, _NOISE, _SEED), sample_shape=_fixed((1,)),
                     classes=lambda o: None))
CSV_DELIMITERS = {"auto": None, "comma": ",", "semicolon": ";", "tab": "\t", "bar": "|",
                  "space": " "}  # the delimiter option's choices and the characters they mean
CSV_DELIMITERS_CHOICES = tuple(CSV_DELIMITERS)

_dataset(DatasetSpec(
    "csv", "A CSV file: choose the target column and the feature columns.", "file", "file",
    options=(_PATH,
             Param("target", "str", "", "Target column (name); empty means the last column.",
                   label="Target column"),
             Param("features", "str", "", "Comma-separated feature columns; empty means all others.",
                   label="Feature columns"),
             Param("task", "choice", "auto", "classification, regression, or auto (text or few "
                   "distinct integer values → classes).",
                   choices=("auto", "classification", "regression")),
             Param("header", "choice", "auto", "Whether the first line (after skipped ones) names "
                   "the columns; auto decides from its cells (text above numbers).",
                   choices=("auto", "yes", "no"), label="Header line"),
             Param("skip_rows", "int", 0, "Lines to skip at the top. A preamble line with another "
                   "number of fields than the data is detected and skipped anyway.", min=0,
                   max=1_000_000, label="Skip lines"),
             Param("delimiter", "choice", "auto", "What separates the fields; auto detects comma, "
                   "semicolon, tab or bar.", choices=CSV_DELIMITERS_CHOICES, label="Delimiter"),
             Param("missing", "choice", "error", "An empty or NA cell: stop with an error naming "
                   "its line and column, drop its row, or fill it with the training split's "
                   "column mean (a missing target always drops the row).",
                   choices=("error", "drop", "mean"), label="Missing cells")),
    label="CSV file",
))
_dataset(DatasetSpec("npz", "A NumPy .npz file holding arrays x and y.", "file", "file",
                     options=(_PATH, Param("task", "choice", "auto", "As for CSV.",
                                           choices=("auto", "classification", "regression")),),
                     label="NumPy .npz file"))
_dataset(DatasetSpec(
    "images", "An image folder: root/<class>/*.png|jpg.", "file", "classification",
    options=(_PATH,
             Param("size", "ints", [28, 28], "Height and width to resize to.", min=1, max=4096,
                   length=2, label="Image size"),
             Param("color", "choice", "grayscale", "grayscale or rgb.",
                   choices=("grayscale", "rgb"), label="Colour",
                   choice_labels=(("rgb", "RGB"),))),
    sample_shape=lambda o: ((1 if o.get("color", "grayscale") == "grayscale" else 3,)
                            + tuple(o.get("size", [28, 28]))),
    label="Image folder",
))
_dataset(DatasetSpec(
    "idx", "MNIST-style IDX files (images and labels).", "file", "classification",
    options=(Param("images", "path", "", "IDX file of images (…-images-idx3-ubyte).",
                   label="Images file"),
             Param("labels", "path", "", "IDX file of labels (…-labels-idx1-ubyte).",
                   label="Labels file")),
    label="IDX files",
))

DATA_PARAMS: tuple[Param, ...] = (
    Param("val_fraction", "float", 0.15, "Share of samples held out for validation.", min=0.0,
          max=0.9, label="Validation share"),
    Param("test_fraction", "float", 0.15, "Share of samples held out for the final test.",
          min=0.0, max=0.9, label="Test share"),
    Param("split_seed", "int", 0, "Seed of the train/validation/test split.", min=0, max=2**31 - 1),
    Param("normalize", "bool", True, "Standardize features with statistics of the training split.",
          label="Normalize features"),
)


def default_data() -> dict[str, Any]:
    data: dict[str, Any] = {"name": "digits", "options": DATASETS["digits"].resolve({})}
    data.update({p.name: p.default for p in DATA_PARAMS})
    return data


def check_data(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, problem)`` for each invalid part of a dataset choice."""
    problems: list[tuple[str, str]] = []
    name = data.get("name")
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        return [("name", f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")]
    options = data.get("options", {})
    if not isinstance(options, dict):
        return [("options", "must be an object")]
    by_name = {p.name: p for p in spec.options}
    for key, value in options.items():
        param = by_name.get(key)
        if param is None:
            problems.append((f"options.{key}", f"is not an option of {name}"))
        elif msg := param.check(value):
            problems.append((f"options.{key}", msg))
    for param in DATA_PARAMS:
        if param.name in data and (msg := param.check(data[param.name])):
            problems.append((param.name, msg))
    fractions = [data.get("val_fraction", 0), data.get("test_fraction", 0)]
    if all(_is_number(f) for f in fractions) and sum(fractions) >= 0.95:
        problems.append(("val_fraction", "validation and test leave too little for training"))
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _valid_spec(data: Mapping[str, Any]) -> DatasetSpec | None:
    """The dataset ``data`` names when the choice passes :func:`check_data`, else None."""
    name = data.get("name")
    if not isinstance(name, str) or name not in DATASETS or check_data(data):
        return None
    return DATASETS[name]


def dataset_shape(data: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The declared sample shape of a valid dataset choice, or None when the file decides (or
    the choice itself is invalid: :func:`check_data` explains why)."""
    spec = _valid_spec(data)
    if spec is None:
        return None
    return spec.sample_shape(spec.resolve(data.get("options", {})))


def dataset_classes(data: Mapping[str, Any]) -> int | None:
    spec = _valid_spec(data)
    if spec is None:
        return None
    return spec.classes(spec.resolve(data.get("options", {})))
