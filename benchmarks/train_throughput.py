"""Training throughput: Netwright's trainer against hand-written PyTorch loops (and Lightning).

    python benchmarks/train_throughput.py [--models mlp,cnn,lstm] [--epochs 5] [--repeats 3]
                                          [--threads N] [--overhead-epochs 30] [--rounds 9]
                                          [--skip-throughput] [--skip-overhead]
                                          [--skip-modules] [--compile]

On a shared machine: ``OMP_NUM_THREADS=1 … --threads 1``; every figure is side by side in one
run, in CPU time of this process (what a busy machine disturbs least; wall time is shown too)
with the load average, and the last lines say which targets are met.

Every contender trains the same network from the same initial weights on the CPU (batch 64,
Adam 1e-3, a validation pass per epoch), on scikit-learn's digits:

* ``mlp``  64-256-256-10 on the 64 pixels; ``cnn`` resources/examples/digits_cnn.json;
  ``lstm`` resources/examples/digits_lstm.json (rows of the image as a sequence).

What each contender's time covers, the same for all: from the same loaded data in memory
(loaded once, outside the timing: 8-bit pixels and their normalization) to the trained model —
preparing the samples (the hand loops normalize them into float tensors once, up front; the
trainer per batch), building the model (each layer constructed with torch's default
initialization after seeding, as ``Net()`` would: the same initial weights for everyone), the
optimizer, the epochs and a validation pass per epoch (loss and accuracy). The hand loops hold
their model as an ``nn.Sequential`` of the layers (the three networks are chains); the trainer
is handed the design, so its time also covers what only it does: checking settings and design,
compiling the design to a ``GraphModule``, progress events, metrics (loss, accuracy,
precision/recall/F1, confusion matrix) and layer statistics.

Contenders, interleaved and repeated; netwright's speed-up is the ratio of the least CPU times
(a busy machine only ever adds time), the paired per-round ratios show the spread:

* ``index+fused``   the best hand-written loop: index-batched over in-memory tensors, torch's
  fused Adam, ``zero_grad(set_to_none=True)`` — the baseline;
* ``index+foreach`` the same with the foreach Adam;
* ``dataloader``    ``DataLoader(TensorDataset, shuffle=True)`` and the default Adam;
* ``netwright``     :func:`runtime.training.train` as the app runs it: progress events, metrics
  and layer statistics every 50 steps (the default), no run folder;
* ``lightning``     PyTorch Lightning at its leanest, when installed (it is not a dependency);
* ``netwright+files`` against ``lightning+defaults``: each as a user runs it, writing what it
  keeps — the trainer its run folder (events, checkpoints, status), Lightning its default
  logger and checkpoint, with its progress bar and model summary (written to nowhere).

Also measured (each side by side in the same run):

* the trainer's own per-step overhead (events, metrics, probes) on a network so small that the
  step itself costs almost nothing: (trainer − its own steps run bare) / steps, in µs of CPU,
  from each run's least time over many interleaved rounds, on digits' whole (20-batch) epochs
  and split, from epochs of two lengths, into a part per step and a part per epoch (the
  validation metrics and the epoch event, which long epochs spread thinner); and the whole
  difference to the best hand loop per step (negative where the trainer's steps are leaner);
* forward + backward of the compiled ``torch.fx`` GraphModule against a hand-written
  ``nn.Module`` calling the same layers, for several sizes (ratio ≥ 0.98 wanted);
* ``--compile``: the ``compile`` training setting (torch.compile) against eager, per epoch after
  the first (which pays for compiling) and in total.

Targets: netwright ≥ 1.0× index+fused and ≥ 3× lightning; overhead ≤ 20 µs/step.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from graph.catalog import CATALOG  # noqa: E402
from graph.design import Design, Edge  # noqa: E402
from graph.fileformat import load  # noqa: E402
from runtime.compiler import compile_design, layer_class  # noqa: E402
from runtime.data import load_data  # noqa: E402
from runtime.training import first_output, train  # noqa: E402

BATCH, LR = 64, 1e-3
EXAMPLES = ROOT / "resources" / "examples"


def chain_design(name: str, layers: list[tuple[str, dict]], epochs: int) -> Design:
    d = Design(name)
    d.set_data(dict(d.data, name="digits", options={"as_images": False}))
    d.set_training(dict(d.training, epochs=epochs))
    prev = None
    for type_id, params in [("Input", {"shape": [64]})] + layers + [("Output", {})]:
        node = d.make_node(type_id, params=params)
        d.add_node(node)
        if prev:
            d.add_edge(Edge(prev, node.id))
        prev = node.id
    return d


def mlp(epochs: int, width: int = 256, depth: int = 2) -> Design:
    layers = []
    for _ in range(depth):
        layers += [("Linear", {"out_features": width}), ("ReLU", {})]
    return chain_design(f"MLP 64-{width}x{depth}-10", layers + [("Linear", {"out_features": 10})],
                        epochs)


def example(name: str) -> Callable[[int], Design]:
    def make(epochs: int) -> Design:
        d = load(EXAMPLES / f"{name}.json")
        d.set_training(dict(d.training, epochs=epochs))
        return d
    return make


MODELS = {"mlp": mlp, "cnn": example("digits_cnn"), "lstm": example("digits_lstm")}


def benchmark_settings(design: Design, epochs: int, **extra) -> Design:
    design.set_training(dict(design.training, epochs=epochs, batch_size=BATCH, lr=LR,
                             optimizer="adam", device="cpu", seed=0, schedule="none",
                             grad_clip=0.0, weight_decay=0.0, **extra))
    return design


# ---- contenders ------------------------------------------------------------------------------


def as_tensors(loaded) -> tuple[torch.Tensor, ...]:
    """Training and validation samples as ready float tensors: a hand loop's preparation of
    the loaded data (8-bit pixels normalized once, up front; the trainer normalizes them per
    batch itself)."""
    train, val = loaded.train, loaded.val
    return (train.take(torch.arange(len(train)))[0], train.y,
            val.take(torch.arange(len(val)))[0], val.y)


def validate(model, xv, yv) -> tuple[float, float]:
    """Validation loss and accuracy (what the trainer's epoch event reports, and a hand loop
    prints each epoch)."""
    model.eval()
    with torch.inference_mode():
        out = first_output(model(xv))
        loss = F.cross_entropy(out, yv).item()
        acc = (out.argmax(1) == yv).float().mean().item()
    model.train()
    return loss, acc


def hand_model(design: Design) -> Callable[[], nn.Module]:
    """What a person's ``Net()`` does, as a function: the design's layers, each constructed
    with torch's default initialization after ``torch.manual_seed(seed)`` (as the trainer
    seeds), in an ``nn.Sequential``. The constructors and their arguments are looked up once;
    calling the function builds a fresh model. The initial weights are checked to be the
    trainer's."""
    torch.manual_seed(design.training["seed"])
    compiled = compile_design(design)
    inference, layers, previous = compiled.report.inference, [], None
    for node in compiled.module.graph.nodes:
        if node.op == "call_module":
            if previous is not None and node.args != (previous,):
                raise ValueError(f"{design.name} is not a chain of layers")
            nid = node.meta["netwright_node"]
            layer = CATALOG[design.node(nid).type]
            params = layer.resolve(inference.bound.get(nid, design.node(nid).params))
            shapes = inference.input_shapes[nid]
            layers.append((layer_class(layer, params, shapes), layer.torch_kwargs(params, shapes)))
        previous = node if node.op in ("call_module", "placeholder") else previous
    seed = design.training["seed"]

    def build() -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(*(cls(**kwargs) for cls, kwargs in layers))

    built, expected = build().state_dict().values(), compiled.module.state_dict().values()
    if len(built) != len(expected) or not all(map(torch.equal, built, expected)):
        raise AssertionError(f"{design.name}: the hand-built model's initial weights differ")
    return build


