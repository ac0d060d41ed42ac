"""The app's training child: ``python -m runtime.worker`` (not a user command).

    python -m runtime.worker train DESIGN_FILE --run-dir DIR [--epochs N …]
    python -m runtime.worker resume RUN_DIR [--epochs N …]

It prints every event of :mod:`runtime.events` as one JSON object per line on stdout
and obeys ``pause``, ``resume`` and ``stop`` lines on stdin; the end of stdin (the app has gone)
stops the run cleanly, keeping a checkpoint. Problems found before training starts arrive as an
``error`` event followed by ``end``, like any other failure. Exit status: 0 when the run ended
on its own terms (completed, stopped, early stopped), 1 when it failed, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
import threading
from typing import IO, Sequence

from graph.settings import add_setting_flags, flagged_settings



def follow_control(control, stream: IO[str]) -> threading.Thread:
    """Obey "pause", "resume" and "stop" lines from ``stream`` on a daemon thread; the end of
    the stream stops the run."""

    def follow() -> None:
        for line in stream:
            command = line.strip().lower()
            if command == "pause":
                control.pause()
            elif command == "resume":
                control.resume()
            elif command == "stop":
                control.request_stop()
        control.request_stop()

    thread = threading.Thread(target=follow, name="worker-control", daemon=True)
    thread.start()
    return thread


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m runtime.worker",
                                description="The app's training process (JSON events on stdout, "
                                "pause/resume/stop on stdin).")
    sub = p.add_subparsers(dest="mode", required=True)
    train = sub.add_parser("train")
    train.add_argument("design", metavar="DESIGN_FILE")
    train.add_argument("--run-dir", required=True)
    train.add_argument("--design-file", help="the design's own file, recorded in the run's "
                       "config, when DESIGN_FILE is a temporary copy of it ('' for none)")
    resume = sub.add_parser("resume")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    for command in (train, resume):
        add_setting_flags(command)
    return p


def run(argv: Sequence[str] | None = None, stdin: IO[str] | None = None,
        stdout: IO[str] | None = None) -> int:
    args = parser().parse_args(argv)
    out = stdout or sys.stdout

    from graph.fileformat import DesignFileError, load

    from .training import Control, train
    from .events import End, Error

    overrides = flagged_settings(args)
    control = Control()
    follow_control(control, stdin or sys.stdin)
    if args.mode == "train":
        try:
            design = load(args.design)
        except DesignFileError as exc:
            for event in (Error(0.0, "design", str(exc)),
                          End(0.0, "failed", 0, 0, {}, 0.0, None)):
                out.write(event.to_json() + "\n")
            return 1
        events = train(design, run_dir=args.run_dir, overrides=overrides, control=control,
                       design_path=(args.design if args.design_file is None
                                    else args.design_file or None))
    else:
        events = train(resume=args.run_dir, overrides=overrides, control=control)
    status = "failed"
    for event in events:
        out.write(event.to_json() + "\n")
        out.flush()
        if isinstance(event, End):
            status = event.status
    return 1 if status == "failed" else 0


if __name__ == "__main__":
    sys.exit(run())
