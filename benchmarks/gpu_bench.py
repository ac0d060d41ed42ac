"""GPU training speed: Netwright's trainer against a hand-written loop, side by side (run by hand
on a CUDA machine, through benchmarks/gpu_check.sh; prints numbers, asserts nothing).

    python benchmarks/gpu_bench.py [--models cnn,resnet18] [--samples 8192] [--batch 512]
                                   [--epochs 4] [--device cuda] [--smoke]

* ``cnn``: resources/examples/digits_cnn.json on scikit-learn's digits;
* ``resnet18``: the ResNet-18 template (``main.py new resnet18``) on synthetic 3×224×224 images
  (8-bit pixels, 1000 classes).

Both contenders train with bf16 autocast, channels_last images, the fused Adam, the data on the
GPU (it fits: ``--samples`` images of 150 KB each; data too big for the device streams from an
image folder through DataLoader workers into pinned memory, not measured here). The trainer
runs as the app runs it: step events every 0.25 s, metrics and validation every epoch, layer
statistics every 50 steps. Printed per model, with *Reproducible on CUDA* on and then off
(the hand loop with cuDNN set the same way): samples/s of each (the epochs between the first
and the last), the ratio (target ≥ 0.95), and how busy the GPU was over the whole last epoch
(torch.profiler: kernel time / wall time; the trainer's includes its validation; target ≥ 90 %).
``--smoke`` runs tiny sizes (also on ``--device cpu``, in fp32) to check the script itself.

The batch is 512 by default: on an H200 at 128 both loops are bound by launching kernels (the
GPU idle 40–95 % of each step on both sides, their rates swinging ±10 % run to run); at 512 a
ResNet-18 keeps the GPU busy. The digits CNN is too small to keep any GPU busy at any batch.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from graph.fileformat import load  # noqa: E402
from runtime import devices  # noqa: E402
from runtime.compiler import compile_design  # noqa: E402
from runtime.data import DataInfo, LoadedData, Normalization, TensorSplit, load_data  # noqa: E402
from runtime.training import Trainer, first_output  # noqa: E402
from runtime.training.setup import seed_everything  # noqa: E402

def resnet18_design(small: bool):
    out = Path(tempfile.mkdtemp()) / "resnet18.json"
    args = [sys.executable, str(ROOT / "main.py"), "new", "resnet18", "-o", str(out)]
    subprocess.run(args + (["--set", "size=32", "--set", "classes=10"] if small else []),
                   check=True, capture_output=True)
    return load(out)


def synthetic_images(n: int, shape: tuple[int, ...], classes: int) -> LoadedData:
    g = torch.Generator().manual_seed(0)
    norm = Normalization(axis="channel", input_scale=1 / 255, mean=[0.5] * shape[0],
                         std=[0.25] * shape[0])
    def split(k: int) -> TensorSplit:
        return TensorSplit(torch.randint(0, 256, (k, *shape), generator=g, dtype=torch.uint8),
                           torch.randint(0, classes, (k,), generator=g), norm)
    n_val = max(n // 8, 2)
    info = DataInfo("synthetic images", "classification", shape, "float32", classes,
                    [str(i) for i in range(classes)], (), {"train": n, "val": n_val, "test": 0},
                    norm, "random 8-bit images")
    return LoadedData(info, split(n), split(n_val), split(0))


def prepared(name: str, args) -> tuple:
    if name == "cnn":
        design = load(ROOT / "resources/examples/digits_cnn.json")
        return design, load_data(design.data)
    design = resnet18_design(args.smoke)
    shape = tuple(design.inputs()[0].resolved_params()["shape"])
    classes = 10 if args.smoke else 1000
    return design, synthetic_images(args.samples, shape, classes)


def precision(device: torch.device) -> str:
    return "bf16" if device.type == "cuda" else "fp32"  # (bf16 on a CPU only emulates)


def settings(args, deterministic: bool) -> dict:
    return {"device": args.device, "precision": precision(torch.device(args.device)),
            "batch_size": args.batch, "epochs": args.epochs, "optimizer": "adam", "lr": 1e-3,
            "seed": 0, "deterministic": deterministic}



def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def busy_fraction(prof, wall: float) -> float | None:
    kernel_us = sum(e.self_device_time_total for e in prof.key_averages()
                    if e.device_type == torch.autograd.DeviceType.CUDA)
    return kernel_us / 1e6 / wall if wall > 0 and kernel_us else None


def hand_written(design, loaded: LoadedData, args, deterministic: bool
                 ) -> tuple[float, float | None]:
    """samples/s over the epochs between the first and the last, and the GPU's busy fraction
    over the last."""
    device = torch.device(args.device)
    seed_everything(0, device, deterministic)  # cuDNN set as the trainer sets it
    model = compile_design(design).module.to(device)
    layout = devices.memory_format(device, loaded.info.sample_shape)
    if layout is not None:
        model = model.to(memory_format=layout)
    data = loaded.to(device).train
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=device.type in ("cuda", "cpu"))
    n, rates = len(data), []

    def step(idx):
        x, y = data.take(idx)
        if layout is not None:
            x = x.contiguous(memory_format=layout)
        with devices.autocast(device, precision(device)):
            loss = F.cross_entropy(first_output(model(x)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def epoch() -> None:
        perm = torch.randperm(n, device=device)
        for i in range(0, n - 1, args.batch):
            step(perm[i:i + args.batch])

    for e in range(args.epochs - 1):
        sync(device)
        t0 = time.perf_counter()
        epoch()
        sync(device)
        if e:
            rates.append(n / (time.perf_counter() - t0))
    with Profiled(device) as profiled:
        epoch()
    return statistics.median(rates), profiled.busy


class Profiled:
    """torch.profiler over a span of work (entered and left by hand where the span runs inside
    the trainer's generator); ``busy``: the GPU's kernel time over the span's wall time."""

    def __init__(self, device: torch.device):
        self.device, self.busy = device, None
        self.prof = profile(activities=[ProfilerActivity.CPU] + (
            [ProfilerActivity.CUDA] if device.type == "cuda" else []))

    def __enter__(self) -> "Profiled":
        sync(self.device)
        self.prof.__enter__()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        wall = time.perf_counter() - self.t0
        self.prof.__exit__(*exc)
        self.busy = busy_fraction(self.prof, wall)


def netwright(design, loaded: LoadedData, args, deterministic: bool
              ) -> tuple[float, float | None]:
    """The trainer as the app runs it (step events every 0.25 s, metrics, layer statistics
    every 50 steps): samples/s of the epochs between the first and the last, and the GPU's
    busy fraction over the last (its validation included)."""
    rates, device, profiled = [], torch.device(args.device), None
    trainer = Trainer(design, data=loaded, write_files=False,
                      overrides=settings(args, deterministic))
    for event in trainer.run():
        kind = event["event"]
        if kind == "epoch" and 1 < event["epoch"] < args.epochs:
            rates.append(event["samples_per_s"])
        if kind == "epoch" and event["epoch"] == args.epochs - 1:
            profiled = Profiled(device).__enter__()
        elif kind == "epoch" and event["epoch"] == args.epochs and profiled is not None:
            profiled.__exit__(None, None, None)
        elif kind == "error":
            raise RuntimeError(event["message"])
    return statistics.median(rates), profiled.busy if profiled else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="cnn,resnet18")
    parser.add_argument("--samples", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=4,
                        help="at least 3: the first warms up, the last is profiled")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check the script")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs must be at least 3: the first warms up, the last is profiled")
    if args.smoke:
        args.samples, args.batch, args.epochs = 64, 8, 3
        args.models = args.models.replace("cnn", "").strip(",") or "resnet18"
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__} on {name}; {precision(device)}, channels_last on CUDA, "
          f"batch {args.batch}")
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        design, loaded = prepared(model, args)
        for deterministic in (True, False):
            hand_rate, hand_busy = hand_written(copy.deepcopy(design), loaded, args,
                                                deterministic)
            nw_rate, nw_busy = netwright(copy.deepcopy(design), loaded, args, deterministic)
            fmt = lambda b: "–" if b is None else f"{100 * b:.0f} %"  # noqa: E731
            mode = "reproducible" if deterministic else "fastest cuDNN"
            print(f"{model:<9} {mode:<13} hand-written {hand_rate:9.0f} samples/s (GPU busy "
                  f"{fmt(hand_busy)}) · netwright {nw_rate:9.0f} samples/s (GPU busy "
                  f"{fmt(nw_busy)}) · ratio {nw_rate / hand_rate:.2f} (target ≥ 0.95)",
                  flush=True)


if __name__ == "__main__":
    main()
