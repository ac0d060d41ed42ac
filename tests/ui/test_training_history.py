"""Run history and results on runs trained headless by the CLI (the app reads the same folders)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from graph.fileformat import load, save
from tests.conftest import EXAMPLES, ROOT
from ui.document import Document
from ui.training.controller import TrainingController
from ui.training.history import RunHistory
from ui.training.plots import LivePlots
from ui.training.results import ResultsView

pytestmark = pytest.mark.slow


def _train(design_file, run_dir, *args):
    subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(design_file), "--json",
                    "--run-dir", str(run_dir), *args], check=True, capture_output=True,
                   timeout=300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    folder = root / "iris_mlp"
    _train(EXAMPLES / "iris_mlp.json", folder / "a", "--epochs", "2", "--lr", "0.01")
    _train(EXAMPLES / "iris_mlp.json", folder / "b", "--epochs", "3", "--lr", "0.02")
    _train(EXAMPLES / "digits_cnn.json", root / "digits" / "run", "--epochs", "1")
    sine = load(EXAMPLES / "moons_mlp.json")
    sine.set_data({**sine.data, "name": "sine", "options": {"n_samples": 400, "noise": 0.1,
                                                            "seed": 0}})
    sine.set_training({**sine.training, "loss": "mse", "metrics": "mae", "epochs": 3})
    sine.set_params("n1", {"shape": [1]})
    sine.set_params("n6", {"out_features": 1})
    save(sine, root / "sine.json")
    _train(root / "sine.json", root / "sine" / "run")
    return root


@pytest.fixture
def history(qtbot, runs):
    document = Document(load(EXAMPLES / "iris_mlp.json"))
    document.set_path(EXAMPLES / "iris_mlp.json")  # runs of iris_mlp live in <root>/iris_mlp/
    controller = TrainingController(document, runs_root=runs)
    view = RunHistory(controller)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: len(view.runs) == 2, timeout=20_000)
    return view


def test_lists_runs_diffs_settings_and_overlays_curves(qtbot, history):
    names = sorted(r.name for r in history.runs)
    assert names == ["a", "b"]
    assert all(r.status == "completed" and r.device == "cpu" for r in history.runs)
    assert {r.epochs_completed for r in history.runs} == {2, 3}
    assert history.table.item(0, 1).text() == "completed"
    plots = LivePlots()
    qtbot.addWidget(plots)
    history.overlay_requested.connect(plots.set_overlays)
    history.select(["a", "b"])
    # train and validation loss and validation accuracy of each run
    qtbot.waitUntil(lambda: plots.overlay_count == 6, timeout=10_000)
    rows = {history.diff_table.item(r, 0).text(): (history.diff_table.item(r, 1).text(),
                                                   history.diff_table.item(r, 2).text())
            for r in range(history.diff_table.rowCount())}
    assert set(rows) >= {"training.lr", "training.epochs"}
    assert not history.resume_button.isEnabled()  # completed runs have nothing to resume


def test_interrupted_run_and_delete(qtbot, history, runs, tmp_path):
    run = next(r for r in history.runs if r.name == "a")
    status = json.loads((run.dir / "status.json").read_text())
    (run.dir / "status.json").write_text(json.dumps(dict(status, status="running")))
    history.refresh()
    qtbot.waitUntil(lambda: any(history.table.item(r, 1).text() == "interrupted"
                                for r in range(history.table.rowCount())), timeout=10_000)
    history.select(["a"])
    assert history.resume_button.isEnabled()  # it has a checkpoint
    stray = tmp_path / "not_a_run"
    stray.mkdir()
    from runtime.analysis import delete_run
    from runtime.runs import RunError
    with pytest.raises(RunError):
        delete_run(stray)  # only run folders are ever deleted
    history.delete_selected(confirm=False)
    qtbot.waitUntil(lambda: [r.name for r in history.runs] == ["b"], timeout=10_000)
    assert not run.dir.exists()


def test_results_confusion_cell_shows_its_images(qtbot, runs):
    view = ResultsView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.computed, timeout=60_000):
        view.show_run(runs / "digits" / "run")
    p = view.predictions
    assert p.confusion.shape == (10, 10) and p.confusion.sum() == len(p.targets)
    assert view.per_class.rowCount() == 10
    assert view.gallery.count() == min(len(p.misclassified()), 200)
    view.confusion.cellClicked.emit(3, 3)  # the correctly classified threes
    assert view.gallery.count() == min(int(p.confusion[3, 3]), 200) > 0
    assert view.gallery.item(0).text() == "3→3"
    assert not view.right_tabs.isTabVisible(view.right_tabs.indexOf(view.regions))  # images: no regions


def test_results_regression_scatter(qtbot, runs):
    view = ResultsView()
    qtbot.addWidget(view)
    with qtbot.waitSignal(view.computed, timeout=60_000):
        view.show_run(runs / "sine" / "run")
    p = view.predictions
    assert p.task == "regression" and view.pages.currentWidget() is view.regression_page
    x, _y = view.scatter_points.getData()
    assert len(x) == len(p.targets) > 0
    assert "R²" in view.regression_summary.text()


def test_results_of_a_missing_run_say_so(qtbot, tmp_path):
    view = ResultsView()
    qtbot.addWidget(view)
    view.show_run(tmp_path / "nothing")
    qtbot.waitUntil(lambda: "No results" in view.title.text(), timeout=30_000)


def test_lists_runs_the_command_line_wrote_beside_the_design(qtbot, tmp_path):
    design = tmp_path / "iris_mlp.json"
    save(load(EXAMPLES / "iris_mlp.json"), design)
    _train(design, tmp_path / "runs" / "iris_mlp-20260101-120000", "--epochs", "1")
    _train(design, tmp_path / "runs" / "other-20260101-120000", "--epochs", "1")
    document = Document()
    document.open(design)
    view = RunHistory(TrainingController(document))
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: len(view.runs) == 1, timeout=20_000)
    assert view.runs[0].name == "iris_mlp-20260101-120000"
