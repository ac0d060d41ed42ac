"""The catalog framework: params, ports, look-ups and the shared helpers."""
from __future__ import annotations

import math

import pytest

from graph.catalog import CATALOG, Param, ShapeError, expect_rank, fmt_shape, pair, prod
from graph.layers import FLATTEN_FIX


def test_every_declaration_is_complete():
    labels = set()
    for layer in CATALOG:
        assert layer.doc.endswith(".") and layer.category, layer.type_id
        assert layer.label not in labels
        labels.add(layer.label)
        assert layer.check_params(layer.defaults()) == [], layer.type_id
        assert set(layer.summary_keys) <= {p.name for p in layer.params}, layer.type_id
        for p in layer.params:
            assert p.doc, f"{layer.type_id}.{p.name} has no doc"
        if not (layer.is_source or layer.is_sink or layer.is_placeholder):
            assert layer.torch_class, layer.type_id
    assert [t.type_id for t in CATALOG if t.is_placeholder] == ["Unsupported"]
    assert [t.type_id for t in CATALOG if t.is_source] == ["Input"]
    assert [t.type_id for t in CATALOG if t.is_sink] == ["Output"]


def test_lookups():
    assert CATALOG["Linear"].label == "Linear (Dense)"
    assert "Linear" in CATALOG and "Dense" not in CATALOG and 5 not in CATALOG
    assert CATALOG.get("nope") is None and CATALOG.current_id("nope") is None
    with pytest.raises(KeyError):
        CATALOG["nope"]
    assert CATALOG.current_id("Conv2d") == "Conv2d"
    cats = CATALOG.categories()
    assert sum(len(v) for v in cats.values()) == len(CATALOG) >= 65
    assert [t.type_id for t in cats["Merge"]] == ["Add", "Multiply", "Concat", "Subtract"]
    assert CATALOG["Add"].input_port("in").variadic and CATALOG["Add"].input_port("x") is None
    assert CATALOG["Linear"].output_port("out") is not None


def test_search_puts_name_matches_first():
    hits = [t.type_id for t in CATALOG.search("conv")]
    assert hits[:3] == ["Conv1d", "Conv2d", "ConvTranspose2d"]
    assert [t.type_id for t in CATALOG.search("residual connections")] == ["Add"]
    assert CATALOG.search("no such words anywhere") == []


def test_resolve_and_check_params():
    conv = CATALOG["Conv2d"]
    params = conv.resolve({"out_channels": 8, "kernel_size": [3, 5], "units": 3})
    assert params["out_channels"] == 8 and params["stride"] == 1 and "units" not in params
    # Lists are copied, never shared with the declaration or the caller.
    given = {"kernel_size": [3, 5]}
    conv.resolve(given)["kernel_size"].append(7)
    assert given["kernel_size"] == [3, 5]
    assert conv.check_params({"units": 3, "groups": 0}) == [
        ("units", "is not a parameter of Conv2d"), ("groups", "must be at least 1, not 0")]
    with pytest.raises(KeyError):
        conv.param("units")


@pytest.mark.parametrize("kind, extra, good, bad", [
    ("int", {"min": 1, "max": 10}, [1, 10], [0, 11, 2.0, True, "3", None]),
    ("float", {"min": 0.0, "max": 1.0}, [0, 0.5, 1], [-0.1, 1.5, math.nan, math.inf, False, "0.1"]),
    ("bool", {}, [True, False], [0, 1, "true", None]),
    ("choice", {"choices": ("a", "b")}, ["a", "b"], ["c", None, 1]),
    ("str", {}, ["", "text"], [1, None, ["a"]]),
    ("size", {"min": 1, "max": 9, "length": 2}, [3, [1, 9]], [0, [1], [1, 2, 3], [1, 10], "3",
                                                             [1.0, 2], [True, 1]]),
    ("ints", {"min": 1, "max": 9}, [[], [1, 2, 3]], [3, [0], [1, "a"], "1,2"]),
])
def test_param_checks(kind, extra, good, bad):
    default = good[0]
    p = Param("p", kind, default, "doc", **extra)
    for value in good:
        assert p.check(value) is None, value
    for value in bad:
        assert isinstance(p.check(value), str), value


def test_ints_may_allow_minus_one():
    p = Param("shape", "ints", [-1], "doc", min=1, allow_minus_one=True)
    assert p.check([-1, 4]) is None and "at least 1" in p.check([-2])


def test_param_declarations_are_checked():
    with pytest.raises(ValueError, match="unknown param kind"):
        Param("p", "complex", 1, "doc")
    with pytest.raises(ValueError, match="default of p"):
        Param("p", "int", 0, "doc", min=1)


def test_helpers():
    assert pair(3) == (3, 3) and pair([1, 2]) == (1, 2) and pair(4, 1) == (4,)
    assert prod([]) == 1 and prod((2, 3, 4)) == 24
    assert fmt_shape((1, 8, 8)) == "1×8×8" and fmt_shape(()) == "scalar" and fmt_shape(None) == "?"
    assert expect_rank([(3, 4)], (2,), "x") == (3, 4)
    with pytest.raises(ShapeError) as info:
        expect_rank([(3, 4, 5)], (1, 2), "features", fix=FLATTEN_FIX)
    assert str(info.value) == "expects features (rank 1 or 2 without the batch), got 3×4×5"
    assert info.value.fix == FLATTEN_FIX