def run_index(model, data, epochs: int, adam: dict) -> float:
    x, y, xv, yv = data
    opt = torch.optim.Adam(model.parameters(), lr=LR, **adam)
    n = len(x)
    for _ in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n - 1, BATCH):
            idx = perm[i:i + BATCH]
            loss = F.cross_entropy(first_output(model(x.index_select(0, idx))), y.index_select(0, idx))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _, acc = validate(model, xv, yv)
    return acc


def run_dataloader(model, data, epochs: int) -> float:
    x, y, xv, yv = data
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=BATCH,
                                         shuffle=True)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(first_output(model(xb)), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        _, acc = validate(model, xv, yv)
    return acc


def run_netwright(design: Design, loaded, limit: int | None = None, files: bool = False
                  ) -> tuple[float, list[float]]:
    """Final validation accuracy and each epoch's duration (``limit``: batches per epoch;
    ``files``: with the run folder the app writes — events, checkpoints, status — in a
    temporary folder)."""
    with tempfile.TemporaryDirectory() if files else contextlib.nullcontext() as folder:
        return _netwright_events(train(design, data=loaded, write_files=files,
                                       limit_batches=limit,
                                       run_dir=Path(folder) / "run" if folder else None))


def _netwright_events(events) -> tuple[float, list[float]]:
    acc, durations = None, []
    for event in events:
        if event["event"] == "epoch":
            acc = event["val_accuracy"]
            durations.append(event["duration_s"])
        elif event["event"] == "error":
            raise RuntimeError(event["message"])
    return acc, durations


def _hide_torchvision() -> None:
    """Lightning (through torchmetrics) imports torchvision when its package is installed; a
    torchvision built for another torch fails to import, and Lightning needs none of it here."""
    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - any failure: hide it from torchmetrics
        from lightning_utilities.core import imports

        check = imports.RequirementCache._check_requirement

        def without_torchvision(self) -> None:
            if self.requirement and self.requirement.startswith("torchvision"):
                self.available, self.message = False, "torchvision hidden (does not import)"
                return
            check(self)

        imports.RequirementCache._check_requirement = without_torchvision
        sys.modules["torchvision"] = None


def lightning_runner(defaults: bool = False):
    """Lightning's fit as its leanest (no logger, checkpoints, progress bar, model summary or
    sanity check), or with ``defaults`` as a user runs it: its default logger and checkpoint
    in a temporary folder, its progress bar (written to nowhere), model summary and sanity
    check."""
    try:
        _hide_torchvision()
        import lightning as L
    except ImportError:
        return None
    import logging
    import warnings

    class Module(L.LightningModule):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def training_step(self, batch, _):
            xb, yb = batch
            return F.cross_entropy(first_output(self.net(xb)), yb)

        def validation_step(self, batch, _):
            xb, yb = batch
            self.log("val_acc", (first_output(self.net(xb)).argmax(1) == yb).float().mean())

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=LR)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    def run(model, data, epochs: int) -> float:
        x, y, xv, yv = data
        train_dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                               batch_size=BATCH, shuffle=True)
        val_dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv),
                                             batch_size=len(xv))
        lean = {} if defaults else {
            "logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
            "enable_model_summary": False, "num_sanity_val_steps": 0}
        with warnings.catch_warnings(), tempfile.TemporaryDirectory() as folder, \
                open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere), \
                contextlib.redirect_stderr(nowhere):
            warnings.simplefilter("ignore")
            trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1,
                                default_root_dir=folder, **lean)
            trainer.fit(Module(model), train_dl, val_dl)
        return validate(model, xv, yv)[1]

    return run


