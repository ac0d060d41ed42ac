"""Netwright: build, train and export neural networks by wiring layers on a canvas.

``python main.py`` opens the app on the design the user had open last (else the default
example). The same file is a headless CLI:

    python main.py validate FILE...     exit 0 when every design is valid
    python main.py summary FILE [--json]   per-layer shapes, parameters, MACs and memory
    python main.py templates            the network templates and their arguments
    python main.py new TEMPLATE -o FILE [--set NAME=VALUE]…   a design from a template
    python main.py code FILE            the generated PyTorch source
    python main.py train FILE [--data NAME|PATH] [--epochs N] [--json] …   train headless
    python main.py evaluate RUN_DIR [--json]    test-split metrics of a trained run
    python main.py export RUN_DIR|FILE --format FMT -o PATH   verified export
    python main.py import SOURCE -o DESIGN.json   an ONNX/torch.export/PyTorch model as a design
    python main.py open [FILE]          the editor, on FILE
    python main.py screenshot FILE -o PNG [--size WxH]   a PNG of the editor (works headless)

Run ``python main.py --help`` for every command. User errors print a readable message and exit
non-zero; they never show a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"
DEFAULT_EXAMPLE = EXAMPLES / "digits_cnn.json"
EXPORT_FORMATS = ("python", "safetensors", "torchscript", "onnx", "pt2")  # runtime.export.FORMATS


class UserError(Exception):
    """A problem with the user's input: printed as one message, exit status 1."""


def printable(text, keep_lines: bool = False) -> str:
    """``text`` safe for a terminal: control and format characters (escape sequences, bidi
    overrides, NUL…) from names, labels or paths are shown escaped (``\\x1b``), never sent.
    ``keep_lines`` lets line breaks through (multi-line messages)."""
    text = str(text)
    if keep_lines:
        return "\n".join(printable(line) for line in text.split("\n"))
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else
                   (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
                    if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}") for ch in text)


def _load(path: str):
    from graph.fileformat import DesignFileError, load

    try:
        return load(path)
    except DesignFileError as exc:
        raise UserError(str(exc)) from None


# ---- commands -------------------------------------------------------------------------------------


def _validate(design, path: str):
    """Validation with the memory of the device the design trains on (warns when it cannot fit)
    and, for a file dataset, what reading the file says (its shape, or why it cannot be read)."""
    from graph.validate import validate
    from runtime.data import data_facts
    from runtime.devices import memory_budget

    facts = data_facts(design.data, str(Path(path).resolve().parent))
    return validate(design, memory=memory_budget(str(design.training.get("device", "auto"))),
                    **facts)


def cmd_validate(args: argparse.Namespace) -> int:
    from graph.fileformat import DesignFileError, load

    status = 0
    for path in args.files:
        try:
            design = load(path)
        except DesignFileError as exc:
            print(printable(f"{path}: error: {exc.reason}" + (f" at {exc.where}" if exc.where else "")))
            status = 1
            continue
        report = _validate(design, path)
        if report.ok:
            warnings = len(report.diagnostics)
            print(f"{path}: valid ({len(design)} nodes"
                  + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "") + ")")
        else:
            status = 1
        shown = report.diagnostics if not report.ok or args.verbose else \
            [d for d in report.diagnostics if d.code == "memory"]
        for d in shown:
            print(printable(f"{path}: {d.format(design)}"))
    return status


