"""CSV files as people have them, parsed with pandas: a sniffed delimiter, an optional header,
preamble lines, quoted fields and missing cells. Every problem names its line and column.

:func:`read_table` finds the table (what to skip, the header, the column names) and says what it
decided in ``notes``; :func:`load_csv` turns it into samples for training.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from graph.settings import CSV_DELIMITERS
from graph.summary import counted

from .base import DataError, Raw, classes_from_labels, decide_task

if TYPE_CHECKING:  # pandas loads when a CSV is read (~0.5 s of every training child's start)
    import pandas as pd

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})  # cells read as missing
PREAMBLE_LINES = 10  # a preamble is looked for among the first lines only
SNIFF_LINES = 50


@dataclass
class Table:
    """A CSV file's data rows as text, with the file line of each row."""

    path: Path
    columns: list[str]
    cells: pd.DataFrame  # text cells, one column per name
    lines: np.ndarray  # the file line (1-based) of each row
    delimiter: str
    notes: list[str] = field(default_factory=list)  # what was detected and skipped
    class_names: list[str] = field(default_factory=list)  # from a size-and-classes line

    def place(self, row: int, column: str) -> str:
        return f"{self.path}: line {int(self.lines[row])}, column {column!r}"


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not a CSV file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _delimiter(path: Path, lines: list[str], choice: str) -> str:
    fixed = CSV_DELIMITERS.get(choice)
    if choice not in CSV_DELIMITERS:
        raise DataError(f"unknown delimiter {choice!r} (choose from {', '.join(CSV_DELIMITERS)})")
    if fixed is not None:
        return fixed
    sample = "\n".join(lines[:SNIFF_LINES])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return "\t" if path.suffix.lower() == ".tsv" else ","


def _preamble(lines: list[str], delimiter: str) -> tuple[int, int]:
    """How many leading lines have another field count than the data, and the data's count."""
    counts = [len(row) for row in csv.reader(lines[:SNIFF_LINES * 4], delimiter=delimiter)]
    if not counts:
        return 0, 0
    usual = Counter(counts).most_common(1)[0][0]
    skip = 0
    while skip < min(PREAMBLE_LINES, len(counts) - 1) and counts[skip] != usual:
        skip += 1
    return skip, usual


def _parse(path: Path, body: list[str], offset: int, delimiter: str) -> tuple[pd.DataFrame, np.ndarray]:
    """Every non-blank line of ``body`` as text cells; ``offset`` lines precede it in the file."""
    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO("\n".join(body)), sep=delimiter, header=None, dtype=str,
                            keep_default_na=False, skip_blank_lines=False, engine="c",
                            skipinitialspace=delimiter != " ")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file holds no data") from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = map(int, found.groups())
            raise DataError(f"{path}: line {line + offset} has {saw} values, but the lines before "
                            f"it have {want}") from None
        raise DataError(f"{path}: cannot parse the file ({exc})") from None
    lines = np.arange(len(frame)) + offset + 1
    empty = (frame == "").to_numpy()
    blank = empty.all(axis=1)
    # pandas fills the fields a short line lacks with "": count the fields of such lines
    for row in np.flatnonzero(empty.any(axis=1) & ~blank):
        have = len(next(csv.reader([body[row]], delimiter=delimiter), []))
        if have < frame.shape[1]:
            raise DataError(f"{path}: line {lines[row]} has {have} values, but the other lines "
                            f"have {frame.shape[1]}")
    keep = ~blank
    return frame[keep].reset_index(drop=True), lines[keep]


def _has_header(frame: pd.DataFrame) -> bool:
    """A first row with text above a column of numbers names the columns."""
    if len(frame) < 2:
        return not all(_is_number(c) for c in frame.iloc[0])
    below = frame.iloc[1:21]
    for c in frame.columns:
        cell = str(frame.iloc[0, c]).strip()
        if cell.lower() in MISSING or _is_number(cell):
            continue
        column = [str(v).strip() for v in below[c]]
        if sum(_is_number(v) for v in column) > len(column) / 2:
            return True
    return all(not _is_number(str(c).strip()) for c in frame.iloc[0])


def _size_line(first: list[str], rows: int, columns: int) -> list[str] | None:
    """The class names of a line that states the table's size (``rows`` samples, ``columns``
    − 1 features), as scikit-learn's CSV files start (``150,4,setosa,versicolor,virginica``);
    None when ``first`` is not such a line."""
    first = [str(c).strip() for c in first]
    if len(first) < 2 or not all(re.fullmatch(r"\d+", c) for c in first[:2]):
        return None
    if int(first[0]) != rows or int(first[1]) != columns - 1:
        return None
    return [c for c in first[2:] if c]


