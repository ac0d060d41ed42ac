"""Training throughput: Netwright's trainer against plain PyTorch loops (and Lightning).

    python benchmarks/train_throughput.py [--epochs 10] [--repeats 5] [--threads N]

Every contender trains the same network (digits as 64 features, MLP 64-256-256-10, batch 64,
Adam 1e-3, a validation pass per epoch) from the same initial weights, on the CPU:

* ``dataloader``      a plain loop over ``DataLoader(TensorDataset, shuffle=True)``;
* ``index``           an index-batched loop over in-memory tensors (the baseline);
* ``index+fused``     the same loop with torch's fused Adam kernel;
* ``netwright``       :func:`runtime.training.train` with its progress events on, no run folder;
* ``netwright+files`` the same writing its run folder (metrics, checkpoints every epoch);
* ``lightning``       PyTorch Lightning (only when installed; it is not a dependency).

Runs are interleaved and repeated; the script prints the median wall time of each and its
speed relative to the index-batched loop. Targets: netwright ≥ 1.0× index, ≥ 2× lightning.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from graph.design import Design, Edge  # noqa: E402
from runtime.compiler import compile_design  # noqa: E402
from runtime.data import load_data  # noqa: E402
from runtime.training import train  # noqa: E402

BATCH, LR = 64, 1e-3


def mlp_design(epochs: int) -> Design:
    d = Design("Benchmark MLP")
    d.set_data(dict(d.data, name="digits", options={"as_images": False}))
    d.set_training(dict(d.training, epochs=epochs, batch_size=BATCH, lr=LR, optimizer="adam",
                        device="cpu", diagnostics_every=0, seed=0))
    prev = None
    for type_id, params in (("Input", {"shape": [64]}), ("Linear", {"out_features": 256}),
                            ("ReLU", {}), ("Linear", {"out_features": 256}), ("ReLU", {}),
                            ("Linear", {"out_features": 10}), ("Output", {})):
        node = d.make_node(type_id, params=params)
        d.add_node(node)
        if prev:
            d.add_edge(Edge(prev, node.id))
        prev = node.id
    return d


def validate(model, xv, yv) -> float:
    model.eval()
    with torch.inference_mode():
        acc = (model(xv).argmax(1) == yv).float().mean().item()
    model.train()
    return acc


def run_dataloader(model, data, epochs: int) -> float:
    x, y, xv, yv = data
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH,
                                         shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = validate(model, xv, yv)
    return acc


def run_index(model, data, epochs: int, fused: bool = False) -> float:
    x, y, xv, yv = data
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=fused or None)
    n = len(x)
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = validate(model, xv, yv)
    return acc


def run_netwright(design: Design, loaded, epochs: int, files: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        acc = None
        for event in train(design, data=loaded, run_dir=Path(tmp) / "run", write_files=files):
            if event["event"] == "epoch":
                acc = event["val_accuracy"]
            elif event["event"] == "error":
                raise RuntimeError(event["message"])
    return acc


def lightning_runner():
    try:
        import lightning as L
    except ImportError:
        return None

    class Module(L.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def training_step(self, batch, _):
            xb, yb = batch
            return F.cross_entropy(self.net(xb), yb)

        def validation_step(self, batch, _):
            xb, yb = batch
            self.log("val_acc", (self.net(xb).argmax(1) == yb).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    import logging
    import warnings

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    def run(model, data, epochs: int) -> float:
        x, y, xv, yv = data
        train_dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                               batch_size=BATCH, shuffle=True)
        val_dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv),
                                             batch_size=len(xv))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                                enable_checkpointing=False, enable_progress_bar=False,
                                enable_model_summary=False, num_sanity_val_steps=0)
            trainer.fit(Module(model), train_dl, val_dl)
        return validate(model, xv, yv)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    design = mlp_design(args.epochs)
    loaded = load_data(design.data)
    data = (loaded.train.x, loaded.train.y, loaded.val.x, loaded.val.y)
    torch.manual_seed(0)
    template = compile_design(design).module

    def fresh():
        return copy.deepcopy(template)

    contenders = {
        "dataloader": lambda: run_dataloader(fresh(), data, args.epochs),
        "index": lambda: run_index(fresh(), data, args.epochs),
        "index+fused": lambda: run_index(fresh(), data, args.epochs, fused=True),
        "netwright": lambda: run_netwright(design, loaded, args.epochs, files=False),
        "netwright+files": lambda: run_netwright(design, loaded, args.epochs, files=True),
    }
    lightning = lightning_runner()
    if lightning is not None:
        contenders["lightning"] = lambda: lightning(fresh(), data, args.epochs)
    else:
        print("lightning is not installed: skipped (pip install lightning to compare)")

    for fn in contenders.values():  # warm-up: imports, first-call allocations
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    accuracy: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in contenders.items():
            t = time.perf_counter()
            accuracy[name] = fn()
            times[name].append(time.perf_counter() - t)

    steps = args.epochs * -(-len(data[0]) // BATCH)
    base = statistics.median(times["index"])
    print(f"digits 64 features, MLP 64-256-256-10, batch {BATCH}, Adam, {args.epochs} epochs "
          f"({steps} steps), {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'loop':<16} {'seconds':>8} {'steps/s':>9} {'vs index':>9} {'val acc':>8}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<16} {med:8.3f} {steps / med:9.0f} {base / med:8.2f}× "
              f"{accuracy[name]:8.3f}")
    nw = statistics.median(times["netwright"])
    if "lightning" in times:
        print(f"netwright vs lightning: {statistics.median(times['lightning']) / nw:.2f}×")


if __name__ == "__main__":
    main()
