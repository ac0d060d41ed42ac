"""Kill loop: SIGKILL training at random moments (mid-step and mid-save), then resume and evaluate.

    python benchmarks/kill_loop.py [--kills 1000] [--seed 0] [--epochs 6]

A small design (the iris MLP, a checkpoint after every epoch, so much of the time is spent
saving) is first trained once without interruption: its final weights are the reference. Then
trials run until ``--kills`` SIGKILLs have landed: each trial trains a fresh run in a forked
process and kills it after a random delay; the killed run is evaluated (it must give metrics or
one clean message, never a crash), then resumed — and the resumed process may be killed again —
until the run completes. A finished trial's final weights are compared bit for bit with the
reference: the run continued exactly from its checkpoints.

Printed counts: kills, resumes, resumes that continued exactly (their trial ended on the
reference weights), restarts (killed before the first checkpoint: nothing to resume), checkpoints
refused (a half-written or damaged newest checkpoint set aside for the previous one), failed
resumes, evaluations (ok / refused with a message / crashed) and leftover temporary files.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

from graph.fileformat import load  # noqa: E402
from runtime.data import load_data  # noqa: E402
from runtime.runs import RunFolder  # noqa: E402
from runtime.training import TrainingError, evaluate_run, train  # noqa: E402

EXAMPLE = ROOT / "resources" / "examples" / "iris_mlp.json"
DESIGN = load(EXAMPLE)
DATA = load_data(DESIGN.data)  # read once; every forked child trains on the same samples
torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # imports torch._dynamo once, here


def _train(run_dir: str, resume: bool, epochs: int) -> None:
    """The child: train (or resume) the run; exit 0 when it completed, 3 when it failed."""
    import torch

    torch.set_num_threads(1)
    if resume:
        events = train(resume=run_dir, data=DATA, checkpoint_interval=0.0, step_interval=1e9)
    else:
        design = DESIGN.copy()
        design.set_training(dict(design.training, epochs=epochs, device="cpu", batch_size=16,
                                 diagnostics_every=0))
        events = train(design, run_dir=run_dir, data=DATA, checkpoint_interval=0.0,
                       step_interval=1e9)
    status, message = "failed", ""
    for event in events:
        if event.EVENT == "end":
            status = event.status
        elif event.EVENT == "error":
            message = event.message
    if status != "completed":
        Path(run_dir).with_name("error.txt").write_text(message)
    os._exit(0 if status == "completed" else 3)


def _evaluate(run_dir: str, out: str) -> None:
    """The child: evaluate the run; writes {"ok": metrics} or {"refused": message}."""
    import torch

    torch.set_num_threads(1)
    try:
        result = {"ok": evaluate_run(run_dir, split="val")}
    except TrainingError as exc:
        result = {"refused": exc.message}
    Path(out).write_text(json.dumps(result))
    os._exit(0)


def _start(target, *args) -> mp.Process:
    process = mp.get_context("fork").Process(target=target, args=args)
    process.start()
    return process


def _final_weights(run_dir: Path) -> dict[str, np.ndarray]:
    checkpoint = RunFolder(run_dir).checkpoint("last")
    return load_file(str(checkpoint.dir / "model.safetensors"))


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _refusals(run_dir: Path) -> int:
    """Resumes whose start event says the newest checkpoint was refused."""
    return sum(1 for e in RunFolder(run_dir).events() if e.get("event") == "start"
               and any("was refused" in w for w in e.get("warnings", [])))


class Counts(dict):
    def add(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


def _evaluate_killed(run_dir: Path, counts: Counts, work: Path) -> None:
    out = work / "eval.json"
    out.unlink(missing_ok=True)
    child = _start(_evaluate, str(run_dir), str(out))
    child.join(120)
    if child.is_alive():
        child.kill()
        child.join()
        counts.add("evaluations hung")
    elif child.exitcode != 0 or not out.exists():
        counts.add("evaluations crashed")
    else:
        counts.add("evaluations ok" if "ok" in json.loads(out.read_text())
                   else "evaluations refused with a message")


def trial(work: Path, reference, epochs: int, durations: list[float], rng: random.Random,
          counts: Counts, kills_left: int) -> None:
    """One run, killed and resumed until it completes; updates ``counts``. Kills land within
    the median time of the latest uninterrupted runs (``durations``, kept up to date here), so
    they keep hitting mid-run when the machine gets faster or slower."""
    run_dir = work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    resumes = 0
    resume = False
    while True:
        (work / "error.txt").unlink(missing_ok=True)
        started = time.perf_counter()
        child = _start(_train, str(run_dir), resume, epochs)
        if kills_left > 0 and rng.random() < 0.85:
            child.join(rng.uniform(0.0, statistics.median(durations[-15:])))
            if child.is_alive():
                child.kill()
                child.join()
                counts.add("kills")
                kills_left -= 1
                _evaluate_killed(run_dir, counts, work)
                resume = RunFolder(run_dir).resumable
                if resume:
                    resumes += 1
                else:  # killed before the first checkpoint: start over
                    counts.add("restarts")
                    shutil.rmtree(run_dir, ignore_errors=True)
                continue
        child.join()
        if child.exitcode == 0:
            if not resume:
                durations.append(time.perf_counter() - started)
            break
        error = work / "error.txt"
        message = error.read_text() if error.exists() else f"exit status {child.exitcode}"
        if resume and "already finished" in message:  # killed after its final checkpoint
            counts.add("kills after the final checkpoint")
            break
        counts.add("failed resumes" if resume else "failed fresh runs")
        print(f"  failed: {message}", flush=True)
        return
    counts.add("resumes", resumes)
    counts.add("checkpoints refused", _refusals(run_dir))
    leftovers = [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]
    counts.add("temporary files left after completion", len(leftovers))
    if _same(_final_weights(run_dir), reference):
        counts.add("resumes that continued exactly", resumes)
        counts.add("trials ending on the reference weights")
    else:
        counts.add("trials ending elsewhere")
    counts.add("trials")
    _evaluate_killed(run_dir, counts, work)  # and the finished run evaluates too


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    # Memory-backed when possible: a SIGKILL (unlike a power cut) loses nothing the page cache
    # holds, so the test is the same and its fsyncs cost nothing.
    shm = Path("/dev/shm")
    work = Path(tempfile.mkdtemp(prefix="netwright-kill-loop-",
                                 dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    try:
        for attempt in range(2):  # the second run is timed: the first warms the caches up
            shutil.rmtree(work / "reference", ignore_errors=True)
            t0 = time.perf_counter()
            child = _start(_train, str(work / "reference"), False, args.epochs)
            child.join()
            duration = time.perf_counter() - t0
            if child.exitcode != 0:
                print("the reference run failed", file=sys.stderr)
                return 1
        reference = _final_weights(work / "reference")
        print(f"reference run: {args.epochs} epochs in {duration:.2f} s; kills land within the "
              "median time of the latest uninterrupted runs", flush=True)
        counts, durations = Counts(), [duration]
        while counts.get("kills", 0) < args.kills:
            trial(work, reference, args.epochs, durations, rng, counts,
                  args.kills - counts.get("kills", 0))
            if counts.get("trials", 0) % 25 == 0 and counts.get("trials", 0):
                print(f"  … after {time.perf_counter() - t0:.0f} s: " + ", ".join(
                    f"{k} {v}" for k, v in counts.items()), flush=True)
        print(f"done in {time.perf_counter() - t0:.0f} s")
        for key in ("kills", "trials", "resumes", "resumes that continued exactly",
                    "trials ending on the reference weights", "trials ending elsewhere",
                    "restarts", "kills after the final checkpoint", "checkpoints refused",
                    "failed resumes", "failed fresh runs",
                    "evaluations ok", "evaluations refused with a message",
                    "evaluations crashed", "evaluations hung",
                    "temporary files left after completion"):
            print(f"{key:>42}: {counts.get(key, 0)}")
        bad = sum(counts.get(k, 0) for k in ("failed resumes", "failed fresh runs",
                                             "evaluations crashed", "evaluations hung",
                                             "trials ending elsewhere"))
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
