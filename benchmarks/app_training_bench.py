"""Training from the app vs the headless CLI, and how responsive the app stays meanwhile.

    python benchmarks/app_training_bench.py [--epochs 150] [--rounds 2] [--design FILE]

Alternates headless runs (``main.py train FILE --json``) with runs started from the main
window's Train action (offscreen), on the same design, and prints:

* training samples/s of each (from the trainer's epoch events: samples over training time), the
  median per side and the ratio app / headless (target ≥ 0.9);
* how long the GUI thread pauses while the child trains (from its "start" event to its "end"),
  as the gaps between ticks of a precise 10 ms QTimer: the longest (target < 50 ms) and the
  99th percentile (target < 16 ms, one frame), and the longest gap counting the Train click
  itself — each for a round of training only and for a round of training while editing
  (:class:`Editing`: every 200 ms an undo-stack edit of a layer's width, between them a node
  dragged with the mouse, one move per frame). The tick count is printed: a gap of g ms counts
  once, so fewer ticks than run time / 10 ms means the thread was busy. The same figures are
  printed for the GUI thread's own CPU time in each gap: on a loaded machine most of a
  wall-clock gap is the OS running other processes; the gaps over a frame are counted, with
  how many of them held over 6 ms of the GUI thread's own work. The digits MLP trains 60
  epochs in about 2 s, so only about 200 ticks fall inside a run: ``--epochs 300`` gives
  steadier figures.

The app's child runs with one core fewer than the machine has (see ui/training/runner.py), so
a headless run with that many threads is measured too. ``--trace`` prints the slowest GUI-thread
slices (Python functions over 8 ms) to find what a long pause spent its time on.
"""
from __future__ import annotations

import argparse
import gc
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
# editing → the GUI thread's own CPU time in each gap: what the app did, without the time the
# OS gave other processes (on a loaded machine the wall-clock gaps are mostly that)
busy_ms: dict[bool, list[float]] = {False: [], True: []}
# editing → (gap, the GUI thread's CPU ms in it) of each gap over a frame (16 ms)
long_gaps: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
FRAME_MS = 16.0


class StackSampler:
    """A poor man's py-spy: a thread that records the GUI thread's Python stack every 2 ms, so a
    long gap between timer ticks can be traced to what the thread was doing (``--trace``)."""

    def __init__(self) -> None:
        import threading

        self.samples: list[tuple[float, str]] = []
        self.main = threading.main_thread().ident
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import traceback

        while self.running:
            frame = sys._current_frames().get(self.main)
            if frame is not None:
                stack = traceback.extract_stack(frame)[-14:]
                self.samples.append((time.perf_counter(), " < ".join(
                    f"{Path(f.filename).name}:{f.name}" for f in reversed(stack))))
            time.sleep(0.002)

    def report(self, gaps: list[tuple[float, float, float]], over_ms: float = 15.0) -> None:
        """Print, for the gaps in which the GUI thread itself worked longest (``(when, gap ms,
        CPU ms)``, over ``over_ms``), the stacks seen most often in them."""
        from collections import Counter

        for when, gap, cpu in sorted(gaps, key=lambda g: -g[2])[:8]:
            if cpu < over_ms:
                break
            seen = Counter(stack for t, stack in self.samples if when - gap / 1000 <= t <= when)
            print(f"  gap {gap:.1f} ms, {cpu:.1f} ms of it the GUI thread's own work:")
            for stack, count in seen.most_common(4):
                print(f"    {count:3d}× {stack[:500]}")


