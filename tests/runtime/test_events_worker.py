"""Typed events (one definition for trainer, run folder and worker protocol) and the worker."""
from __future__ import annotations

import io
import json

import pytest

from graph.fileformat import load, save
from runtime import worker
from runtime.training import train
from runtime import events as ev
from tests.conftest import EXAMPLES


def _iris(epochs=2):
    design = load(EXAMPLES / "iris_mlp.json")
    design.set_training(dict(design.training, epochs=epochs, device="cpu", diagnostics_every=1))
    return design


def test_every_event_is_typed_and_round_trips_through_its_json(tmp_path):
    events = list(train(_iris(), run_dir=tmp_path / "run", step_interval=0))
    kinds = {type(e) for e in events}
    assert {ev.Stage, ev.Start, ev.Step, ev.Epoch, ev.Diagnostics, ev.Checkpoint, ev.End} <= kinds
    for event in events:
        back = ev.parse_event(json.loads(event.to_json()))
        assert type(back) is type(event) and back.to_dict() == event.to_dict()
    epoch = next(e for e in events if isinstance(e, ev.Epoch))
    assert epoch["val_accuracy"] == epoch.metrics["val_accuracy"]  # flat on the wire
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text()
              .splitlines()]
    assert logged == [e.to_dict() for e in events if not isinstance(e, ev.Stage)]


@pytest.mark.parametrize("obj, problem", [
    ({"event": "launch", "time": 0}, "unknown event"),
    ({"event": "step", "time": 0, "step": 1}, "step event without"),
    (["step"], "JSON object"),
])
def test_parse_event_refuses_what_is_not_an_event(obj, problem):
    with pytest.raises(ValueError, match=problem):
        ev.parse_event(obj)


def test_error_details_sit_beside_the_message():
    error = ev.Error(1.0, "nonfinite", "the loss became nan", {"node": "n3", "step": 4})
    assert error.to_dict() == {"event": "error", "time": 1.0, "kind": "nonfinite",
                               "message": "the loss became nan", "node": "n3", "step": 4}
    assert ev.parse_event(error.to_dict()).details == {"node": "n3", "step": 4}


def test_worker_prints_events_and_stops_when_its_input_ends(tmp_path):
    design = tmp_path / "iris.json"
    save(_iris(epochs=1000), design)
    out = io.StringIO()
    status = worker.run(["train", str(design), "--run-dir", str(tmp_path / "run")],
                        stdin=io.StringIO(""), stdout=out)
    events = [ev.parse_event(json.loads(line)) for line in out.getvalue().splitlines()]
    assert status == 0 and isinstance(events[-1], ev.End) and events[-1].status == "stopped"
    assert (tmp_path / "run" / "checkpoints" / "last" / "manifest.json").is_file()


def test_worker_reports_a_bad_design_file_as_an_error_event(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    out = io.StringIO()
    assert worker.run(["train", str(bad), "--run-dir", str(tmp_path / "r")],
                      stdin=io.StringIO(""), stdout=out) == 1
    error, end = [ev.parse_event(json.loads(line)) for line in out.getvalue().splitlines()]
    assert isinstance(error, ev.Error) and "bad.json" in error.message and end.status == "failed"


def test_the_user_cli_no_longer_carries_the_worker_protocol(capsys):
    import main

    with pytest.raises(SystemExit):
        main.main(["train", str(EXAMPLES / "iris_mlp.json"), "--control-stdin"])
    assert "unrecognized arguments: --control-stdin" in capsys.readouterr().err
