"""How fast the design model is on a 1,000-node network (run by hand).

    python benchmarks/graph_bench.py

Builds a chain of residual Linear blocks (Linear → ReLU → Linear → Add with a skip), then times
the steps the editor repeats: load from JSON text + validate + infer shapes; one edit followed
by validation (the editor re-validates after every edit); compilation to a torch.fx GraphModule.
Each figure is a median of several runs, printed with its target and with its ratio to a
baseline measured in the same run (building a networkx graph of the design and sorting it
topologically: the least any whole-graph check must do), so the numbers compare across machines.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx  # noqa: E402

from graph.design import Design, Edge  # noqa: E402
from graph.fileformat import dumps, loads  # noqa: E402
from graph.shapes import infer  # noqa: E402
from graph.validate import validate  # noqa: E402

NODES = 1000
WIDTH = 32


def residual_chain(nodes: int = NODES, width: int = WIDTH) -> Design:
    """Input → Linear stem → blocks of (Linear, ReLU, Linear, Add skip) → Linear → Output."""
    d = Design(f"Residual chain ({nodes} nodes)")
    d.set_data(dict(d.data, name="digits", options={"as_images": False}))

    def add(type_id: str, sources: list[str], **params) -> str:
        node = d.add_node(d.make_node(type_id, params=params, position=(0.0, 60.0 * len(d))))
        for src in sources:
            d.add_edge(Edge(src, node.id))
        return node.id

    trunk = add("Linear", [add("Input", [], shape=[64])], out_features=width)
    while len(d) + 4 + 2 <= nodes:
        a = add("Linear", [trunk], out_features=width)
        b = add("ReLU", [a])
        c = add("Linear", [b], out_features=width)
        trunk = add("Add", [trunk, c])
    while len(d) + 2 < nodes:
        trunk = add("ReLU", [trunk])
    add("Output", [add("Linear", [trunk], out_features=10)])
    return d


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    design = residual_chain()
    text = dumps(design)
    report = validate(design)
    assert report.ok, [d.format(design) for d in report.errors]
    print(f"design: {len(design)} nodes, {len(design.edges)} links, {len(text) / 1024:.0f} KiB of JSON")

    def baseline() -> None:
        g = nx.DiGraph()
        g.add_nodes_from(n.id for n in design.nodes)
        g.add_edges_from((e.src, e.dst) for e in design.edges)
        list(nx.topological_sort(g))

    def load_validate_infer() -> None:
        loaded = loads(text)
        validate(loaded)
        infer(loaded)

    linears = [n.id for n in design.nodes if n.type == "Linear"]
    flip = {"value": False}

    def edit_validate() -> None:
        flip["value"] = not flip["value"]
        design.set_param(linears[len(linears) // 2], "bias", flip["value"])
        validate(design)

    def compile_() -> None:
        from runtime.compiler import compile_design

        compile_design(design)

    base = median_ms(baseline, 20)
    rows = [
        ("load + validate + infer shapes", median_ms(load_validate_infer, 7), None),
        ("edit + validate", median_ms(edit_validate, 15), 50.0),
        ("compile to GraphModule", median_ms(compile_, 5), 500.0),
    ]
    print(f"baseline (networkx graph + topological sort): {base:.2f} ms")
    print(f"{'step':32} {'median ms':>10} {'target ms':>10} {'× baseline':>11}  verdict")
    status = 0
    for name, ms, target in rows:
        verdict = "-" if target is None else ("ok" if ms <= target else "SLOWER THAN TARGET")
        status |= verdict.startswith("SLOWER")
        print(f"{name:32} {ms:10.1f} {('—' if target is None else f'{target:.0f}'):>10} "
              f"{ms / base:11.1f}  {verdict}")
    return status


if __name__ == "__main__":
    sys.exit(main())
