"""Run training in a child process and deliver its events to the GUI thread.

The child is the worker, ``python -m runtime.worker train SNAPSHOT --run-dir DIR`` (or ``resume
DIR``): it prints one event (:mod:`runtime.events`) per line as JSON and reads
``pause``/``resume``/``stop`` lines on stdin; each line is parsed back into its typed event. Output is read on
``readyReadStandardOutput``, so the GUI thread never waits; a crash, an out-of-memory kill or a
SIGKILL of the child ends the run as failed with the child's last words, and nothing of it can
take the editor down.
"""
from __future__ import annotations

import collections
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from runtime.events import End, Error, parse_event

ROOT = Path(__file__).resolve().parents[2]
WORKER = "runtime.worker"
STDERR_TAIL = 40  # lines of stderr kept for the failure message
LINES_PER_SLICE = 20  # child events handled before the window gets a turn
STOP_GRACE_MS = 30_000  # after "stop", how long the child may take to save before it is killed

IDLE, STARTING, RUNNING, PAUSED, STOPPING = "idle", "starting", "running", "paused", "stopping"


def child_threads() -> int:
    """Compute threads for the training child: every core but one, which the app keeps for
    its own event loop. (Torch's threads spin while they wait for each other, so a child that
    takes every core both starves the GUI and slows itself down badly when anything else runs.)"""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def train_command(snapshot: Path | None, run_dir: Path, resume: bool = False,
                  extra: Sequence[str] = (), source: Path | None = None) -> list[str]:
    """The child's argument list (after the interpreter): train ``snapshot`` into ``run_dir``,
    or continue the stopped run in ``run_dir`` (``resume``), with its own copy of the design.
    ``source`` is the design's own file (none while untitled), recorded in the run's config."""
    if resume:
        return ["-u", "-m", WORKER, "resume", str(run_dir), *extra]
    return ["-u", "-m", WORKER, "train", str(snapshot), "--run-dir", str(run_dir),
            "--design-file", str(source or ""), *extra]


class TrainingProcess(QObject):
    """One training child at a time; reusable for the next run once it has finished."""

    event = Signal(object)  # every event the trainer prints (runtime.events), in order
    log = Signal(str)  # lines that are not events (stderr, stray prints)
    state_changed = Signal(str)  # IDLE, STARTING, RUNNING, PAUSED, STOPPING
    finished = Signal(dict)  # {"status", "message", "run_dir", "exit_code"}

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.process: QProcess | None = None
        self.state = IDLE
        self.run_dir: Path | None = None
        self.end_event: End | None = None
        self.last_error: str | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._snapshot: Path | None = None
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self.kill)

    # ---- control ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state != IDLE

    def start(self, design_text: str | None, run_dir: str | Path, extra_args: Sequence[str] = (),
              resume: bool = False, python: str | None = None,
              source: Path | None = None) -> None:
        """Start training ``design_text`` (file text) into ``run_dir``, or continue the run in
        ``run_dir`` (``resume``, no text needed); returns at once. ``source``: the design's own
        file, when it has one."""
        if self.running:
            raise RuntimeError("a training run is already in progress")
        self.run_dir = Path(run_dir)
        self.end_event, self.last_error = None, None
        self.stderr_tail.clear()
        self._snapshot = None
        if not resume:
            fd, name = tempfile.mkstemp(prefix="netwright-design-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(design_text or "")
            self._snapshot = Path(name)

        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        if not env.contains("OMP_NUM_THREADS"):
            env.insert("OMP_NUM_THREADS", str(child_threads()))
        env.insert("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT),
                                                               env.value("PYTHONPATH", "")])))
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(ROOT))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        process.started.connect(lambda: self._set_state(RUNNING))
        self.process = process
        self._set_state(STARTING)
        process.start(python or sys.executable,
                      train_command(self._snapshot, self.run_dir, resume, extra_args,
                                    source))

    def pause(self) -> None:
        if self.state == RUNNING and self._send("pause"):
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self.state == PAUSED and self._send("resume"):
            self._set_state(RUNNING)

    def stop(self) -> None:
        """Ask the trainer to stop after the current step and save its checkpoint."""
        if self.state in (RUNNING, PAUSED, STARTING) and self._send("stop"):
            self._set_state(STOPPING)
            self._stop_timer.start(STOP_GRACE_MS)

    def kill(self) -> None:
        """End the child at once (SIGKILL); the run is marked failed."""
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()

    def pid(self) -> int:
        return int(self.process.processId()) if self.process is not None else 0

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Stop the child before the app quits: ask, wait a little, then kill."""
        if self.process is None or self.process.state() == QProcess.ProcessState.NotRunning:
            return
        self._send("stop")
        if not self.process.waitForFinished(wait_ms):
            self.process.kill()
            self.process.waitForFinished(2000)

    def _send(self, line: str) -> bool:
        if self.process is None or self.process.state() != QProcess.ProcessState.Running:
            return False
        self.process.write((line + "\n").encode())
        return True

    # ---- output ---------------------------------------------------------------------------------

    def _read_stdout(self, drain: bool = False) -> None:
        """Handle the child's event lines, at most :data:`LINES_PER_SLICE` at a time (unless
        ``drain``): a burst after a busy moment goes on after the window's own events, so it
        never holds the GUI thread long."""
        process = self.sender() if isinstance(self.sender(), QProcess) else self.process
        if process is None:
            return
        handled = 0
        while process.canReadLine():
            if handled == LINES_PER_SLICE and not drain:
                QTimer.singleShot(0, self, self._read_stdout)
                return
            self._handle_line(bytes(process.readLine().data()).decode("utf-8", "replace"))
            handled += 1

    def _handle_line(self, raw: str) -> None:
        line = raw.strip()
        if not line:
            return
        try:
            event = parse_event(json.loads(line))
        except (ValueError, TypeError):
            self.log.emit(line)
            return
        if isinstance(event, End):
            self.end_event = event
        elif isinstance(event, Error):
            self.last_error = event.message
        self.event.emit(event)

    def _read_stderr(self) -> None:
        process = self.process
        text = bytes(process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            if line.strip():
                self.stderr_tail.append(line)
                self.log.emit(line)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._finish("failed", f"could not start the training process: "
                                   f"{self.process.errorString()}", None)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if self.process is not None:  # drain what is left in the pipes
            self._read_stdout(drain=True)
            self._read_stderr()
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        end = self.end_event
        if end is not None and not crashed:
            status = end.status
            message = self.last_error or ""
        else:
            status = "failed"
            message = self.last_error or self._last_words(crashed, exit_code)
        self._finish(status, message, exit_code)

    def _last_words(self, crashed: bool, exit_code: int) -> str:
        tail = [line for line in self.stderr_tail if line.strip()]
        if crashed:
            how = "the training process was killed" + (" (out of memory?)" if not tail else "")
        else:
            how = f"the training process exited with status {exit_code}"
        return f"{how}: {tail[-1].strip()}" if tail else how

    def _finish(self, status: str, message: str, exit_code: int | None) -> None:
        if self.state == IDLE:
            return
        self._stop_timer.stop()
        if self._snapshot is not None:
            self._snapshot.unlink(missing_ok=True)
            self._snapshot = None
        process, self.process = self.process, None
        if process is not None:
            process.deleteLater()
        self._set_state(IDLE)
        self.finished.emit({"status": status, "message": message, "run_dir": str(self.run_dir),
                            "exit_code": exit_code, "stderr": "\n".join(self.stderr_tail)})

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)
