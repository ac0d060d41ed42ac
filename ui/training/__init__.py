"""Training in the app: a child-process runner, the training panel, live plots, run history,
results, data preview, depth diagnostics and export — see :mod:`ui.training.workspace`."""