def read_table(path: Path, header: str = "auto", skip_rows: int = 0,
               delimiter: str = "auto") -> Table:
    """The table in a CSV file: skipped lines, delimiter, header and column names decided (and
    said in ``notes``); raises DataError naming the line."""
    lines = _read_text(path).splitlines()
    if skip_rows >= len(lines):
        raise DataError(f"{path}: skipping {counted(skip_rows, 'line')} leaves nothing (the file has "
                        f"{len(lines)})")
    body = lines[skip_rows:]
    if not any(line.strip() for line in body):
        raise DataError(f"{path}: the file is empty")
    sep = _delimiter(path, [line for line in body if line.strip()], delimiter)
    notes = [f"skipped the first {counted(skip_rows, 'line')} as asked"] if skip_rows else []
    preamble, usual = _preamble(body, sep)
    if preamble:
        fields = len(next(csv.reader([body[0]], delimiter=sep)))
        notes.append(f"skipped {counted(preamble, 'preamble line')} at the top: line {skip_rows + 1} has "
                     f"{counted(fields, 'field')}, the data has {usual}")
    offset = skip_rows + preamble
    frame, row_lines = _parse(path, body[preamble:], offset, sep)
    if frame.empty:
        raise DataError(f"{path}: the file holds no data")
    table = Table(path, [], frame, row_lines, sep, notes)
    if preamble == 1:  # scikit-learn's files: the preamble states the size and the classes
        first = next(csv.reader([body[0]], delimiter=sep))
        table.class_names = _size_line(first, len(frame), frame.shape[1]) or []
    if header != "yes" and len(frame) > 1 and (
            names := _size_line(list(frame.iloc[0]), len(frame) - 1, frame.shape[1])) is not None:
        notes.append(f"skipped line {row_lines[0]}, which states the size ({frame.iloc[0, 0]} "
                     f"samples, {frame.iloc[0, 1]} features)" + (f" and the classes" if names else ""))
        table.class_names = names
        frame, row_lines = frame.iloc[1:].reset_index(drop=True), row_lines[1:]
        header = "no"
    with_header = header == "yes" or (header == "auto" and _has_header(frame))
    if with_header:
        names = [str(c).strip() or f"column {i + 1}" for i, c in enumerate(frame.iloc[0])]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise DataError(f"{path}: line {row_lines[0]}: the column name {duplicate!r} appears "
                            "twice")
        frame, row_lines = frame.iloc[1:].reset_index(drop=True), row_lines[1:]
    else:
        names = [f"column {i + 1}" for i in range(frame.shape[1])]
        if header == "auto":
            notes.append("no header line: the columns are numbered")
    if frame.empty:
        raise DataError(f"{path}: has a header but no data rows")
    frame.columns = names
    table.columns, table.cells, table.lines = names, frame, row_lines
    return table


def csv_columns(path: Path, header: str = "auto", skip_rows: int = 0,
                delimiter: str = "auto") -> list[str]:
    """The column names the loader will use (for the column picker)."""
    return read_table(path, header, skip_rows, delimiter).columns


def _choose_columns(table: Table, target: str, features: str) -> tuple[str, list[str]]:
    path, columns = table.path, table.columns
    target = target.strip() or columns[-1]
    if target not in columns:
        raise DataError(f"{path}: no column {target!r} (columns: {', '.join(columns)})")
    if features.strip():
        names = [f.strip() for f in features.split(",") if f.strip()]
        for name in names:
            if name not in columns:
                raise DataError(f"{path}: no feature column {name!r} (columns: "
                                f"{', '.join(columns)})")
        if target in names:
            raise DataError(f"{path}: the target column {target!r} cannot also be a feature")
    else:
        names = [c for c in columns if c != target]
    if not names:
        raise DataError(f"{path}: no feature columns besides the target {target!r}")
    return target, names


def _missing(cells: pd.DataFrame) -> np.ndarray:
    return cells.apply(lambda col: col.str.strip().str.lower().isin(MISSING)).to_numpy()


