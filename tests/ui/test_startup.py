"""Start-up: the editor window opens without PyTorch or scikit-learn; they load in the
background after the first paint, and the panels that need them say so meanwhile."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import EXAMPLES, ROOT
from ui import loading
from ui.loading import Loader
from ui.training.tasks import run_task


def _run(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_importing_the_window_loads_neither_torch_nor_sklearn():
    proc = _run("import ui.main_window, sys; "
                "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules, "
                "sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn'))[:5]")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_editor_draws_first_and_loads_torch_in_the_background(tmp_path):
    """The real start-up path: nothing imports torch on the GUI thread before the first paint
    (not the device list, not the data preview, not the Code tab); the Code tab, the data
    preview and the Train panel say what is loading; afterwards all three work."""
    proc = _run(f"""
        import os, sys, time
        os.environ["NETWRIGHT_DATA_DIR"] = {str(tmp_path / 'data')!r}
        os.environ["XDG_CONFIG_HOME"] = {str(tmp_path / 'config')!r}
        from PySide6.QtCore import QEventLoop
        from ui.app import create_app, open_editor
        from ui.loading import heavy_imports
        app = create_app()
        painted = []
        window = open_editor({str(EXAMPLES / 'digits_cnn.json')!r}, painted=lambda: painted.append(1))
        loader = heavy_imports()
        deadline = time.time() + 60
        while not painted and time.time() < deadline:
            app.processEvents()
            assert "torch" not in sys.modules or loader.state == "running", "torch before paint"
        assert painted, "never painted"
        window.bottom_tabs.setCurrentWidget(window.code)  # (opening a file picks the summary)
        window.training_docks["data"].raise_()
        data, panel = window.training.data_panel, window.training.panel
        while loader.loading and time.time() < deadline:
            if loader.state == "running":
                print("WHILE", repr(window.code.text()[:60]), repr(data.summary.text()),
                      repr(panel.status.full_text()), flush=True)
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)  # the loader's poll
        assert loader.state == "done" and not loader.error, loader.error
        while data.reading and time.time() < deadline:
            app.processEvents()
        app.processEvents()
        print("AFTER", "class Model(nn.Module)" in window.code.text(), window.code.ok, repr(data.summary.text()),
              repr(panel.status.full_text()), panel.device_combo.count(), flush=True)
        window.document.undo_stack.setClean()
        window.close()
        """)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    during = [line for line in proc.stdout.splitlines() if line.startswith("WHILE")]
    after = next(line for line in proc.stdout.splitlines() if line.startswith("AFTER"))
    assert during, proc.stdout
    assert all("Loading" in line.split("'")[1] for line in during), during  # Code tab
    assert any("The preview follows" in line for line in during), during  # data preview
    assert any("Train works already" in line for line in during), during  # Train panel
    assert "AFTER True True" in after, after  # the Code tab shows the generated module
    assert "1,797 samples" in after and "Ready" in after, after


def test_tasks_wait_for_the_loader_and_hear_a_failure(qtbot, monkeypatch):
    """A task that needs a module the loader brings waits for it; when loading fails, the task
    reports why instead of raising; collection is back on afterwards."""
    loader = Loader(modules=(("json", "JSON"), ("netwright_no_such_module", "Missing")))
    monkeypatch.setattr(loading, "_loader", loader)
    loader.defer()
    results: list[str] = []
    run_task(lambda: "ran", results.append, lambda m: results.append("failed: " + m),
             needs=("netwright_no_such_module",))
    run_task(lambda: "ran", results.append, needs=("json",))  # loaded already: starts now
    qtbot.waitUntil(lambda: results == ["ran"], timeout=10000)
    assert gc.isenabled()
    loader.start()
    assert not gc.isenabled()  # no collection on the importing thread
    with qtbot.waitSignal(loader.finished, timeout=10000) as finished:
        pass
    assert "Missing could not be loaded" in finished.args[0]
    assert gc.isenabled()
    qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    assert results[1].startswith("failed: cannot load netwright_no_such_module")


def test_code_tab_waits_for_the_loader(qtbot, monkeypatch):
    from ui.document import Document
    from ui.panels import CodePanel
    from graph.fileformat import load

    loader = Loader(modules=(("json", "JSON"),))
    monkeypatch.setattr(loading, "_loader", loader)
    loader.defer()
    panel = CodePanel(Document(load(EXAMPLES / "digits_mlp.json")))
    qtbot.addWidget(panel)
    panel.show()
    assert "Loading JSON" in panel.text() and not panel.ok
    loader.start()
    qtbot.waitUntil(lambda: panel.ok, timeout=10000)
    assert "class Model(nn.Module)" in panel.text()


@pytest.mark.slow
def test_no_crash_when_qt_garbage_is_collected_while_loading(tmp_path):
    """The GUI thread makes Qt objects in reference cycles while the libraries load on the
    background thread. With the collector left on during those imports this segfaults every
    time (benchmarks/startup_bench.py --stress N --unguarded); guarded, it exits cleanly."""
    proc = _run(f"""
        import os, sys
        os.environ["NETWRIGHT_DATA_DIR"] = {str(tmp_path / 'data')!r}
        os.environ["XDG_CONFIG_HOME"] = {str(tmp_path / 'config')!r}
        from PySide6.QtCore import QObject, QTimer
        from PySide6.QtWidgets import QLabel, QWidget
        from ui.app import create_app, open_editor
        from ui.loading import heavy_imports
        app = create_app()
        window = open_editor({str(EXAMPLES / 'digits_cnn.json')!r})
        class Holder:
            pass
        def churn():
            for _ in range(30):
                holder = Holder(); holder.label = QLabel("x"); holder.label.holder = holder
                parent = QWidget(); child = QLabel(parent); child.parent_ = parent
                parent.child = child
        def check():
            if heavy_imports().state == "done":
                window.document.undo_stack.setClean(); window.close(); app.quit()
        timers = [QTimer(), QTimer()]
        timers[0].timeout.connect(churn); timers[0].start(1)
        timers[1].timeout.connect(check); timers[1].start(50)
        app.exec()
        print("clean exit", heavy_imports().error or "no error")
        """)
    assert proc.returncode == 0 and "clean exit no error" in proc.stdout, proc.stderr[-2000:]


def test_no_collection_runs_while_a_task_runs_on_the_thread_pool(qtbot):
    """A collection started on a task's thread could finalize the GUI thread's Qt wrappers (a
    segfault later): collection is off while any task runs, and back on after the last."""
    assert gc.isenabled()
    seen = []
    run_task(lambda: gc.isenabled(), seen.append)
    run_task(lambda: gc.isenabled(), seen.append)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=10_000)
    assert seen == [False, False]
    qtbot.waitUntil(gc.isenabled, timeout=5_000)
