"""Training from the app vs the headless CLI, and how responsive the app stays meanwhile.

    python benchmarks/app_training_bench.py [--epochs 150] [--rounds 2] [--design FILE]

Alternates headless runs (``main.py train FILE --json``) with runs started from the main
window's Train action (offscreen), on the same design, and prints:

* training samples/s of each (from the trainer's epoch events: samples over training time), the
  median per side and the ratio app / headless (target ≥ 0.9);
* the longest gap between ticks of a 10 ms QTimer on the GUI thread while the child trains
  (from its "start" event to its "end"; target ≤ 50 ms), the 99th percentile, and the longest
  gap counting the Train click itself.

The app's child runs with one core fewer than the machine has (see ui/training/runner.py), so
a headless run with that many threads is measured too.
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
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def throughput(events: list[dict]) -> float:
    """Training samples per second over the whole run (validation and checkpoints excluded)."""
    start = next(e for e in events if e["event"] == "start")
    per_epoch = start["steps_per_epoch"] * start["batch_size"]
    epochs = [e for e in events if e["event"] == "epoch" and e.get("samples_per_s")]
    seconds = sum(per_epoch / e["samples_per_s"] for e in epochs)
    return per_epoch * len(epochs) / seconds


def headless(design: Path, epochs: int, workdir: Path, threads: int | None = None) -> float:
    run_dir = Path(tempfile.mkdtemp(dir=workdir)) / "run"
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(design), "--json",
                          "--epochs", str(epochs), "--run-dir", str(run_dir)],
                         check=True, capture_output=True, text=True, env=env)
    return throughput([json.loads(line) for line in out.stdout.splitlines() if line.strip()])


gui_load: list[float] = []  # the app process's CPU use (cores) while its child trains


def in_app(app, design: Path, epochs: int, workdir: Path) -> tuple[float, list[float], float]:
    """Train from the main window; the samples/s, the GUI timer's gaps (ms) while the child
    trains, and the longest gap from pressing Train to the run's end."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from ui.document import Document
    from ui.main_window import MainWindow

    copy = Path(tempfile.mkdtemp(dir=workdir)) / design.name
    copy.write_text(design.read_text())
    document = Document()
    document.open(copy)
    training = dict(document.design.training, epochs=epochs)
    document.design.set_training(training)
    window = MainWindow(document, autosave=False, remember_layout=False)
    window.resize(1400, 900)
    window.show()
    # Let the window settle as a user would before pressing Train (device list, data preview).
    wait = QEventLoop()
    QTimer.singleShot(1000, wait.quit)
    wait.exec()
    while window.training.data_panel.reading:
        QTimer.singleShot(50, wait.quit)
        wait.exec()

    gaps: list[tuple[float, float]] = []  # (when, gap in ms)
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(10)
    training: list[float] = []  # when the child's "start" and "end" events arrived

    def tick() -> None:
        if clock.isValid():
            gaps.append((time.perf_counter(), clock.nsecsElapsed() / 1e6))
        clock.restart()

    def on_event(event: dict) -> None:
        if event["event"] in ("start", "end"):
            training.append(time.perf_counter())

    ticker.timeout.connect(tick)
    done: list[dict] = []
    controller = window.training.controller
    controller.run_finished.connect(done.append)
    controller.event.connect(on_event)
    ticker.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    window.training.train_action.trigger()
    controller.run_finished.connect(wait.quit)
    wait.exec()  # the app's own event loop, idle unless something happens
    ticker.stop()
    gui_load.append((time.process_time() - cpu0) / (time.perf_counter() - wall0))
    events = list(controller.events)
    window.close()
    window.deleteLater()
    app.processEvents()
    if done[0]["status"] != "completed":
        raise SystemExit(f"the app's run ended {done[0]['status']}: {done[0]['message']}")
    first, last = training[0], training[-1]
    during = [gap for when, gap in gaps if first <= when <= last]
    return throughput(events), during, max(gap for _w, gap in gaps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", type=Path, default=ROOT / "resources/examples/digits_mlp.json")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from ui.app import create_app

    app = create_app()
    workdir = Path(tempfile.mkdtemp(prefix="netwright-bench-"))
    from ui.training.runner import child_threads

    threads = child_threads()
    cli, same, gui, all_gaps, overall_gaps = [], [], [], [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        cli.append(headless(args.design, args.epochs, workdir))
        same.append(headless(args.design, args.epochs, workdir, threads))
        rate, gaps, overall = in_app(app, args.design, args.epochs, workdir)
        gui.append(rate)
        all_gaps += gaps
        overall_gaps.append(overall)
        print(f"round {r + 1}: headless {cli[-1]:,.0f} samples/s (default threads), "
              f"{same[-1]:,.0f} ({threads} thread(s), as the app's child), app {gui[-1]:,.0f}; "
              f"longest UI gap {max(gaps):.1f} ms ({time.perf_counter() - t0:.0f} s)")
    ratio = statistics.median(gui) / statistics.median(cli)
    ratio_same = statistics.median(gui) / statistics.median(same)
    gaps_sorted = sorted(all_gaps)
    p99 = gaps_sorted[int(0.99 * (len(gaps_sorted) - 1))]
    print()
    print(f"design {args.design.name}, {args.epochs} epochs, {args.rounds} rounds each")
    print(f"headless CLI, default threads:  {statistics.median(cli):,.0f} samples/s (median)")
    print(f"headless CLI, {threads} thread(s):      {statistics.median(same):,.0f} samples/s (median)")
    print(f"from the app ({threads} thread(s)):     {statistics.median(gui):,.0f} samples/s (median); "
          f"the app itself used {statistics.median(gui_load):.2f} core(s) meanwhile")
    print(f"ratio app / headless default: {ratio:.2f}; app / headless same threads: "
          f"{ratio_same:.2f}  (target ≥ 0.9)")
    print(f"GUI thread, 10 ms timer while the child trains: longest gap {max(all_gaps):.1f} ms, "
          f"99th percentile {p99:.1f} ms over {len(all_gaps)} ticks  (target ≤ 50 ms)")
    print(f"  including the Train click itself (docks resize, curves page shown): longest "
          f"{max(overall_gaps):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
