"""Start-up time of the editor (run by hand; prints numbers, asserts nothing).

    python benchmarks/startup_bench.py [--runs 3] [--design resources/examples/digits_cnn.json]

Each run starts two fresh processes, side by side: a bare ``QApplication`` showing an empty
``QMainWindow`` (the floor any Qt app pays), and the editor opened as ``python main.py open``
opens it (:func:`ui.app.open_editor`). Measured from the moment the process is launched:

* first paint — the window is drawn (for the editor: the canvas has drawn the design, so the
  user can see and edit it); target ≤ 1.5 s;
* fully loaded — PyTorch and scikit-learn have loaded in the background and the data preview
  is on screen;
* CPU seconds the process used until then.

``--stress N`` instead opens the editor N times while the GUI thread churns out Qt objects in
reference cycles (so the garbage collector has Qt wrappers to finalize) during the background
imports, and counts the runs that did not exit cleanly; ``--unguarded`` leaves the collector on
during the imports to show what the guard in :mod:`ui.loading` prevents (those runs segfault).

Uses the display in ``$DISPLAY`` when there is one, else Qt's offscreen platform. The app-data
and settings folders are temporary, so no recovery dialog or remembered layout interferes.
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
CHILD = r"""
import json, os, resource, sys, time
T0 = float(os.environ["STARTUP_T0"])
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
marks = {}
def mark(name):
    marks[name] = (time.time() - T0, cpu())
def finish():
    print("STARTUP " + json.dumps(marks), flush=True)
    os._exit(0)
mode, design = sys.argv[1], sys.argv[2]
if mode == "bare":
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication([])
    window = QMainWindow()
    window.resize(1400, 900)
    class Watch(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Paint:
                obj.removeEventFilter(self)
                QTimer.singleShot(0, lambda: (mark("paint"), mark("loaded"), finish()))
            return False
    watch = Watch()
    window.installEventFilter(watch)
    window.show()
    app.exec()
else:
    sys.path.insert(0, os.environ["STARTUP_ROOT"])
    from ui.app import create_app, open_editor
    from ui.loading import heavy_imports
    app = create_app()
    window = None
    def loaded_check():
        if heavy_imports().loading or window.training.data_panel.reading:
            return
        mark("loaded")
        marks["torch_in_gui_import"] = was_loaded
        finish()
    from PySide6.QtCore import QTimer
    timer = QTimer()
    timer.timeout.connect(loaded_check)
    def painted():
        mark("paint")
        timer.start(20)
    was_loaded = "torch" in sys.modules
    window = open_editor(design, painted=painted)
    window.resize(1400, 900)
    app.exec()
"""

STRESS = r"""
import gc, os, sys, time
sys.path.insert(0, os.environ["STARTUP_ROOT"])
if os.environ.get("STRESS_UNGUARDED"):
    gc.disable = lambda: None
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel, QWidget
from ui.app import create_app, open_editor
from ui.loading import heavy_imports
app = create_app()
window = open_editor(sys.argv[1])
class Holder:
    pass
def churn():
    for _ in range(30):
        holder = Holder(); holder.label = QLabel("x"); holder.label.holder = holder
        parent = QWidget(); child = QLabel(parent); child.parent_ = parent; parent.child = child
        obj = QObject(); obj.destroyed.connect(lambda *_: obj)
def check():
    if heavy_imports().state == "done":
        window.document.undo_stack.setClean(); window.close(); app.quit()
timers = [QTimer(), QTimer()]
timers[0].timeout.connect(churn); timers[0].start(1)
timers[1].timeout.connect(check); timers[1].start(50)
app.exec()
print("STRESS ok", heavy_imports().error or "")
"""


def stress(runs: int, design: Path, env: dict, unguarded: bool) -> int:
    if unguarded:
        env = dict(env, STRESS_UNGUARDED="1")
    failed = 0
    for run in range(runs):
        proc = subprocess.run([sys.executable, "-c", STRESS, str(design)], env=env,
                              capture_output=True, text=True, timeout=300)
        ok = proc.returncode == 0 and "STRESS ok" in proc.stdout
        failed += not ok
        print(f"run {run + 1}: exit {proc.returncode}{'' if ok else ' FAILED'}")
    print(f"{failed} of {runs} runs failed ({'collector left on' if unguarded else 'guarded'})")
    return 0


def launch(mode: str, design: Path, env: dict) -> dict:
    env = dict(env, STARTUP_T0=repr(time.time()))
    proc = subprocess.run([sys.executable, "-c", CHILD, mode, str(design)], env=env,
                          capture_output=True, text=True, timeout=300)
    for line in proc.stdout.splitlines():
        if line.startswith("STARTUP "):
            return json.loads(line[len("STARTUP "):])
    raise RuntimeError(f"{mode} run printed no timings:\n{proc.stdout}\n{proc.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stress", type=int, default=0, metavar="N",
                        help="open the editor N times under garbage churn and count crashes")
    parser.add_argument("--unguarded", action="store_true",
                        help="with --stress: keep the collector on during the imports")
    parser.add_argument("--design", type=Path, default=ROOT / "resources/examples/digits_cnn.json")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="netwright-startup-")
    env = dict(os.environ, STARTUP_ROOT=str(ROOT), NETWRIGHT_DATA_DIR=home,
               XDG_CONFIG_HOME=home)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    print(f"platform: {env.get('QT_QPA_PLATFORM') or 'display ' + env['DISPLAY']}, "
          f"design: {args.design.name}, {os.cpu_count()} CPUs")
    if args.stress:
        return stress(args.stress, args.design, env, args.unguarded)
    rows = {"bare": [], "app": []}
    for run in range(args.runs):
        for mode in ("bare", "app"):  # side by side, alternating
            rows[mode].append(launch(mode, args.design, env))
        bare, app = rows["bare"][-1], rows["app"][-1]
        print(f"run {run + 1}: bare Qt window painted {bare['paint'][0]:.2f} s "
              f"(cpu {bare['paint'][1]:.2f} s) · editor painted {app['paint'][0]:.2f} s "
              f"(cpu {app['paint'][1]:.2f} s), fully loaded {app['loaded'][0]:.2f} s "
              f"(cpu {app['loaded'][1]:.2f} s)")
    med = {m: {k: statistics.median(r[k][0] for r in rows[m]) for k in ("paint", "loaded")}
           for m in rows}
    print(f"median: first paint {med['app']['paint']:.2f} s (target ≤ 1.5 s) vs bare Qt "
          f"{med['bare']['paint']:.2f} s = {med['app']['paint'] / med['bare']['paint']:.1f}×; "
          f"fully loaded {med['app']['loaded']:.2f} s")
    if any(r.get("torch_in_gui_import") for r in rows["app"]):
        print("WARNING: torch was imported before the window was shown")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
