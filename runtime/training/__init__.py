"""The headless training engine: a generator of plain, JSON-ready progress events.

    from runtime.training import Control, train
    control = Control()                      # request_stop() / pause() / resume(), thread-safe
    for event in train(design, run_dir="runs/demo", control=control):
        print(event.EVENT, event.to_dict())

The events are typed, defined once in :mod:`runtime.events` (``Stage``, ``Start``, ``Step``,
``Epoch``, ``Diagnostics``, ``Checkpoint``, ``Notice``, ``Paused``, ``Resumed``, ``Error``,
``End``); each reads like its JSON object (``event["event"]``, ``event["loss"]``) and writes
itself as one (``event.to_dict()``). Checkpoints are written at most every ``checkpoint_interval`` seconds,
and always at the end of a run.

The last event is always ``end``. Files written to the run folder are described in
:mod:`runtime.runs`. A distributed (DDP) run plugs in through :class:`Parallel`: it wraps the
model, shards the sample order by rank and averages the reported training loss.

The package: :mod:`.loop` (the :class:`Trainer` and its epoch loop), :mod:`.setup` (checks before
a run), :mod:`.losses`, :mod:`.optim` (optimizers and schedules), :mod:`.probes` (per-layer
diagnostics), :mod:`.evaluation` (a split, or a finished run) and :mod:`.control`.
"""
from .. import events
from .control import Control, Parallel, TrainingError
from .evaluation import evaluate_run, evaluate_split
from .loop import Trainer, train
from .losses import LossFn, first_output
from .optim import LRSchedule, make_optimizer
from .setup import RESUMABLE_OVERRIDES, resolve_training, selected_metrics

STATUSES = ("completed", "stopped", "early_stopped", "failed")

__all__ = ["events", "RESUMABLE_OVERRIDES", "STATUSES", "Control", "LRSchedule", "LossFn", "Parallel",
           "Trainer", "TrainingError", "evaluate_run", "evaluate_split", "first_output",
           "make_optimizer", "resolve_training", "selected_metrics", "train"]