class Editing:
    """Edits the window's design while it trains, as a user would: every 200 ms the hidden
    Linear's width toggles through the undo stack (revalidation, restyle, summary, code), and
    between those a node is dragged on the canvas with the mouse, one move per 16 ms frame."""

    PERIOD = 12  # frames per cycle: an edit, a press, ten moves … a release ≈ 200 ms

    def __init__(self, window):
        from PySide6.QtCore import Qt, QTimer

        self.window, self.frame, self.edits, self.drags = window, 0, 0, 0
        design = window.document.design
        linears = [n for n in design.nodes if n.type == "Linear"]
        self.linear = linears[0]
        self.widths = (self.linear.params["out_features"], self.linear.params["out_features"] // 2)
        self.dragged = linears[-1].id
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(16)
        self.timer.timeout.connect(self.step)

    def step(self) -> None:
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtTest import QTest

        from ui.commands import SetParamCommand

        phase, self.frame = self.frame % self.PERIOD, self.frame + 1
        view = self.window.canvas
        port = view.viewport()
        buttons = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        if phase == 0:
            design = self.window.document.design
            width = self.widths[self.edits % 2 == 0]
            self.window.document.undo_stack.push(
                SetParamCommand(design, self.linear.id, "out_features", width))
            self.edits += 1
        elif phase == 1:
            item = view.canvas.nodes[self.dragged]
            self.start = view.mapFromScene(item.pos() + QPointF(30, 10))
            QTest.mousePress(port, *buttons, self.start)
        elif phase < self.PERIOD - 1:
            sign = 1 if self.drags % 2 == 0 else -1
            QTest.mouseMove(port, self.start + QPointF(sign * 4 * phase, 2 * phase).toPoint())
        else:
            QTest.mouseRelease(port, *buttons,
                               self.start + QPointF(0, 2 * (self.PERIOD - 2)).toPoint())
            self.drags += 1


def in_app(app, design: Path, epochs: int, workdir: Path, edit: bool = False,
           trace: bool = False) -> tuple[float, list[float], float]:
    """Train from the main window (``edit``: while :class:`Editing` edits it); the samples/s,
    the GUI timer's gaps (ms) while the child trains, and the longest gap from pressing Train
    to the run's end."""
    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer

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
    # In the app the background imports end after the window is built, and then freeze all
    # that exists out of the collector's full collections (ui.loading): here the imports ended
    # before this round's window was made, so freeze it now as the app would have.
    gc.freeze()

    gaps: list[tuple[float, float]] = []  # (when, gap in ms)
    busy: list[tuple[float, float]] = []  # (when, CPU ms the GUI thread spent in that gap)
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse timer may fire 5 % late
    ticker.setInterval(10)
    training: list[float] = []  # when the child's "start" and "end" events arrived
    editing = Editing(window) if edit else None

    cpu = [time.thread_time()]

    def tick() -> None:
        now = time.thread_time()
        if clock.isValid():
            gaps.append((time.perf_counter(), clock.nsecsElapsed() / 1e6))
            busy.append((time.perf_counter(), (now - cpu[0]) * 1000))
        clock.restart()
        cpu[0] = now

    def on_event(event: dict) -> None:
        if event["event"] in ("start", "end"):
            training.append(time.perf_counter())
            if editing is not None:
                (editing.timer.start if event["event"] == "start" else editing.timer.stop)()

    ticker.timeout.connect(tick)
    sampler = StackSampler() if trace else None
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
    if editing is not None:
        editing.timer.stop()
        if not editing.edits or not editing.drags:
            print("    note: the run ended before an edit and a drag: use more --epochs")
        document.undo_stack.setClean()
    window.close()
    window.deleteLater()
    app.processEvents()
    if done[0]["status"] != "completed":
        raise SystemExit(f"the app's run ended {done[0]['status']}: {done[0]['message']}")
    first, last = training[0], training[-1]
    during = [gap for when, gap in gaps if first <= when <= last]
    busy_ms[edit] += [ms for when, ms in busy if first <= when <= last]
    long_gaps[edit] += [(gap, ms) for (when, gap), (_w, ms) in zip(gaps, busy)
                        if first <= when <= last and gap > FRAME_MS]
    print(f"    {'editing' if edit else 'training only'}: trained {last - first:.1f} s, "
          f"{len(during)} ticks" + (f", {editing.edits} edits, {editing.drags} drags"
                                    if editing else ""))
    if sampler is not None:
        sampler.running = False
        sampler.report([(w, g, b) for (w, g), (_w, b) in zip(gaps, busy) if first <= w <= last])
    return throughput(events), during, max(gap for _w, gap in gaps)


def pauses(gaps: list[float], unit: str = "ticks") -> str:
    ordered = sorted(gaps)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return f"longest {ordered[-1]:.1f} ms, p99 {p99:.1f} ms over {len(ordered)} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", type=Path, default=ROOT / "resources/examples/digits_mlp.json")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--app-only", action="store_true",
                        help="skip the headless runs (only the GUI pauses)")
    parser.add_argument("--trace", action="store_true",
                        help="print what the GUI thread did in the longest gaps")
    args = parser.parse_args()

    from ui.app import collect_garbage_on_gui_thread, create_app
    from ui.loading import heavy_imports

    app = create_app()
    # As the app runs (ui.app.open_editor): garbage collected on the GUI thread from a timer,
    # and the heavy libraries loaded in the background (then frozen out of collections).
    collect_garbage_on_gui_thread()
    loader = heavy_imports()
    loader.start()
    loader.wait()
    workdir = Path(tempfile.mkdtemp(prefix="netwright-bench-"))
    from ui.training.runner import child_threads

    threads = child_threads()
    cli, same, gui, overall_gaps = [], [], [], []
    gaps = {False: [], True: []}  # editing → GUI gaps while training
    for r in range(args.rounds):
        t0 = time.perf_counter()
        if not args.app_only:
            cli.append(headless(args.design, args.epochs, workdir))
            same.append(headless(args.design, args.epochs, workdir, threads))
        for edit in (False, True):
            rate, during, overall = in_app(app, args.design, args.epochs, workdir, edit,
                                           args.trace)
            gaps[edit] += during
            overall_gaps.append(overall)
            if not edit:
                gui.append(rate)
            print(f"round {r + 1}, {'training + editing' if edit else 'training only'}: "
                  f"GUI {pauses(during)}")
        if not args.app_only:
            print(f"round {r + 1}: headless {cli[-1]:,.0f} samples/s (default threads), "
                  f"{same[-1]:,.0f} ({threads} thread(s), as the app's child), app "
                  f"{gui[-1]:,.0f} ({time.perf_counter() - t0:.0f} s)")
    print()
    print(f"design {args.design.name}, {args.epochs} epochs, {args.rounds} rounds each; "
          f"load average {os.getloadavg()[0]:.1f}")
    if not args.app_only:
        _print_throughput(cli, same, gui, threads)
    print("GUI thread, gaps of a 10 ms timer while the child trains (targets: longest < 50 ms, "
          "p99 < 16 ms):")
    print(f"  training only:      {pauses(gaps[False])}")
    print(f"  training + editing: {pauses(gaps[True])}")
    print("  the GUI thread's own CPU time in those gaps (the same without the other processes):")
    print(f"  training only:      {pauses(busy_ms[False], 'ticks')}")
    print(f"  training + editing: {pauses(busy_ms[True], 'ticks')}")
    for edit, label in ((False, "training only"), (True, "training + editing")):
        print(f"  {label}: {_long_gap_causes(long_gaps[edit])}")
    print(f"  including the Train click itself (docks resize, curves page shown): longest "
          f"{max(overall_gaps):.1f} ms")
    return 0


