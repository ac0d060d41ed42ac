"""Fuzz the design-file commands: mutate the examples and count what happens.

Each mutated file goes through what a user runs on it, in-process: ``validate``, ``summary``
and — when it validates — ``code`` (``main.main([...])``, output discarded), plus a save of the
loaded design (``dumps`` → ``loads``). Outcomes:

* clean — exit status 0 or 1 and one message: the file is ``refused`` (a DesignFileError),
  or it loads and is ``invalid`` (validation errors) or ``valid``;
* crash — any exception escaping a command (a traceback for the user), or a worker process
  that died (segfault, abort); the file is kept under ``--keep`` to reproduce it;
* hang — one command running over ``--hang`` seconds (10 by default).

Files are made in batches by worker processes (one per ``--workers``), each seeded from
``--seed`` and its batch number, so a run is reproducible::

    python benchmarks/fuzz_files.py --files 100000 --workers 2
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLES = sorted((ROOT / "resources" / "examples").glob("*.json"))
HOSTILE_NUMBERS = ["1" + "0" * 400, "9" * 5000, "1e400", "-1e400", str(2**63), str(2**64),
                   str(-2**63), "-1", "0", "1.5", "NaN", "Infinity", "-0.0", "1e-400",
                   "4611686018427387904", "3000000", "true", "null", '"7"', "[]", "{}"]
HOSTILE_TEXT = ['"\\ud800"', '"a\\udfffb"', '"\\u001b[31mred\\u001b[0m"', '".."', '"../../x"',
                '"/etc/passwd"', '"' + "n" * 300 + '"', '"\\u202eevil"', '""', '"\\u0000"',
                '"CON"', '"a/b\\\\c"', "1", "null", "[]", '{"a": 1}', '"' + "é" * 200 + '"',
                '"Input"', '"Linear"', '"nan"', '"cuda:99"', '"sgd"']


class Hang(Exception):
    pass


# ---- mutations ---------------------------------------------------------------------------------


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 7, 2**31, 2**62, -(2**40), 10**18, 3])
    if kind == 3:
        return rng.choice([0.5, -2.0, 1e300, 1e-300, 3.25])
    if kind == 4:
        return rng.choice(["", "x", "relu", "..", "a" * 50, "é", "\x00", "\x1b[2J", "Input"])
    if kind == 5:
        return [rng.randrange(-3, 100) for _ in range(rng.randrange(4))]
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {rng.choice(["a", "shape", "type", "id", "x"]): random_json(rng, depth + 1)
                for _ in range(rng.randrange(3))}
    nested = rng.choice([30, 63, 64, 65, 200, 500, 5000])
    return json.loads("[" * nested + "]" * nested) if nested < 900 else [[0]]


def _subtrees(value, path=()):
    yield path
    items = (value.items() if isinstance(value, dict)
             else enumerate(value) if isinstance(value, list) else ())
    for key, item in items:
        yield from _subtrees(item, path + (key,))


def mutate_structure(rng: random.Random, doc: dict) -> str:
    paths = [p for p in _subtrees(doc) if p]
    for _ in range(rng.randrange(1, 4)):
        path = rng.choice(paths)
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = rng.randrange(4)
            if action == 0 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif action == 1 and isinstance(parent, list):
                parent.append(json.loads(json.dumps(parent[path[-1]])))
            else:
                parent[path[-1]] = random_json(rng)
        except (KeyError, IndexError, TypeError):
            continue
    text = json.dumps(doc)
    if rng.random() < 0.3:  # values json.dumps cannot write: huge numbers, deep nesting
        text = mutate_tokens(rng, text)
    return text


_NUMBER = re.compile(r"(?<=[:\[,\s])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def mutate_tokens(rng: random.Random, text: str) -> str:
    for _ in range(rng.randrange(1, 3)):
        pattern, choices = rng.choice([(_NUMBER, HOSTILE_NUMBERS), (_STRING, HOSTILE_TEXT)])
        matches = list(pattern.finditer(text))
        if not matches:
            continue
        m = rng.choice(matches)
        replacement = rng.choice(choices)
        if pattern is _STRING and text[m.end():m.end() + 1] == ":":
            replacement = replacement if replacement.startswith('"') else f'"{replacement}"'
        text = text[:m.start()] + replacement + text[m.end():]
    return text


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        if not data:
            break
        i = rng.randrange(len(data))
        op = rng.randrange(5)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i:i + rng.randrange(1, 40)]
        elif op == 2:
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        elif op == 3:
            j = min(len(data), i + rng.randrange(1, 200))
            data[i:i] = data[i:j]
        else:
            del data[i:]
    return bytes(data)


def make_file(rng: random.Random, seeds: list[bytes]) -> bytes:
    seed = rng.choice(seeds)
    kind = rng.random()
    if kind < 0.45:
        return mutate_structure(rng, json.loads(seed)).encode("utf-8", "surrogatepass")
    if kind < 0.8:
        return mutate_tokens(rng, seed.decode("utf-8")).encode("utf-8", "surrogatepass")
    return mutate_bytes(rng, seed)


def seed_files() -> list[bytes]:
    """The examples, and a small design from each template (blocks, repeats, expressions)."""
    from graph.fileformat import dumps
    from graph.templates import TEMPLATES, build

    seeds = [p.read_bytes() for p in EXAMPLES]
    return seeds + [dumps(build(name, small=True)).encode("utf-8") for name in TEMPLATES]


# ---- one worker: a batch of files ----------------------------------------------------------------


def _alarm(signum, frame):
    raise Hang()


def run_commands(path: str, hang_s: float) -> tuple[str, str]:
    """``("clean"|"crash"|"hang", detail)`` for one file."""
    import main
    from graph.fileformat import DesignFileError, dumps, load, loads

    sink = io.StringIO()
    commands = [["validate", path], ["summary", path]]
    try:
        valid = False
        for argv in commands:
            signal.setitimer(signal.ITIMER_REAL, hang_s)
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                status = main.main(argv)
            signal.setitimer(signal.ITIMER_REAL, 0)
            if argv[0] == "validate" and status == 0:
                commands.append(["code", path])
                valid = True
            if status not in (0, 1):
                return "crash", f"{argv[0]} exit status {status}"
        signal.setitimer(signal.ITIMER_REAL, hang_s)
        try:
            design = load(path)
        except DesignFileError:
            return "refused", ""
        loads(dumps(design))  # the app's save and reopen
        return ("valid" if valid else "invalid"), ""
    except Hang:
        return "hang", " ".join(argv)
    except BaseException as exc:  # noqa: BLE001 - counting what escapes is the point
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        return "crash", f"{type(exc).__name__}: {str(exc)[:120]} ({Path(frame.filename).name}:{frame.lineno})"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def worker(first: int, count: int, seed: int, hang_s: float, keep: Path) -> None:
    """Run files ``first …``; stops after a hang (an interrupted import or lock may leave the
    process unusable), and the parent starts a new worker after it."""
    signal.signal(signal.SIGALRM, _alarm)
    seeds = seed_files()
    # Warm up on every seed: the first design using a layer type imports and initializes its
    # torch modules (seconds on a loaded machine), which is the process's time, not a file's.
    scratch_seed = Path(tempfile.mkdtemp(prefix="netwright-fuzz-seed-")) / "seed.json"
    for seed_text in seeds:
        scratch_seed.write_bytes(seed_text)
        run_commands(str(scratch_seed), hang_s=600)
    scratch_seed.unlink()
    scratch_seed.parent.rmdir()
    scratch = Path(tempfile.mkdtemp(prefix="netwright-fuzz-"))
    try:
        for index in range(first, first + count):
            rng = random.Random(f"{seed}:{index}")
            data = make_file(rng, seeds)
            path = scratch / "design.json"
            path.write_bytes(data)
            print(json.dumps({"begin": index}), flush=True)
            started = time.perf_counter()
            outcome, detail = run_commands(str(path), hang_s)
            if outcome in ("crash", "hang"):
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"{outcome}-{index}.json").write_bytes(data)
            print(json.dumps({"index": index, "outcome": outcome, "detail": detail,
                              "seconds": time.perf_counter() - started}), flush=True)
            if outcome == "hang":
                return
    finally:
        for p in scratch.iterdir():
            p.unlink()
        scratch.rmdir()


# ---- the parent: batches, counts ------------------------------------------------------------------


def run_batch(first: int, count: int, args) -> list[dict]:
    """Run one batch in a worker process; a worker that dies (the file it was on counts as a
    crash) or stops after a hang is followed by a new one from the next file."""
    results: list[dict] = []
    end = first + count
    while first < end:
        cmd = [sys.executable, __file__, "--worker", str(first), str(end - first), "--seed",
               str(args.seed), "--hang", str(args.hang), "--keep", str(args.keep)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
        current = None
        for line in proc.stdout:
            record = json.loads(line)
            if "begin" in record:
                current = record["begin"]
            else:
                results.append(record)
                current, first = None, record["index"] + 1
        proc.wait()
        if current is not None:
            results.append({"index": current, "outcome": "crash", "seconds": 0.0,
                            "detail": f"worker died with exit status {proc.returncode}"})
            first = current + 1
        elif proc.returncode != 0 and first < end:
            raise SystemExit(f"worker failed to start (exit status {proc.returncode})")
    return results


def _counts(counts: dict[str, int]) -> str:
    clean = counts["refused"] + counts["invalid"] + counts["valid"]
    return (f"files {sum(counts.values()):,}: clean {clean:,} (refused {counts['refused']:,}, "
            f"invalid {counts['invalid']:,}, valid {counts['valid']:,}), crashes "
            f"{counts['crash']}, hangs {counts['hang']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hang", type=float, default=10.0, help="seconds that count as a hang")
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "netwright-fuzz",
                        help="where crashing and hanging files are kept")
    parser.add_argument("--worker", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.seed, args.hang, args.keep)
        return 0
    from concurrent.futures import ThreadPoolExecutor

    started = time.perf_counter()
    batches = [(i, min(args.batch, args.files - i)) for i in range(0, args.files, args.batch)]
    counts = {"refused": 0, "invalid": 0, "valid": 0, "crash": 0, "hang": 0}
    details: dict[str, int] = {}
    slowest = 0.0
    with ThreadPoolExecutor(args.workers) as pool:
        for results in pool.map(lambda b: run_batch(b[0], b[1], args), batches):
            for r in results:
                counts[r["outcome"]] += 1
                slowest = max(slowest, r["seconds"])
                if r["outcome"] in ("crash", "hang"):
                    details[r["detail"]] = details.get(r["detail"], 0) + 1
            print(_counts(counts) + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n{_counts(counts)}; hangs are over {args.hang:g} s; slowest file {slowest:.2f} s; "
          f"seed {args.seed}")
    for detail, n in sorted(details.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {n:6d}  {detail}")
    if details:
        print(f"reproducers in {args.keep}")
    return 1 if counts["crash"] or counts["hang"] else 0


if __name__ == "__main__":
    sys.exit(main())
