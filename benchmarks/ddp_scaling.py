"""Data-parallel scaling on the CPU: the same design trained by 1 and by N torchrun processes
(run by hand; prints numbers, asserts nothing).

    python benchmarks/ddp_scaling.py [--design resources/examples/digits_cnn.json]
                                     [--processes 2] [--epochs 4] [--repeats 2]

Each process uses one thread (OMP_NUM_THREADS=1). Throughput is the training samples per second
of all ranks together (each rank trains its own shard), from the epochs after the first;
scaling efficiency = throughput(N) / (N × throughput(1)). Needs N free cores to mean anything.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def throughput(design: Path, processes: int, epochs: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("RANK", None)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone",
             f"--nproc_per_node={processes}", str(ROOT / "main.py"), "train", str(design),
             "--distributed", "--epochs", str(epochs), "--json", "--run-dir", f"{tmp}/run",
             "--device", "cpu"],
            capture_output=True, text=True, cwd=tmp, env=env, timeout=3600)
    if proc.returncode:
        raise RuntimeError(proc.stdout[-2000:] + proc.stderr[-2000:])
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    per_rank = [e["samples_per_s"] for e in events if e.get("event") == "epoch"][1:]
    return processes * statistics.median(per_rank)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", type=Path, default=ROOT / "resources/examples/digits_cnn.json")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for _ in range(args.repeats):  # side by side, alternating
        one = throughput(args.design, 1, args.epochs)
        many = throughput(args.design, args.processes, args.epochs)
        rows.append((one, many, many / (args.processes * one)))
        print(f"1 process {one:8.0f} samples/s · {args.processes} processes {many:8.0f} samples/s"
              f" · efficiency {100 * rows[-1][2]:.0f} %", flush=True)
    effs = [r[2] for r in rows]
    print(f"{args.design.name}, {os.cpu_count()} CPUs: scaling efficiency 1 → {args.processes} "
          f"processes {100 * statistics.median(effs):.0f} % (range {100 * min(effs):.0f}–"
          f"{100 * max(effs):.0f} %)")


if __name__ == "__main__":
    main()
