"""How long overlaying other runs on the training curves takes.

    python benchmarks/overlay_bench.py [--runs 20] [--epochs 30] [--repeats 5]

Shows the curves offscreen at the size of a narrow bottom dock, then overlays ``--runs`` runs
of ``--epochs`` epochs (train and validation loss and accuracy) ``--repeats`` times, each call
replacing the last; prints the median time of one ``set_overlays``. Run it with ``PYTHONPATH``
at another checkout to compare.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.append(str(Path(__file__).resolve().parents[1]))  # after PYTHONPATH's checkout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from PySide6.QtWidgets import QApplication

    from ui.training.plots import LivePlots

    app = QApplication([])
    plots = LivePlots()
    plots.resize(900, 300)
    plots.show()
    app.processEvents()
    records = [{"event": "epoch", "epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e,
                "train_accuracy": 1 - 1 / (e + 1), "val_accuracy": 1 - 1.1 / (e + 1)}
               for e in range(1, args.epochs + 1)]
    runs = {f"digits_cnn/20261130-0757{i:02d}": records for i in range(args.runs)}
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        plots.set_overlays(runs)
        app.processEvents()
        times.append(time.perf_counter() - start)
    print(f"{args.runs} runs overlaid: {statistics.median(times) * 1000:.0f} ms per set_overlays "
          f"(median of {args.repeats}), {plots.overlay_count} curves")


if __name__ == "__main__":
    main()
