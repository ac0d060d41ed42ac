"""Write the README's layer table from the catalog (the catalog owns it).

    python benchmarks/layer_table.py          # rewrite the table between the README's markers
    python benchmarks/layer_table.py --check  # exit 1 when the README is out of date
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import graph.layers  # noqa: E402,F401  (fills the catalog)
from graph.catalog import layer_table  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- layer-table:begin -->\n", "<!-- layer-table:end -->\n"


def with_table(text: str) -> str:
    """``text`` with the part between the markers replaced by the current table."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return head + BEGIN + layer_table() + END + tail


def main() -> int:
    text = README.read_text(encoding="utf-8")
    updated = with_table(text)
    if "--check" in sys.argv:
        print("README layer table is up to date" if updated == text else "README layer table is stale")
        return 0 if updated == text else 1
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