def _features(table: Table, names: list[str], missing: np.ndarray) -> np.ndarray:
    """The feature cells as float32, NaN where missing; a cell that is not a number stops."""
    import pandas as pd

    cells = table.cells[names]
    values = cells.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    x = values.to_numpy(dtype=np.float64)
    bad = np.isnan(x) & ~missing
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise DataError(f"{table.place(row, names[col])}: {cells.iat[row, col].strip()!r} is not a "
                        "number (feature columns must hold numbers)")
    infinite = np.isinf(x)
    if infinite.any():
        row, col = map(int, np.argwhere(infinite)[0])
        raise DataError(f"{table.place(row, names[col])}: {cells.iat[row, col].strip()!r} is not "
                        "finite")
    return x.astype(np.float32)


def _apply_missing(table: Table, policy: str, names: list[str], target: str,
                   x: np.ndarray, x_missing: np.ndarray, y_missing: np.ndarray) -> np.ndarray:
    """Rows to keep under the missing-cell policy (``error``, ``drop`` or ``mean``)."""
    if policy not in ("error", "drop", "mean"):
        raise DataError(f"unknown missing-cell policy {policy!r} (choose error, drop or mean)")
    if policy == "error":
        rows = np.argwhere(np.column_stack([x_missing, y_missing]))
        if len(rows):
            row, col = map(int, rows[0])
            name = names[col] if col < len(names) else target
            raise DataError(f"{table.place(row, name)}: the cell is empty or NA (choose what to do "
                            "with missing cells: drop the row or fill it with the training mean — "
                            "Missing cells in the Data panel, --missing drop|mean)")
        return np.ones(len(x), bool)
    keep = ~y_missing & (~x_missing.any(axis=1) if policy == "drop" else True)
    dropped = int((~keep).sum())
    if dropped:
        why = "missing cells" if policy == "drop" else "a missing target"
        table.notes.append(f"dropped {counted(dropped, 'row')} with {why}")
    filled = int(x_missing[keep].sum()) if policy == "mean" else 0
    if filled:
        table.notes.append(f"{counted(filled, 'missing cell')} filled with the training split's column "
                           "mean")
    if not keep.any():
        raise DataError(f"{table.path}: no row is left once rows with missing cells are dropped")
    return keep


def _targets(table: Table, target: str, texts: np.ndarray, rows: np.ndarray, task: str
             ) -> tuple[np.ndarray, str, list[str]]:
    """Class indices or regression values of the kept rows."""
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(texts), errors="coerce").to_numpy(dtype=np.float64)
    numeric = not np.isnan(numbers).any()
    if numeric and np.isinf(numbers).any():
        row = int(rows[np.argmax(np.isinf(numbers))])
        raise DataError(f"{table.place(row, target)}: the target {table.cells[target].iat[row]!r} "
                        "is not finite")
    decided = decide_task(task, numeric, numbers if numeric else None)
    if decided == "regression":
        if not numeric:
            row = int(rows[np.argmax(np.isnan(numbers))])
            raise DataError(f"{table.place(row, target)}: {texts[np.argmax(np.isnan(numbers))]!r} "
                            "is not a number, but the task is regression")
        return numbers.astype(np.float32).reshape(-1, 1), "regression", []
    labels, names = classes_from_labels(list(numbers) if numeric else list(texts), numeric)
    stated = table.class_names
    if numeric and len(stated) == len(names) and names == [str(i) for i in range(len(names))]:
        names = list(stated)  # the size line named the classes 0, 1, 2 …
    return labels, "classification", names


def load_csv(path: Path, target: str = "", features: str = "", task: str = "auto",
             header: str = "auto", skip_rows: int = 0, delimiter: str = "auto",
             missing: str = "error") -> Raw:
    """Samples from a CSV file: feature columns must hold numbers; the target may be text (each
    distinct text is a class). ``Raw.notes`` says what was detected and skipped."""
    table = read_table(path, header, skip_rows, delimiter)
    target, names = _choose_columns(table, target, features)
    x_missing, y_missing = _missing(table.cells[names]), _missing(table.cells[[target]])[:, 0]
    x = _features(table, names, x_missing)
    keep = _apply_missing(table, missing, names, target, x, x_missing, y_missing)
    rows = np.flatnonzero(keep)
    texts = table.cells[target].str.strip().to_numpy()[rows]
    y, decided, classes = _targets(table, target, texts, rows, task)
    raw = Raw(x[rows], y, decided, classes, str(path), columns=names, notes=table.notes)
    raw.fill_missing = missing == "mean" and bool(np.isnan(raw.x).any())
    return raw
