"""How long the app's training child takes before training starts (run by hand; prints numbers,
asserts nothing).

    python benchmarks/first_epoch_bench.py [--runs 3] [--design resources/examples/digits_cnn.json]

Each run starts the child as the app does (``python -u -m runtime.worker train …``, one epoch)
and times, from the moment the process is launched, when each preparation stage begins (the
``stage`` events the Training panel shows: checking settings, loading data, compiling,
preparing) and when the ``start`` event arrives — the end of "loading the data…" and the rest
for the user. The medians over the runs are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(design: Path, folder: Path) -> dict[str, float]:
    """Seconds from launch to each stage and to ``start``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    launched = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-u", "-m", "runtime.worker", "train", str(design),
                              "--run-dir", str(folder), "--epochs", "1"], cwd=ROOT, env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    marks: dict[str, float] = {}
    for line in child.stdout:
        event = json.loads(line)
        now = time.perf_counter() - launched
        if event.get("event") == "stage":
            marks.setdefault(event["stage"], now)
        elif event.get("event") == "start":
            marks["start"] = now
            break
    child.stdin.close()  # the end of stdin stops the run
    child.wait()
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--design", default=str(ROOT / "resources/examples/digits_cnn.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(Path(args.design), Path(tmp) / f"run{i}") for i in range(args.runs)]
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        print(f"{key:<18} {statistics.median(values):6.2f} s  (runs: "
              + ", ".join(f"{v:.2f}" for v in values) + ")")


if __name__ == "__main__":
    main()
