"""How fast designs built from blocks are (run by hand).

    python benchmarks/blocks_bench.py

1. ResNet-50 from the template (13 top-level nodes, blocks repeated) against the same network
   flat (every block inlined: 177 nodes): open (parse + build), validate + infer shapes, one
   edit inside a block followed by validation, compile. The flat/template ratio is printed.
2. A 10,000-layer design: a block of ten layers repeated 1,000 times. An edit inside the block
   must revalidate in < 50 ms (the definition is inferred once per argument set and input shape,
   not per copy) and compiling must take < 2 s.

Every figure is a median of several runs, printed beside a baseline measured in the same run
(building and topologically sorting a networkx graph of the flat ResNet-50), so figures compare
across machines.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import networkx as nx  # noqa: E402
import torch  # noqa: E402

from graph import templates  # noqa: E402
from graph.design import Design, Edge  # noqa: E402
from graph.fileformat import dumps, loads  # noqa: E402
from graph.grouping import flatten  # noqa: E402
from graph.validate import validate  # noqa: E402
from runtime.compiler import compile_design  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def deep_design(copies: int = 1000, width: int = 32) -> Design:
    """Input → ``Deep`` block (5 × Linear + ReLU) ×copies → Linear → Output: 10·copies + 3 layers."""
    d = Design("Deep")
    d.set_data(dict(d.data, options={"as_images": False}))
    body = d.new_block("Deep", {"width": width}).body
    prev = body.add_node(body.make_node("Input", "x", {"shape": [width]})).id
    for _ in range(5):
        for type_id, params in (("Linear", {"out_features": "width"}), ("ReLU", {})):
            node = body.add_node(body.make_node(type_id, params=params))
            body.add_edge(Edge(prev, node.id))
            prev = node.id
    body.add_edge(Edge(prev, body.add_node(body.make_node("Output", "out")).id))
    x = d.add_node(d.make_node("Input", "x", {"shape": [64]}))
    stem = d.add_node(d.make_node("Linear", "stem", {"out_features": width}))
    deep = d.add_node(d.make_node("Deep", "deep", {"repeat": copies}))
    head = d.add_node(d.make_node("Linear", "head", {"out_features": 10}))
    out = d.add_node(d.make_node("Output", "out"))
    for a, b in ((x, stem), (stem, deep), (deep, head), (head, out)):
        d.add_edge(Edge(a.id, b.id, a.layer.outputs[0].name, b.layer.inputs[0].name))
    return d


def inner_edit(design: Design, block: str, layer: str) -> Callable[[], None]:
    """Toggle the bias of ``layer`` in ``block``'s body (or of the flat node), then validate."""
    network = design.blocks[block].body if block else design
    node = network.node_by_name(layer)
    state = {"bias": node.params.get("bias", True)}

    def edit() -> None:
        state["bias"] = not state["bias"]
        network.set_param(node.id, "bias", state["bias"])
        report = validate(design)
        assert report.ok, [d.format(design) for d in report.errors]

    return edit


def cold_validate(design: Design) -> None:
    """Validate with every block's cached inference forgotten first."""
    for block in design.blocks:
        block.cache.clear()
    validate(design)


def compile_meta(design: Design) -> None:
    with torch.device("meta"):
        compile_design(design)


def resnet_rows(base: float) -> None:
    blocks = templates.build("resnet50")
    flat = flatten(blocks)
    texts = {"template": dumps(blocks), "flat": dumps(flat)}
    print(f"ResNet-50: template {len(blocks)} top-level nodes, flat {len(flat)} nodes; "
          f"JSON {len(texts['template']) // 1024} KiB vs {len(texts['flat']) // 1024} KiB")
    steps = [
        ("open (parse + build)", lambda d, k: lambda: loads(texts[k]), 7),
        ("validate + infer shapes (cold)", lambda d, k: lambda: cold_validate(d), 7),
        ("edit inside a block + validate",
         lambda d, k: inner_edit(d, "Bottleneck", "conv2") if k == "template"
         else inner_edit(d, "", "conv2"), 9),
        ("compile (meta device)", lambda d, k: lambda: compile_meta(d), 3),
    ]
    print(f"{'step':34} {'template ms':>12} {'flat ms':>9} {'flat/template':>14} {'× baseline':>11}")
    for name, make, repeat in steps:
        a = median_ms(make(blocks, "template"), repeat)
        b = median_ms(make(flat, "flat"), repeat)
        print(f"{name:34} {a:12.1f} {b:9.1f} {b / a:14.2f} {a / base:11.1f}")


def deep_rows(base: float) -> int:
    design = deep_design()
    report = validate(design)
    assert report.ok, [d.format(design) for d in report.errors]
    print(f"\nDeep: {report.inference.total_layers:,} layers, {len(design)} top-level nodes, "
          f"{report.inference.total_params:,} parameters")
    edit = median_ms(inner_edit(design, "Deep", "linear"), 9)
    compile_ms = median_ms(lambda: compile_design(design), 3)
    floor = median_ms(lambda: plain_torch(1000, 32), 3)
    print(f"the same modules built by hand in PyTorch (the floor of any compiler): {floor:.0f} ms")
    status = 0
    print(f"{'step':34} {'median ms':>12} {'target ms':>10} {'× baseline':>11}  verdict")
    for name, ms, target in (("edit inside the block + validate", edit, 50.0),
                             ("compile (real weights)", compile_ms, 2000.0)):
        verdict = "ok" if ms <= target else "SLOWER THAN TARGET"
        status |= ms > target
        print(f"{name:34} {ms:12.1f} {target:10.0f} {ms / base:11.1f}  {verdict}")
    print(f"compile / hand-built PyTorch: {compile_ms / floor:.2f}")
    return status


def plain_torch(copies: int, width: int) -> torch.nn.Module:
    """The deep design's network written directly in PyTorch."""
    def block() -> torch.nn.Module:
        return torch.nn.Sequential(*(m for _ in range(5) for m in (torch.nn.Linear(width, width),
                                                                    torch.nn.ReLU())))
    return torch.nn.Sequential(torch.nn.Linear(64, width),
                               torch.nn.Sequential(*(block() for _ in range(copies))),
                               torch.nn.Linear(width, 10))


def main() -> int:
    flat = flatten(templates.build("resnet50"))

    def baseline() -> None:
        g = nx.DiGraph()
        g.add_nodes_from(n.id for n in flat.nodes)
        g.add_edges_from((e.src, e.dst) for e in flat.edges)
        list(nx.topological_sort(g))

    base = median_ms(baseline, 50)
    print(f"baseline (networkx graph + topological sort of the flat ResNet-50): {base:.2f} ms\n")
    resnet_rows(base)
    return deep_rows(base)


if __name__ == "__main__":
    sys.exit(main())
