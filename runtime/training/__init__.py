"""The headless training engine: a generator of plain, JSON-ready progress events.

    from runtime.training import Control, train
    control = Control()                      # request_stop() / pause() / resume(), thread-safe
    for event in train(design, run_dir="runs/demo", control=control):
        print(event["event"], event)

Every event is a dict of JSON types with ``"event"`` (its kind) and ``"time"`` (seconds since the
run started). Epochs are counted from 1; ``step`` counts optimizer steps done so far (with the
``accumulate`` setting, each adds up that many batches; ``batch`` counts batches).

``stage``        ``stage``: "checking settings", "loading data", "compiling", "preparing"
``start``        ``run_dir``, ``design``, ``device``, ``device_name``, ``precision``, ``task``,
                 ``classes`` (names), ``sample_shape``, ``parameters``, ``epochs``,
                 ``steps_per_epoch``, ``total_steps``, ``batch_size``, ``sizes`` (train/val/test),
                 ``metrics``, ``monitor`` (metric deciding "best"), ``seed``, ``resumed``,
                 ``start_epoch``, ``start_step``, ``warnings`` (list of text), ``accumulate``,
                 ``compile``
``step``         ``step``, ``epoch``, ``batch``, ``batches``, ``loss`` (mean since the last step
                 event), ``lr``, ``samples_per_s``, ``eta_s``; sent at most every
                 ``step_interval`` seconds
``epoch``        ``epoch``, ``step``, ``train_loss``, ``val_loss`` and ``val_<metric>`` (e.g.
                 ``val_accuracy``, ``val_f1``, ``val_mae``; None without a validation split),
                 ``lr``, ``duration_s``, ``samples_per_s``, ``improved``, ``best`` ({metric, value,
                 epoch})
``diagnostics``  ``step``, ``epoch``, ``layers``: [{``node``, ``name``, ``type``, ``grad_norm``,
                 ``act_mean``, ``act_std``, ``dead_fraction`` (``dead_units`` layers: ReLU)}] every
                 ``diagnostics_every`` steps (hooks are attached on those steps only)
``checkpoint``   ``kind`` ("best" or "last"), ``path``, ``epoch``, ``step``; written at most
                 every ``checkpoint_interval`` seconds, and always at the end of a run
``warning``      ``message``: something the run works around (torch.compile cannot run here)
``paused``, ``resumed``   ``step``, ``epoch``
``error``        ``kind`` ("settings", "device", "data", "design", "nonfinite", "run",
                 "internal"), ``message``; design errors add ``diagnostics`` [{severity, code,
                 message, node, name, fix}], non-finite losses add ``node``, ``layer``, ``step``
``end``          ``status`` ("completed", "stopped", "early_stopped", "failed"),
                 ``epochs_completed``, ``step``, ``best``, ``duration_s``, ``run_dir``

The last event is always ``end``. Files written to the run folder are described in
:mod:`runtime.runs`. A distributed (DDP) run plugs in through :class:`Parallel`: it wraps the
model, shards the sample order by rank and averages the reported training loss.

The package: :mod:`.loop` (the :class:`Trainer` and its epoch loop), :mod:`.setup` (checks before
a run), :mod:`.losses`, :mod:`.optim` (optimizers and schedules), :mod:`.probes` (per-layer
diagnostics), :mod:`.evaluation` (a split, or a finished run) and :mod:`.control`.
"""
from .control import Control, Parallel, TrainingError
from .evaluation import evaluate_run, evaluate_split
from .loop import Trainer, train
from .losses import LossFn, first_output
from .optim import LRSchedule, make_optimizer
from .setup import RESUMABLE_OVERRIDES, resolve_training, selected_metrics

STATUSES = ("completed", "stopped", "early_stopped", "failed")

__all__ = ["RESUMABLE_OVERRIDES", "STATUSES", "Control", "LRSchedule", "LossFn", "Parallel",
           "Trainer", "TrainingError", "evaluate_run", "evaluate_split", "first_output",
           "make_optimizer", "resolve_training", "selected_metrics", "train"]
