"""No crash on any design file: every malformed file is a DesignFileError naming the place.

The property tests feed the loader any JSON value, any bytes and mutated examples; whatever
loads must also validate, summarize and save without an exception.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.design import Design
from graph.fileformat import MAX_DEPTH, DesignFileError, dumps, loads
from graph.summary import summarize
from graph.validate import validate
from tests.conftest import EXAMPLES

EXAMPLE = json.loads((EXAMPLES / "iris_mlp.json").read_text(encoding="utf-8"))


def refused(text: str | bytes) -> DesignFileError:
    with pytest.raises(DesignFileError) as info:
        loads(text)
    return info.value


def example_text(edit) -> str:
    doc = json.loads(json.dumps(EXAMPLE))
    edit(doc)
    return json.dumps(doc)


# ---- the six causes the fuzzer found -----------------------------------------------------------


def test_an_integer_of_thousands_of_digits_is_refused_at_its_place():
    text = example_text(lambda d: None).replace('"out_features": 16', '"out_features": ' + "9" * 5000)
    error = refused(text)
    assert error.where == "nodes[1].params.out_features"
    assert "5000 digits" in error.reason and "too large" in error.reason


@pytest.mark.parametrize("place", ["position", "params", "training"])
def test_an_integer_too_large_for_a_float_is_refused(place):
    huge = "1" + "0" * 400

    def edit(doc):
        if place == "position":
            doc["nodes"][2]["position"] = ["HUGE", 0.0]
        elif place == "params":
            doc["nodes"][1]["params"]["out_features"] = "HUGE"
        else:
            doc["training"] = {"batch_size": "HUGE"}

    error = refused(example_text(edit).replace('"HUGE"', huge))
    expected = {"position": "nodes[2].position[0]", "params": "nodes[1].params.out_features",
                "training": "training.batch_size"}[place]
    assert error.where == expected and "too large" in error.reason


def test_a_float_that_overflows_is_refused():
    error = refused(example_text(lambda d: None).replace('"out_features": 16', '"out_features": 1e400'))
    assert error.where == "nodes[1].params.out_features"


def test_the_largest_whole_number_still_loads_and_one_more_is_refused():
    def with_seed(value):
        return example_text(lambda d: d.update(training={"seed": "SEED"})).replace('"SEED"', value)

    assert loads(with_seed(str(2**63 - 1))).training["seed"] == 2**63 - 1  # validation refuses it
    assert refused(with_seed(str(2**63))).where == "training.seed"


@pytest.mark.parametrize("section", ["params", "data"])
def test_nesting_hundreds_deep_is_refused(section):
    deep = "[" * 500 + "]" * 500

    def edit(doc):
        if section == "params":
            doc["nodes"][2]["params"] = {"x": "DEEP"}
        else:
            doc["data"] = {"options": {"path": "DEEP"}}

    error = refused(example_text(edit).replace('"DEEP"', deep))
    assert f"more than {MAX_DEPTH} levels" in error.reason
    assert error.where.startswith("nodes[2].params.x[0]" if section == "params" else "data.options.path[0]")


def test_nesting_deeper_than_the_parser_can_go_is_refused():
    assert "nested too deeply" in refused("[" * 100_000 + "]" * 100_000).reason


def test_a_lone_surrogate_in_a_name_is_refused():
    error = refused(example_text(lambda d: None).replace('"hidden"', '"hid\\ud800den"'))
    assert error.where == "nodes[1].name" and "surrogate" in error.reason


def test_a_lone_surrogate_in_a_key_is_refused():
    error = refused(example_text(lambda d: d["nodes"][1]["params"].update({"\ud800": 1})))
    assert error.where == "nodes[1].params" and "surrogate" in error.reason


def test_a_paired_surrogate_escape_is_a_real_character():
    design = loads(example_text(lambda d: None).replace('"hidden"', '"hid\\ud83d\\ude00den"'))
    assert design.node("n2").name == "hid😀den"
    assert "hid😀den" in dumps(design)


def test_a_non_number_batch_size_does_not_break_the_summary():
    design = loads(example_text(lambda d: d.update(training={"batch_size": "abc"})))
    summary = summarize(design)
    assert summary.batch_size == 64  # the default while the setting is invalid
    assert not validate(design).ok


def test_an_input_dimension_beyond_int64_is_a_shape_error_not_a_crash():
    def edit(doc):
        doc["nodes"][0]["params"]["shape"] = [2**62, 2**62]
        doc["data"] = {"name": "csv", "options": {"path": "table.csv"}}

    design = loads(example_text(edit))
    report = validate(design)
    assert any(d.node == "n1" and "more elements than a tensor can hold" in d.message
               for d in report.errors)


# ---- properties ----------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=20)
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**80)
           | st.floats() | ANY_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(ANY_TEXT, inner, max_size=4), max_leaves=30)


def outcome(text: str | bytes) -> Design | DesignFileError:
    """What the loader makes of ``text``: a design or a DesignFileError, never anything else;
    a design must also validate, summarize and save."""
    try:
        design = loads(text)
    except DesignFileError as exc:
        assert str(exc)
        return exc
    report = validate(design)
    summarize(design, report.inference)
    assert loads(dumps(design)).to_dict() == design.to_dict()
    return design


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_any_json_value_is_a_design_or_a_clear_error(value):
    outcome(json.dumps(value))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_a_design_or_a_clear_error(data):
    assert isinstance(outcome(data), DesignFileError)  # random bytes are never a design


def _paths(value, path=()):
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, path + (key,))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_an_example_with_any_part_replaced_is_a_design_or_a_clear_error(data):
    doc = json.loads(json.dumps(EXAMPLE))
    paths = [p for p in _paths(doc) if p]
    path = data.draw(st.sampled_from(paths))
    value = data.draw(JSON_VALUES)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    outcome(json.dumps(doc))