def _long_gap_causes(long: list[tuple[float, float]], own_ms: float = 6.0) -> str:
    """How many gaps were over a frame, and in how many of them the GUI thread itself worked
    more than ``own_ms`` (a gap is up to a 10 ms tick plus that work: the others were mostly the
    thread waiting for a core)."""
    own = sum(1 for _gap, cpu in long if cpu > own_ms)
    return (f"{len(long)} gaps over {FRAME_MS:.0f} ms, {own} of them with over {own_ms:.0f} ms "
            f"of the GUI thread's own work (the rest mostly waited for a core)")


def _print_throughput(cli: list[float], same: list[float], gui: list[float], threads: int
                      ) -> None:
    ratio = statistics.median(gui) / statistics.median(cli)
    ratio_same = statistics.median(gui) / statistics.median(same)
    print(f"headless CLI, default threads:  {statistics.median(cli):,.0f} samples/s (median)")
    print(f"headless CLI, {threads} thread(s):      {statistics.median(same):,.0f} samples/s (median)")
    print(f"from the app ({threads} thread(s)):     {statistics.median(gui):,.0f} samples/s (median); "
          f"the app itself used {statistics.median(gui_load):.2f} core(s) meanwhile")
    print(f"ratio app / headless default: {ratio:.2f}; app / headless same threads: "
          f"{ratio_same:.2f}  (target ≥ 0.9)")


if __name__ == "__main__":
    sys.exit(main())