def cmd_summary(args: argparse.Namespace) -> int:
    import json

    from graph.summary import human_bytes, human_count, summarize, summary_dict

    design = _load(args.file)
    report = _validate(design, args.file)
    summary = summarize(design, report.inference)
    if args.json:
        out = summary_dict(design, summary, report.ok)
        out["errors"] = [d.format(design) for d in report.errors]
        print(json.dumps(out, ensure_ascii=False))
        return 0 if report.network_ok else 1
    rows = [("name", "type", "output shape", "params", "MACs")]
    rows += [(printable(name), kind, r.shape, f"{r.params:,}", f"{r.macs:,}")
             for name, kind, r in _summary_rows(summary.rows, args.expand)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(cell.rjust(w) if j >= 3 else cell.ljust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"layers:                  {summary.total_layers:,} ({summary.nodes} at the top level)")
    print(f"total parameters:        {summary.total_params:,} ({human_count(summary.total_params)}, "
          f"{human_bytes(summary.param_bytes)})")
    if summary.frozen_params:
        print(f"  trainable / frozen:    {summary.trainable_params:,} / {summary.frozen_params:,}")
    print(f"total MACs per sample:   {summary.total_macs:,} ({human_count(summary.total_macs)})")
    print(f"  in conv/linear/matmul: {summary.total_matmul_macs:,} "
          f"({human_count(summary.total_matmul_macs)}; what fvcore and ptflops report)")
    print(f"activations (batch {summary.batch_size}): {human_bytes(summary.activation_bytes)}")
    print(f"training memory (Adam):  ~{human_bytes(summary.training_bytes)}")
    shown = [d for d in report.diagnostics if d.severity == "error" or d.code == "memory"]
    if shown:
        print()
    for d in shown:
        print(printable(d.format(design)))
    return 0 if report.network_ok else 1


def _summary_rows(rows, expand: bool, depth: int = 0):
    """``(name, type, row)`` per line: a block instance shows as a group (``BasicBlock ×2``)
    followed by its copies, indented; ``expand`` also lists every inner layer."""
    for r in rows:
        kind = f"{r.type} ×{r.repeat}" if r.repeat > 1 else r.type
        yield "  " * depth + r.name, kind, r
        if r.children and (expand or (depth == 0 and r.repeat > 1)):
            yield from _summary_rows(r.children, expand, depth + 1)


def cmd_templates(args: argparse.Namespace) -> int:
    from graph.templates import TEMPLATES

    for template in TEMPLATES.values():
        print(f"{template.name} — {template.title}: {template.doc}")
        for arg in template.args:
            choices = f" (one of {', '.join(map(str, arg.choices))})" if arg.choices else ""
            print(f"    {arg.name}={str(arg.default).lower() if isinstance(arg.default, bool) else arg.default}"
                  f"  {arg.doc}{choices}")
        if template.aliases:
            print(f"    aliases: {', '.join(template.aliases)}")
        small = ", ".join(f"{k}={v}" for k, v in template.small.items()) or \
            "its defaults are already small"
        print(f"    --small: trains on built-in data in seconds ({small})")
        print()
    print("Make one with: python main.py new TEMPLATE -o FILE [--set NAME=VALUE ...] [--small]")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from graph.fileformat import save
    from graph.summary import human_count
    from graph.templates import TemplateError, build, lookup
    from graph.validate import validate

    try:
        template, _ = lookup(args.template)
        values = {}
        for item in args.set or []:
            name, sep, text = item.partition("=")
            if not sep:
                raise TemplateError(f"--set takes NAME=VALUE, not {item!r}")
            values[name.strip()] = template.arg(name.strip()).parse(text)
        design = build(args.template, values, small=args.small)
    except TemplateError as exc:
        raise UserError(str(exc)) from None
    out = Path(args.output)
    if out.suffix != ".json":
        out = out.with_suffix(".json")
    try:
        save(design, out)
    except OSError as exc:
        raise UserError(f"{out}: cannot write: {exc.strerror}") from None
    report = validate(design)
    args_text = ", ".join(f"{k}={v}" for k, v in design.template["args"].items())
    print(f"{out}: {design.name} ({args_text}): {len(design)} nodes, "
          f"{report.inference.total_layers} layers, {report.inference.total_params:,} parameters, "
          f"{human_count(report.inference.total_macs)} MACs")
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    from runtime.codegen import python_source
    from runtime.compiler import CompileError, compile_structure

    design = _load(args.file)
    try:
        compiled = compile_structure(design)  # the code needs no weights: never allocate them
    except CompileError as exc:
        raise UserError(str(exc)) from None
    # the module the app's Code tab shows; names in its comments stay printable
    print(printable(python_source(design, compiled), keep_lines=True), end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from runtime.export import ExportError, export_source, load_source

    try:
        source = load_source(args.source, args.checkpoint)
        if source.fresh:
            print(f"note: {args.source} is a design file; exporting freshly initialized weights")
        result = export_source(source, args.format, args.output)
    except ExportError as exc:
        raise UserError(str(exc)) from None
    print(result.describe())
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from runtime.importers import (CODE_WARNING, CodeImportRefused, ConversionError, UnsupportedModel,
                                   describe_unmapped, import_model, needs_code, preprocessing_note,
                                   save_imported)

    if not Path(args.output).resolve().parent.is_dir():
        raise UserError(f"{Path(args.output).parent}: no such directory")
    if needs_code(args.source) and args.allow_code:
        print(f"warning: {CODE_WARNING}", file=sys.stderr)
    shape = _json_flag("--input-shape", args.input_shape, "[1, 8, 8]")
    ctor = _json_flag("--args", args.args, '{"num_classes": 10}')
    try:
        imported = import_model(args.source, placeholders=args.placeholders,
                                allow_code=args.allow_code, input_shape=shape, args=ctor,
                                flat=args.flat)
    except CodeImportRefused:
        raise UserError(f"{CODE_WARNING} Add --allow-code to import {args.source}.") from None
    except UnsupportedModel as exc:
        raise UserError(f"{exc.source}: cannot import, {describe_unmapped(exc.unmapped)}\n"
                        "(add --placeholders to bring these in as nodes marked as errors)") from None
    except ConversionError as exc:
        raise UserError(str(exc)) from None
    weights = save_imported(imported, args.output)
    from graph.shapes import infer
    from graph.summary import counted

    params = infer(imported.design).total_params if not imported.unmapped else None
    blocks = len(imported.design.blocks)
    print(f"imported {args.source} → {args.output} ({len(imported.design)} nodes"
          + (f", {counted(blocks, 'block')}" if blocks else "")
          + (f", {params:,} parameters" if params is not None else "") + f"), weights {weights}")
    if imported.max_diff is not None:
        print(f"verified against the source on random inputs: max abs difference "
              f"{imported.max_diff:.3g}")
    for note in imported.notes:
        print(f"note: {printable(note)}")
    print(f"note: {preprocessing_note(imported.design)}")
    if imported.unmapped:
        print("placeholders (errors until replaced): " + describe_unmapped(imported.unmapped))
    return 0


def _json_flag(flag: str, value: str | None, example: str):
    """The JSON value of ``flag`` (None when not given), or a UserError naming the flag."""
    import json

    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise UserError(f"{flag} must be JSON, such as {example} ({exc})") from None


def cmd_weights(args: argparse.Namespace) -> int:
    from graph.fileformat import save
    from runtime.compiler import CompileError
    from runtime.weights import WeightsError, adopt_weights, preview_weights

    design = _load(args.file)
    try:
        preview = preview_weights(design, Path(args.file).parent, args.weights)
    except (WeightsError, CompileError) as exc:
        raise UserError(str(exc)) from None
    rows = preview.rows()
    widths = [max(len(r[i]) for r in rows + [("status", "design tensor", "file tensor", "shape")])
              for i in range(4)]
    for row in [("status", "design tensor", "file tensor", "shape")] + rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print(preview.matching.describe())
    if not args.apply:
        print("nothing applied (add --apply to start the design from these weights)")
        return 0
    try:
        out = adopt_weights(preview, design, args.file)
    except WeightsError as exc:
        raise UserError(str(exc)) from None
    save(design, args.file)
    print(f"wrote {out}; {args.file} now starts from it")
    return 0


def _train_data(design, value: str) -> dict:
    """The design's ``data`` setting with ``--data NAME|PATH`` applied."""
    from graph.settings import DATASETS
    from runtime.data import DataError, data_from_path

    spec = DATASETS.get(value)
    if spec is not None and spec.kind != "file":
        options = design.data.get("options", {}) if design.data.get("name") == value else {}
        return dict(design.data, name=value, options=spec.resolve(options))
    if spec is not None:
        raise UserError(f"--data {value} needs a file: give its path instead (e.g. --data "
                        f"data/train.{'csv' if value == 'csv' else value})")
    try:
        found = data_from_path(value)
    except DataError as exc:
        raise UserError(str(exc)) from None
    return dict(design.data, name=found["name"],
                options=DATASETS[found["name"]].resolve(found["options"]))


TASK_FLAGS = {"classify": "classification", "regress": "regression", "auto": "auto"}
TABLE_FLAGS = ("target", "features", "header", "skip_rows", "delimiter", "task", "missing")


def _table_options(data: dict, args: argparse.Namespace) -> dict:
    """``data`` with the CSV flags (``--target``, ``--features``, ``--header``, ``--skip-rows``,
    ``--delimiter``, ``--task``, ``--missing``) applied to its options."""
    from graph.settings import CSV_DELIMITERS, check_data

    given = {k: getattr(args, k) for k in TABLE_FLAGS if getattr(args, k, None) is not None}
    if not given:
        return data
    name = data.get("name")
    allowed = TABLE_FLAGS if name == "csv" else ("task",) if name == "npz" else ()
    wrong = [k for k in given if k not in allowed]
    if wrong:
        flag = "--" + wrong[0].replace("_", "-")
        raise UserError(f"{flag} applies to CSV files (and --task to .npz too); the dataset is "
                        f"{name} (choose a file with --data PATH)")
    if "task" in given:
        given["task"] = TASK_FLAGS[given["task"]]
    if "delimiter" in given:
        text = {"\\t": "\t", "\\s": " "}.get(given["delimiter"], given["delimiter"])
        names = {char: label for label, char in CSV_DELIMITERS.items() if char}
        if text not in names and text not in CSV_DELIMITERS:
            raise UserError(f"--delimiter {given['delimiter']!r}: use one of , ; | tab space "
                            "(or auto)")
        given["delimiter"] = names.get(text, text)
    out = dict(data, options=dict(data.get("options", {}), **given))
    problems = check_data(out)
    if problems:
        raise UserError(f"--{problems[0][0].split('.')[-1].replace('_', '-')}: {problems[0][1]}")
    return out


class _Progress:
    """Plain-text progress: a live ``\\r`` line on a terminal, one line per epoch."""

    def __init__(self, stream=None, frozen: int = 0):
        self.stream = stream or sys.stderr  # the one in place now (tests swap it)
        self.live = self.stream.isatty()
        self.width = 0
        self.frozen = frozen  # parameters of frozen layers: the run counts the trainable ones

    def _clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0

    def __call__(self, e: dict) -> None:
        kind = e["event"]
        if kind == "start":
            sizes = e["sizes"]
            print(f"training {printable(e['design'])} on {e['device']} ({e['device_name']}, {e['precision']}): "
                  f"{sizes['train']:,} train / {sizes['val']:,} val / {sizes['test']:,} test samples, "
                  + (f"{e['parameters']:,} trainable ({self.frozen:,} frozen)" if self.frozen
                     else f"{e['parameters']:,} parameters")
                  + f", {e['epochs']} epoch{'s' * (e['epochs'] != 1)}"
                  f" × {e['steps_per_epoch']} step{'s' * (e['steps_per_epoch'] != 1)}", flush=True)
            if e["resumed"]:
                print(f"resuming at epoch {e['start_epoch']}, step {e['start_step']}")
            print(f"run folder: {printable(e['run_dir'])}")
            for w in e["warnings"]:
                print(f"warning: {printable(w)}")
            for note in e.get("notes", ()):
                print(f"note: {printable(note)}")
        elif kind == "step" and self.live:
            done = e["batch"] / e["batches"]
            bar = "#" * int(done * 20) + "." * (20 - int(done * 20))
            eta = f"  eta {e['eta_s']:.0f}s" if e.get("eta_s") is not None else ""
            line = (f"epoch {e['epoch']} [{bar}] {e['batch']}/{e['batches']}  loss "
                    f"{_fmt(e['loss'])}  {e['samples_per_s']:,.0f} samples/s{eta}")
            self._clear()
            self.stream.write(line)
            self.stream.flush()
            self.width = len(line)
        elif kind == "epoch":
            self._clear()
            parts = [f"epoch {e['epoch']}/{e['epochs']}"]
            parts += [f"{k} {_fmt(v)}" for k, v in e.items()
                      if (k == "train_loss" or k.startswith("val_")) and v is not None]
            parts.append(f"lr {e['lr']:.3g}")
            parts.append(f"{e['duration_s']:.1f}s" + ("  *" if e["improved"] else ""))
            print("  ".join(parts), flush=True)
        elif kind in ("paused", "resumed"):
            self._clear()
            print(f"{kind} at step {e['step']}", flush=True)
        elif kind == "warning":
            self._clear()
            print(f"warning: {e['message']}", flush=True)
        elif kind == "error":
            self._clear()
        elif kind == "end" and e["status"] != "failed":  # a failure prints its error instead
            self._clear()
            best = e.get("best") or {}
            from graph.summary import counted

            text = f"{e['status'].replace('_', ' ')} after {counted(e['epochs_completed'], 'epoch')}"
            if best.get("value") is not None:
                text += f"; best {best['metric']} {_fmt(best['value'])} at epoch {best['epoch']}"
            print(text)
            if e.get("run_dir"):
                print(f"evaluate with: python main.py evaluate {printable(e['run_dir'])}")
                if e["status"] == "stopped":
                    print(f"continue with: python main.py train --resume {printable(e['run_dir'])}")


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def cmd_train(args: argparse.Namespace) -> int:
    if args.distributed:
        return _train_distributed(args)
    return _run_training(args, _train_job(args), parallel=None)


def _train_job(args: argparse.Namespace) -> dict:
    """What ``train`` was asked to do, checked: the trainer's keyword arguments."""
    from graph.settings import flagged_settings
    from runtime.runs import RunError, load_run

    overrides = flagged_settings(args)
    design = None
    if args.resume:
        if args.data or any(getattr(args, k, None) is not None for k in TABLE_FLAGS):
            raise UserError("the data cannot change when resuming a run (--data and the CSV "
                            "flags)")
        if args.run_dir:
            raise UserError("--run-dir cannot be used with --resume (the run continues in its "
                            "own folder)")
        if args.file:
            given = _load(args.file)
            try:
                trained = load_run(args.resume).design
            except RunError as exc:
                raise UserError(str(exc)) from None
            if _network(given) != _network(trained):
                raise UserError(f"{args.file} is not the design {args.resume} was trained on; "
                                "leave FILE out to resume with the run's own copy")
    elif not args.file:
        raise UserError("give a design FILE to train (or --resume RUN_DIR)")
    else:
        design = _load(args.file)
        if args.data:
            design.set_data(_train_data(design, args.data))
        design.set_data(_table_options(design.data, args))
        if args.weights:  # start from these weights (matched by name, then by shape)
            if not Path(args.weights).is_file():
                raise UserError(f"{args.weights}: no such weights file")
            design.set_initial_weights(str(Path(args.weights).resolve()))
    return {"design": design, "run_dir": args.run_dir, "overrides": overrides,
            "resume": args.resume, "design_path": args.file}


def _run_training(args: argparse.Namespace, job: dict, parallel) -> int:
    """Train ``job``, printing progress (rank 0 only in a distributed run)."""
    import signal

    from runtime.training import Control, train

    control = Control()

    def on_interrupt(signum, frame):  # first Ctrl-C: stop cleanly and keep a checkpoint
        control.request_stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    # Under torchrun, the launcher owns Ctrl-C: it stops every rank.
    previous = signal.signal(signal.SIGINT, on_interrupt) if parallel is None else None
    show = (lambda e: print(e.to_json(), flush=True)) if args.json else _Progress(
        frozen=_frozen_params(job))
    if parallel is not None and not parallel.is_main:
        show = lambda e: None  # noqa: E731  (only rank 0 prints)
    status, message = "failed", None
    try:
        for event in train(control=control, parallel=parallel, **job):
            show(event)
            if event.EVENT == "error":
                message = event["message"]
            elif event.EVENT == "end":
                status = event["status"]
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if status == "failed":
        raise UserError(message or "training failed")
    return 0


def _frozen_params(job: dict) -> int:
    """Parameters the job's design keeps frozen (the Summary's split), 0 when unknown."""
    from graph.summary import summarize
    from runtime.runs import RunError, load_run

    design = job.get("design")
    if design is None and job.get("resume"):
        try:
            design = load_run(job["resume"]).design
        except RunError:
            return 0  # training says what is wrong with the run
    return summarize(design, rows=False).frozen_params if design is not None else 0


def _train_distributed(args: argparse.Namespace) -> int:
    """``train --distributed``: this process is one rank of a DDP job started by torchrun."""
    from runtime.distributed import DistributedError, count_finished, session, trainer_parallel
    from runtime.runs import RunError, load_run

    setting = args.device
    if setting is None and args.resume:
        try:
            setting = load_run(args.resume).config.get("training", {}).get("device")
        except RunError as exc:
            raise UserError(str(exc)) from None
    elif setting is None and args.file:
        setting = _load(args.file).training.get("device")
    try:
        with session(setting or "auto") as ctx:
            job = _train_job(args)
            job["overrides"]["device"] = str(ctx.device)  # each rank drives its own device
            try:
                status = _run_training(args, job, trainer_parallel(ctx))
            except UserError as exc:
                raise UserError(str(exc) if ctx.is_main else f"rank {ctx.rank}: {exc}") from None
            finished = count_finished(ctx)
            if ctx.is_main:
                print(f"all {finished} of {ctx.world_size} processes finished ({ctx.backend})")
            return status
    except DistributedError as exc:
        raise UserError(str(exc)) from None


def _network(design) -> tuple:
    """What must match for a checkpoint to fit a design: layers, their params, and links."""
    nodes = tuple(sorted((n.id, n.type, repr(sorted(n.resolved_params().items())))
                         for n in design.nodes))
    return nodes, tuple((e.src, e.src_port, e.dst, e.dst_port) for e in design.edges)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from graph.metrics import label, metric_names
    from runtime.training import TrainingError, evaluate_run

    try:
        r = evaluate_run(args.run_dir, args.checkpoint, args.split, args.device)
    except TrainingError as exc:
        raise UserError(exc.message) from None
    if args.json:
        print(json.dumps(r))
        return 0
    if r.get("note"):
        print(f"note: {printable(r['note'])}")
    print(f"{printable(r['run_dir'])}: {r['checkpoint']} weights on the {r['split']} split "
          f"({r['samples']:,} samples)")
    for k in ("loss", *metric_names()):
        if r.get(k) is not None:
            print(f"  {label(k):<16} {r[k]:.4f}")
    if r["task"] != "classification":
        return 0
    names = [printable(n) for n in r["classes"]]
    w = max(5, *(len(n) for n in names))
    print()
    print(f"  {'class':<{w}}  precision  recall      f1  support")
    for c in r["per_class"]:
        print(f"  {printable(c['class']):<{w}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:6.4f}  "
              f"{c['support']:7d}")
    print()
    print("  confusion matrix (rows: true class, columns: predicted class)")
    cw = max(len(str(v)) for row in r["confusion_matrix"] for v in row)
    cw = max(cw, *(len(n) for n in names))
    print("  " + " " * w + "  " + " ".join(f"{n:>{cw}}" for n in names))
    for name, row in zip(names, r["confusion_matrix"]):
        print(f"  {name:<{w}}  " + " ".join(f"{v:>{cw}}" for v in row))
    return 0


def cmd_open(args: argparse.Namespace) -> int:
    from ui.app import run_app

    # With no command: the design the user had open last, else the example.
    return run_app(args.file, reopen=DEFAULT_EXAMPLE if getattr(args, "reopen", False) else None)


def cmd_screenshot(args: argparse.Namespace) -> int:
    from ui.app import parse_size, screenshot, use_offscreen_without_display

    use_offscreen_without_display()  # before Qt starts
    try:
        size = parse_size(args.size)
        out = screenshot(args.file, args.output, size)
    except (ValueError, OSError) as exc:  # DesignFileError is a ValueError
        raise UserError(str(exc)) from None
    print(f"wrote {out} ({size[0]}×{size[1]})")
    return 0


# ---- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netwright", description="Build, train and export neural networks. "
        "With no command, opens the app on the design you had open last (else an example).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check designs; exit 0 when all are valid")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="also list warnings of valid designs")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and memory")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: params, macs, layers, nodes, rows and block groups")
    p.add_argument("--expand", action="store_true", help="list the layers inside every block")
    p.set_defaults(func=cmd_summary)

    _add_template_commands(sub)

    p = sub.add_parser("code", help="print the generated PyTorch source")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_code)

    p = sub.add_parser("export", help="export a run's model (or a design's fresh model), verified",
                       description="Export to FORMAT and check that what was written reproduces "
                       "the model's outputs (max abs difference ≤ 1e-4).")
    p.add_argument("source", metavar="RUN_DIR|FILE",
                   help="a run directory (trained weights) or a design file (fresh weights)")
    p.add_argument("--format", "-f", required=True, choices=EXPORT_FORMATS)
    p.add_argument("-o", "--output", required=True, metavar="PATH",
                   help="file to write (the format's suffix is added when missing)")
    _add_checkpoint_flag(p, "which checkpoint of a run directory to export (default: best)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("import", help="bring an ONNX, torch.export or PyTorch model in as a design",
                       description="Convert SOURCE (model.onnx, program.pt2 or file.py:ClassName) "
                       "into a design and its initial weights (DESIGN.safetensors beside it), "
                       "checked against the source on random inputs. Operators without a layer "
                       "stop the import with their list, unless --placeholders.")
    p.add_argument("source", metavar="SOURCE")
    p.add_argument("-o", "--output", required=True, metavar="DESIGN.json")
    p.add_argument("--placeholders", action="store_true",
                   help="bring unsupported operators in as placeholder nodes (marked as errors)")
    p.add_argument("--flat", action="store_true",
                   help="keep every layer at the top level instead of making submodules blocks "
                   "(layer1.0 → a block instance; alike submodules share one block)")
    p.add_argument("--allow-code", action="store_true",
                   help="allow .pt2 and .py sources, which run code from the file (in a child "
                   "process); only for files you trust")
    p.add_argument("--input-shape", metavar="JSON", help="sample shape without the batch for a "
                   "Python class, e.g. [3, 224, 224] (default: the file's INPUT_SHAPE)")
    p.add_argument("--args", metavar="JSON", help="constructor arguments of a Python class: a "
                   "JSON list or object, e.g. '{\"num_classes\": 10}'")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("weights", help="match pretrained weights to a design; --apply adopts them",
                       description="Show how the tensors of WEIGHTS (safetensors, or a .pt/.pth "
                       "state dict read with weights_only) match the design's: by name, then by "
                       "shape in order. With --apply, write DESIGN.safetensors and make the "
                       "design start from it.")
    p.add_argument("file", metavar="DESIGN")
    p.add_argument("weights", metavar="WEIGHTS")
    p.add_argument("--apply", action="store_true", help="adopt the matched tensors")
    p.set_defaults(func=cmd_weights)

    _add_train_command(sub)

    p = sub.add_parser("evaluate", help="test-split metrics of a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    _add_checkpoint_flag(p, "which checkpoint to evaluate (default: best)")
    p.add_argument("--split", choices=("test", "val", "train"), default="test")
    p.add_argument("--device", default="cpu", metavar="D")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("open", help="open the app with FILE")
    p.add_argument("file", metavar="FILE", nargs="?", default=None)
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("screenshot", help="save a PNG of the editor with FILE loaded (no screen needed)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="PNG")
    p.add_argument("--size", default="1400x900", metavar="WxH", help="window size (default 1400x900)")
    p.set_defaults(func=cmd_screenshot)

    return parser


def _add_checkpoint_flag(p: argparse.ArgumentParser, help: str) -> None:
    from runtime.paths import CHECKPOINT_KINDS

    p.add_argument("--checkpoint", choices=CHECKPOINT_KINDS, default=CHECKPOINT_KINDS[0], help=help)


def _add_train_command(sub) -> None:
    from graph.settings import add_setting_flags

    p = sub.add_parser("train", help="train a design headless; writes a run folder",
                       description="Train FILE with its own settings; the flags override them. "
                       "Writes runs/<design>-<time>/ (weights, metrics, logs). Ctrl-C stops "
                       "cleanly and keeps a checkpoint to --resume from.")
    p.add_argument("file", metavar="FILE", nargs="?", default=None,
                   help="the design (optional with --resume)")
    p.add_argument("--data", metavar="NAME|PATH",
                   help="a built-in dataset name, or a .csv/.npz file, IDX file or image folder")
    table = p.add_argument_group("CSV data (the file given with --data, or the design's own)")
    table.add_argument("--target", metavar="COLUMN", help="the column to predict (default: the last)")
    table.add_argument("--features", metavar="A,B,…", help="the input columns (default: all others)")
    table.add_argument("--header", choices=("auto", "yes", "no"),
                       help="whether the first line names the columns (default: auto)")
    table.add_argument("--skip-rows", type=int, metavar="N", help="lines to skip at the top")
    table.add_argument("--delimiter", metavar="C", help="field separator: , ; | tab space "
                       "(default: detected)")
    table.add_argument("--task", choices=tuple(TASK_FLAGS),
                       help="classify or regress (default: decided from the target column)")
    table.add_argument("--missing", choices=("error", "drop", "mean"),
                       help="empty or NA cells: stop with an error (default), drop the row, or "
                       "fill with the training mean")
    add_setting_flags(p)  # --epochs, --batch-size, --lr, --device, --seed
    p.add_argument("--run-dir", metavar="DIR", help="where to write the run (default runs/…)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run")
    p.add_argument("--weights", metavar="FILE", help="start from these pretrained weights "
                   "(safetensors or a .pt/.pth state dict; matched by name, then by shape)")
    p.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training (DDP) under torchrun: torchrun "
                   "--nproc_per_node=N main.py train FILE --distributed")
    p.set_defaults(func=cmd_train)


def _add_template_commands(sub) -> None:
    p = sub.add_parser("templates", help="list the network templates and their arguments")
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("new", help="make a design file from a template",
                       description="Make a design from TEMPLATE (or a torchvision name such as "
                       "resnet50 or vgg16_bn) and write it to FILE.")
    p.add_argument("template", metavar="TEMPLATE")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a template argument, e.g. --set depth=34 (repeatable)")
    p.add_argument("--small", action="store_true",
                   help="start from the small variant that trains on the built-in digits")
    p.set_defaults(func=cmd_new)


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # shapes print as 1×8×8: never fail on a narrow codec
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if len(argv) == 1 and argv[0].lower().endswith(".json"):  # `main.py FILE`: open it
        argv = ["open", argv[0]]
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["open"])
        args.reopen = True
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {printable(exc, keep_lines=True)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`… | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