# ---- per-layer facts the rest of the app asks the catalog for ------------------------------------


def test_node_face_text_comes_from_the_declaration():
    assert CATALOG["Conv2d"].face_text(CATALOG["Conv2d"].resolve({"out_channels": 32, "stride": [2, 1]})) \
        == "32 · k3 · s2×1"
    assert CATALOG["LSTM"].face_text(CATALOG["LSTM"].resolve({"return_sequence": True})) == "h64 · seq"
    assert CATALOG["LSTM"].face_text(CATALOG["LSTM"].defaults()) == "h64"
    assert CATALOG["Input"].face_text({"shape": [1, 28, 28]}) == "1×28×28"
    assert CATALOG["Dropout"].face_text({"p": 0.25}) == "p=0.25"
    assert CATALOG["MultiheadSelfAttention"].face_text({"num_heads": 8}) == "8 heads"


def test_input_spec_is_checked_before_the_rule():
    """Rules of layers with an InputSpec never see a tensor of the wrong rank."""
    with pytest.raises(ShapeError) as info:
        CATALOG["Conv2d"].shape(CATALOG["Conv2d"].defaults(), [(64,)])
    assert str(info.value) == "expects channels×height×width (rank 3 without the batch), got 64"
    with pytest.raises(ShapeError, match="sequence×features") as info:
        CATALOG["LSTM"].shape(CATALOG["LSTM"].defaults(), [(3, 8, 8)])
    assert "Reshape" in info.value.fix
    spec = CATALOG["BatchNorm1d"].input_spec
    assert spec.ranks == (1, 2)
    spec.check([(4,)])
    with pytest.raises(ShapeError):
        spec.check([(4, 4, 4)])


def test_behaviour_flags():
    flagged = {flag: sorted(t.type_id for t in CATALOG if getattr(t, flag))
               for flag in ("pass_through", "reads_token_ids", "dead_units")}
    assert {"Identity", "Reshape", "Permute", "Flatten", "Concat", "Output"} <= set(
        flagged["pass_through"])
    assert flagged["reads_token_ids"] == ["Embedding"]
    assert "ReLU" in flagged["dead_units"] and "Sigmoid" not in flagged["dead_units"]


def test_metrics_table_owns_names_tasks_directions_and_labels():
    from graph import metrics as M
    from graph.settings import METRIC_CHOICES, TRAINING_PARAMS

    assert METRIC_CHOICES == tuple(M.METRICS)
    stopping = next(p for p in TRAINING_PARAMS if p.name == "early_stopping_metric")
    assert stopping.choices == M.stopping_choices()
    assert M.higher_is_better("val_r2") and not M.higher_is_better("val_mae")
    assert not M.higher_is_better("val_loss") and not M.higher_is_better("train_loss")
    assert M.label("val_r2") == "val R²" and M.label("f1") == "macro F1"
    assert M.selected("f1, mae", "none", "classification") == ["accuracy", "f1"]
    assert M.selected("", "val_r2", "regression") == ["mae", "rmse", "r2"]
def test_readme_layer_table_is_the_catalogs():
    """The README lists every type with its category, exactly as the catalog declares them
    (regenerate with ``python benchmarks/layer_table.py``)."""
    from pathlib import Path

    from graph.catalog import layer_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = layer_table()
    assert f"<!-- layer-table:begin -->\n{table}<!-- layer-table:end -->" in readme
    for layer in CATALOG:
        assert f"| {layer.category} | `{layer.type_id}`" in table


def test_composite_layers_count_their_parts_by_the_same_convention():
    """A Transformer encoder layer's MACs = its matmuls + what standalone layers would count for
    its parts: softmax (3 per score of every head), the FF activation (1 per element), two
    LayerNorms (2 per element) and two residual Adds (1 per element)."""
    s, e, heads, ff = 4, 8, 2, 16
    enc = CATALOG["TransformerEncoderLayer"]
    p = enc.resolve({"num_heads": heads, "dim_feedforward": ff, "activation": "gelu"})
    out = enc.shape(p, [(s, e)])
    parts = {
        "softmax": CATALOG["Softmax"].macs({"dim": -1}, [(heads, s, s)], (heads, s, s)),
        "gelu": CATALOG["GELU"].macs({}, [(s, ff)], (s, ff)),
        "norms": 2 * CATALOG["LayerNorm"].macs({}, [(s, e)], (s, e)),
        "adds": 2 * CATALOG["Add"].macs({}, [(s, e), (s, e)], (s, e)),
    }
    matmul = enc.matmul_macs(p, [(s, e)], out)
    assert matmul == 4 * s * e * e + 2 * s * s * e + 2 * s * e * ff
    assert enc.macs(p, [(s, e)], out) == matmul + sum(parts.values())
    stack = CATALOG["TransformerEncoder"]
    assert stack.macs({**p, "num_layers": 3}, [(s, e)], out) == 3 * enc.macs(p, [(s, e)], out)
    # Layers that only move data count nothing; convolutions count all their MACs as matmuls.
    conv = CATALOG["Conv2d"]
    cp = conv.defaults()
    assert conv.macs(cp, [(3, 8, 8)], (16, 8, 8)) == conv.matmul_macs(cp, [(3, 8, 8)], (16, 8, 8))
    assert CATALOG["Pad"].macs({"padding": [1, 1]}, [(3, 4)], (3, 6)) == 0