def timed(contenders: dict[str, Callable[[], object]], repeats: int
          ) -> dict[str, list[tuple[float, float]]]:
    """``(wall, cpu)`` seconds of each contender per round; the rounds interleave them."""
    for fn in contenders.values():  # warm-up: imports, first-call allocations
        fn()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - t, time.process_time() - c))
    return times


def span(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def load_note() -> str:
    """The machine's load average: the figures of a busy machine are only comparable side by
    side (CPU time suffers least)."""
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "load average unknown"


def throughput(model_name: str, epochs: int, repeats: int, lightning, lightning_defaults
               ) -> dict[str, float]:
    """Prints the table; returns netwright's speed relative to each contender (least CPU
    time over the rounds)."""
    design = benchmark_settings(MODELS[model_name](epochs), epochs)
    loaded = load_data(design.data)
    fresh = hand_model(design)  # built inside each timed run, as the trainer builds its own
    contenders = {
        "index+fused": lambda: run_index(fresh(), as_tensors(loaded), epochs, {"fused": True}),
        "index+foreach": lambda: run_index(fresh(), as_tensors(loaded), epochs,
                                           {"foreach": True}),
        "dataloader": lambda: run_dataloader(fresh(), as_tensors(loaded), epochs),
        "netwright": lambda: run_netwright(design, loaded),
    }
    if lightning is not None:
        contenders["lightning"] = lambda: lightning(fresh(), as_tensors(loaded), epochs)
        contenders["netwright+files"] = lambda: run_netwright(design, loaded, files=True)
        contenders["lightning+defaults"] = lambda: lightning_defaults(
            fresh(), as_tensors(loaded), epochs)
    times = timed(contenders, repeats)
    steps = epochs * -(-len(loaded.train) // BATCH)
    print(f"\n{design.name}: {len(loaded.train)} training samples, batch {BATCH}, {epochs} epochs "
          f"({steps} steps), {torch.get_num_threads()} threads, {repeats} runs each, "
          f"{load_note()}")
    print(f"{'loop':<18} {'CPU s: least, median':>21} {'wall s':>7} {'steps/s':>8} "
          f"{'netwright is (least CPU)':>25} {'(paired CPU runs)':>19}")
    summary = {}
    for name, ts in times.items():
        cpu = [c for _, c in ts]
        # A busy machine only adds CPU time: each contender's least time is its cost; the
        # ratios of the runs of one round (paired) show the spread. Lightning with its defaults
        # is compared with the trainer writing its run folder, the rest with the trainer without.
        mine = name.startswith("netwright")
        ours = "netwright+files" if name == "lightning+defaults" else "netwright"
        paired = [c / n for (_, c), (_, n) in zip(ts, times[ours])]
        summary[name] = min(cpu) / min(c for _, c in times[ours])
        wall = statistics.median(w for w, _ in ts)
        print(f"{name:<18} {min(cpu):10.3f} {statistics.median(cpu):10.3f} {wall:7.3f} "
              f"{steps / wall:8.0f} {'' if mine else f'{summary[name]:.3f}×':>25} "
              f"{'' if mine else span(paired) + '×':>19}")
    return summary


# ---- the trainer's own overhead -----------------------------------------------------------------


def cpu_seconds(fn: Callable[[], object]) -> float:
    """CPU time of ``fn()`` in this process (one torch thread: the work done, not the waiting
    for a busy machine's cores)."""
    t = time.process_time()
    fn()
    return time.process_time() - t


def bare_runner(design: Design, loaded, limit: int | None = None) -> Callable[[], None]:
    """The trainer's own work with nothing around it: a run prepared by the trainer (checks,
    compiled model, data on the device, sampler, loss, optimizer and its step), then epochs of
    exactly its batches, forward, loss, backward and optimizer steps, and a validation pass
    of loss and accuracy — no events, no per-step loss check, no metrics beyond accuracy,
    no layer statistics, no schedule or pause bookkeeping."""
    from runtime.training.evaluation import evaluation_batch_size
    from runtime.training.loop import Trainer

    def run() -> None:
        trainer = Trainer(design, data=loaded, write_files=False, limit_batches=limit)
        for _ in trainer._prepare():
            pass
        loop = trainer._build_loop()
        model, loss_fn, val = loop.train_model, trainer.loss_fn, loop.data.val
        eval_batch = evaluation_batch_size(loop.batch_size, val.x[0].numel())
        for epoch in range(loop.epochs):
            model.train()
            for x, y in loop.data.train.batches(loop.sampler.order(epoch), loop.batch_size,
                                                loop.steps_per_epoch):
                loss = loss_fn(first_output(model(x)), y)
                for p in loop.params:
                    p.grad = None
                loss.backward()
                loop.step_optimizer()
            model.eval()
            with torch.inference_mode():
                for xv, yv in val.sequential(eval_batch):
                    out = first_output(model(xv))
                    loss_fn(out, yv).item(), (out.argmax(1) == yv).float().mean().item()
    return run


SHORT_EPOCHS = 5  # batches per epoch of the runs that separate per-step from per-epoch costs


def overhead(long: int, rounds: int) -> dict[str, tuple[float, float, float]]:
    """µs of CPU, on a network whose step is tiny, of what the trainer does around its steps
    (events, the per-step loss check, metrics, layer statistics, bookkeeping): the trainer
    against :func:`bare_runner` — its own steps with nothing around them — which cannot come
    out below zero but by noise. Also the whole difference to the best hand loop (which may be
    negative: the trainer's steps themselves are leaner than a hand loop's).

    Each side runs ``short`` and ``long`` epochs: the difference of the two cancels the fixed
    costs (start-up, compiling the design) and leaves each epoch's (its steps and one
    validation). Each side also runs epochs cut to :data:`SHORT_EPOCHS` batches: from epochs of
    two lengths, the per-epoch cost splits into a part per step and a part per epoch
    (validation metrics, the epoch event). All run interleaved in the same rounds; many steps
    and each run's least CPU time over the rounds keep a busy machine's noise out of the
    figures. Returns, per trainer configuration, its overhead in µs per step on digits' whole
    epochs, and that split: µs per step, µs per epoch."""
    short = 2
    long = max(long, short + 4)
    designs = {(label, e): benchmark_settings(chain_design(
        "tiny", [("Linear", {"out_features": 10})], e), e, diagnostics_every=diag)
        for label, diag in OVERHEAD_CONFIGS.items() for e in (short, long)}
    loaded = load_data(designs["probes off", short].data)
    full = -(-(len(loaded.train) - 1) // BATCH)  # batches in a whole epoch
    print(f"\ntrainer overhead (Linear 64→10, batch {BATCH}, {full} batches per epoch; least CPU "
          f"time of {long} − {short} epochs, also with epochs cut to {SHORT_EPOCHS} batches, "
          f"over {rounds} interleaved rounds; target ≤ 20 µs/step; {load_note()}):")
    fresh = hand_model(designs["probes off", short])
    runs: dict[tuple, Callable[[], object]] = {
        ("loop", e, None): (lambda e=e: run_index(fresh(), as_tensors(loaded), e, {"fused": True}))
        for e in (short, long)}
    for cut in (None, SHORT_EPOCHS):
        runs.update({("bare", e, cut): bare_runner(designs["probes off", e], loaded, cut)
                     for e in (short, long)})
        runs.update({(label, e, cut): (lambda key=(label, e), cut=cut: run_netwright(
            designs[key], loaded, cut)) for label, e in designs})
    t = interleaved(runs, rounds)
    batches = {None: full, SHORT_EPOCHS: SHORT_EPOCHS}

    def per_epoch(side: str, cut: int | None, i: int | None = None) -> float:
        """µs per epoch of ``side``: from its least times, or from round ``i``."""
        pick = min if i is None else (lambda v: v[i])
        return (pick(t[side, long, cut]) - pick(t[side, short, cut])) / (long - short) * 1e6

    def split(side: str, base: str) -> tuple[float, float, float]:
        """``side`` over ``base``: µs per step of whole epochs, µs per step, µs per epoch."""
        extra = {cut: per_epoch(side, cut) - per_epoch(base, cut) for cut in batches}
        step = (extra[None] - extra[SHORT_EPOCHS]) / (full - SHORT_EPOCHS)
        return extra[None] / full, step, extra[SHORT_EPOCHS] - SHORT_EPOCHS * step

    loop, bare = per_epoch("loop", None) / full, per_epoch("bare", None) / full
    print(f"  a whole step: best hand loop {loop:.0f} µs, the trainer's bare steps {bare:.0f} µs")
    result = {}
    for label in OVERHEAD_CONFIGS:
        result[label] = whole, step, epoch = split(label, "bare")
        paired = [(per_epoch(label, None, i) - per_epoch("bare", None, i)) / full
                  for i in range(rounds)]
        print(f"  trainer around its steps, {label:<22} {whole:6.1f} µs/step = {step:5.1f} µs "
              f"per step + {epoch:4.0f} µs per epoch (per round: {span(paired, '{:.1f}')})")
    whole = (per_epoch("probes off", None) - per_epoch("loop", None)) / full
    print(f"  trainer − best hand loop, probes off           {whole:6.1f} µs/step")
    return result


OVERHEAD_CONFIGS = {"probes every 50 steps": 50, "probes off": 0}


def interleaved(runs: dict[tuple, Callable[[], object]], rounds: int) -> dict[tuple, list[float]]:
    """CPU seconds of each run in each of ``rounds`` rounds (after one to warm up), in an order
    that alternates so that no run is always first."""
    t: dict[tuple, list[float]] = {key: [] for key in runs}
    for r in range(rounds + 1):
        for key in (list(runs) if r % 2 else list(reversed(runs))):
            seconds = cpu_seconds(runs[key])
            if r:
                t[key].append(seconds)
    return t


# ---- GraphModule against a hand-written module ------------------------------------------------


class HandWritten(nn.Module):
    """What a person writes: the layers as attributes, a forward that calls them in order."""

    def __init__(self, graph_module: nn.Module):
        super().__init__()
        self.names = [n.target for n in graph_module.graph.nodes if n.op == "call_module"]
        for name in self.names:
            setattr(self, name, graph_module.get_submodule(name))

    def forward(self, x):
        for name in self.names:
            x = getattr(self, name)(x)
        return x


def fwd_bwd_ratio(design: Design, iterations: int, repeats: int) -> list[float]:
    """hand / GraphModule CPU time of ``iterations`` forward+backward passes, per round; the
    rounds alternate which goes first (the second of a pair runs on warmer caches)."""
    torch.manual_seed(0)
    graph_module = compile_design(design).module
    hand = HandWritten(graph_module)  # the very same layers and weights
    shape = tuple(design.inputs()[0].resolved_params()["shape"])
    x = torch.randn(BATCH, *shape)

    def loop(model) -> float:
        t = time.process_time()
        for _ in range(iterations):
            model(x).sum().backward()
        return time.process_time() - t

    for model in (graph_module, hand):
        loop(model)
    ratios = []
    for r in range(repeats):
        if r % 2:
            t_hand, t_graph = loop(hand), loop(graph_module)
        else:
            t_graph, t_hand = loop(graph_module), loop(hand)
        ratios.append(t_hand / t_graph)
    return ratios


def modules(repeats: int) -> dict[str, float]:
    print(f"\nforward+backward, compiled GraphModule vs hand-written nn.Module (batch {BATCH}, "
          f"CPU time, median of {repeats} rounds in alternating order; > 1 means the GraphModule "
          f"is faster; target ≥ 0.98; {load_note()}):")
    cases = [(f"MLP width {w} × {d}", mlp(1, w, d), it) for w, d, it in
             ((64, 2, 400), (256, 4, 200), (1024, 4, 30))]
    cases += [(f"{name} example", MODELS[name](1), 100) for name in ("cnn", "lstm")]
    result = {}
    for label, design, iterations in cases:
        ratios = fwd_bwd_ratio(design, iterations, repeats)
        result[label] = statistics.median(ratios)
        print(f"  {label:<22} {span(ratios, '{:.3f}')}×")
    return result


# ---- torch.compile ------------------------------------------------------------------------------


def compile_speedup(names: list[str], epochs: int) -> None:
    print("\nthe compile setting (torch.compile) against eager, the same run otherwise (wall "
          "time, after an untimed eager run of each model):")
    for name in names:
        warm = benchmark_settings(MODELS[name](1), 1)
        for _ in train(warm, data=load_data(warm.data), write_files=False):
            pass  # first-call costs (lazy imports, allocator) out of the eager figures
        rows = {}
        for flag in (False, True):
            design = benchmark_settings(MODELS[name](epochs), epochs, compile=flag)
            loaded = load_data(design.data)
            events = []
            t = time.perf_counter()
            for event in train(design, data=loaded, write_files=False):
                events.append(event)
            total = time.perf_counter() - t
            warnings = [e["message"] for e in events if e["event"] == "warning"]
            later = [e["duration_s"] for e in events if e["event"] == "epoch"][1:]
            rows[flag] = (total, statistics.median(later), warnings)
        (t_e, ep_e, _), (t_c, ep_c, warn) = rows[False], rows[True]
        note = f" — {warn[0]}" if warn else ""
        print(f"  {name:<5} epoch after the first: eager {ep_e:.3f} s, compiled {ep_c:.3f} s "
              f"= {ep_e / ep_c:.2f}× · whole run ({epochs} epochs, compiling included): "
              f"{t_e:.1f} s vs {t_c:.1f} s{note}")


def verdict(throughputs: dict[str, dict[str, float]],
            overheads: dict[str, tuple[float, float, float]],
            module_ratios: dict[str, float]) -> None:
    """One line per target: met or not, from the medians above (CPU time)."""
    print(f"\ntargets (least CPU times; {load_note()}):")

    def line(ok: bool, text: str) -> None:
        print(f"  [{'met' if ok else 'NOT met'}] {text}")

    for name, ratios in throughputs.items():
        line(ratios["index+fused"] >= 1.0,
             f"{name}: netwright {ratios['index+fused']:.2f}× index+fused (≥ 1.0)")
        if "lightning" in ratios:
            # 3× Lightning means beating the best hand loop by lightning/index+fused ÷ 3.
            needed = 3.0 * ratios["index+fused"] / ratios["lightning"]
            line(ratios["lightning"] >= 3.0,
                 f"{name}: netwright {ratios['lightning']:.2f}× lightning at its leanest (≥ 3.0; "
                 f"the best hand loop is {ratios['lightning'] / ratios['index+fused']:.2f}× "
                 f"that, so 3× needs {needed:.2f}× the best hand loop)")
            line(ratios["lightning+defaults"] >= 3.0,
                 f"{name}: netwright with its run folder {ratios['lightning+defaults']:.2f}× "
                 f"lightning with its defaults (logger, checkpoint, progress bar; ≥ 3.0)")
    for label, (whole, step, epoch) in overheads.items():
        line(whole <= 20.0, f"trainer overhead around its steps, {label}: {whole:.1f} µs/step "
                            f"on digits' epochs (≤ 20): {step:.1f} µs per step (≤ 20) and "
                            f"{epoch:.0f} µs per epoch, {epoch / 20:.1f} µs/step at 20 steps "
                            f"an epoch, {epoch / 500:.1f} at 500")
    if module_ratios:
        worst = min(module_ratios, key=module_ratios.get)
        line(module_ratios[worst] >= 0.98, f"GraphModule vs hand-written, lowest: "
             f"{module_ratios[worst]:.3f}× ({worst}; ≥ 0.98)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,cnn,lstm")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--overhead-epochs", type=int, default=30,
                        help="epochs of the longer overhead run (the shorter has 2)")
    parser.add_argument("--rounds", type=int, default=9,
                        help="rounds of the overhead and GraphModule measurements")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-modules", action="store_true")
    parser.add_argument("--compile", action="store_true", help="measure the compile setting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {load_note()}")
    if torch.get_num_threads() > 1 and os.getloadavg()[0] > (os.cpu_count() or 1):
        print("warning: several threads on a busy machine: OpenMP's spin-waiting for cores counts "
              "as CPU time and the figures scatter; use OMP_NUM_THREADS=1 … --threads 1")
    throughputs, overheads, module_ratios = {}, {}, {}
    if not args.skip_throughput:
        lightning, lightning_defaults = lightning_runner(), lightning_runner(defaults=True)
        if lightning is None:
            print("lightning is not installed: skipped (pip install lightning to compare)")
        for name in names:
            throughputs[name] = throughput(name, args.epochs, args.repeats, lightning,
                                           lightning_defaults)
    if not args.skip_overhead:
        overheads = overhead(args.overhead_epochs, args.rounds)
    if not args.skip_modules:
        module_ratios = modules(args.rounds)
    if args.compile:
        compile_speedup(names, max(args.epochs, 3))
    verdict(throughputs, overheads, module_ratios)


if __name__ == "__main__":
    main()
