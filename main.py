"""Netwright: build, train and export neural networks by wiring layers on a canvas.

``python main.py`` opens the app with the default example. The same file is a headless CLI:

    python main.py validate FILE...     exit 0 when every design is valid
    python main.py summary FILE         per-layer shapes, parameters, MACs and memory
    python main.py code FILE            the generated PyTorch source
    python main.py export RUN_DIR|FILE --format FMT -o PATH   verified export
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


def _load(path: str):
    from graph.fileformat import DesignFileError, load

    try:
        return load(path)
    except DesignFileError as exc:
        raise UserError(str(exc)) from None


# ---- commands -------------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from graph.fileformat import DesignFileError, load
    from graph.validate import validate

    status = 0
    for path in args.files:
        try:
            design = load(path)
        except DesignFileError as exc:
            print(f"{path}: error: {exc.reason}" + (f" at {exc.where}" if exc.where else ""))
            status = 1
            continue
        report = validate(design)
        if report.ok:
            warnings = len(report.diagnostics)
            print(f"{path}: valid ({len(design)} nodes"
                  + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "") + ")")
        else:
            status = 1
        if not report.ok or args.verbose:
            for d in report.diagnostics:
                print(f"{path}: {d.format(design)}")
    return status


def cmd_summary(args: argparse.Namespace) -> int:
    from graph.summary import human_bytes, human_count, summarize
    from graph.validate import validate

    design = _load(args.file)
    report = validate(design)
    summary = summarize(design, report.inference)
    rows = [("name", "type", "output shape", "params", "MACs")]
    rows += [(r.name, r.type, r.shape, f"{r.params:,}", human_count(r.macs)) for r in summary.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for i, row in enumerate(rows):
        print("  ".join(cell.rjust(w) if j >= 3 else cell.ljust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    print(f"total parameters:        {summary.total_params:,} ({human_bytes(summary.param_bytes)})")
    print(f"total MACs per sample:   {human_count(summary.total_macs)}")
    print(f"activations (batch {summary.batch_size}): {human_bytes(summary.activation_bytes)}")
    print(f"training memory (Adam):  ~{human_bytes(summary.training_bytes)}")
    if not report.ok:
        print()
        for d in report.errors:
            print(d.format(design))
        return 1
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    import torch

    from runtime.compiler import CompileError, compile_design

    design = _load(args.file)
    try:
        with torch.device("meta"):  # the code needs no weights: never allocate them
            compiled = compile_design(design)
    except CompileError as exc:
        raise UserError(str(exc)) from None
    one_line = lambda text: " ".join(str(text).split())  # noqa: E731  (comments stay comments)
    print(f"# {one_line(design.name)}: the layers, then forward (runnable source: python main.py "
          f"export {one_line(args.file)} --format python -o model.py)")
    for name, module in compiled.module.named_children():
        print(f"#   self.{name} = {one_line(repr(module))}")
    print(compiled.module.code.strip())
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


def cmd_open(args: argparse.Namespace) -> int:
    from ui.app import run_app

    return run_app(args.file)


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
        "With no command, opens the app on the default example.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check designs; exit 0 when all are valid")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="also list warnings of valid designs")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and memory")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(func=cmd_summary)

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
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which checkpoint of a run directory to export (default: best)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("open", help="open the app with FILE")
    p.add_argument("file", metavar="FILE", nargs="?", default=None)
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("screenshot", help="save a PNG of the editor with FILE loaded (no screen needed)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--output", required=True, metavar="PNG")
    p.add_argument("--size", default="1400x900", metavar="WxH", help="window size (default 1400x900)")
    p.set_defaults(func=cmd_screenshot)

    return parser


def main(argv: list[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # shapes print as 1×8×8: never fail on a narrow codec
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["open", str(DEFAULT_EXAMPLE)])
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
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
