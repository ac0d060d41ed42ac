"""``main.py templates``, ``new`` and ``summary --json`` (in-process)."""
from __future__ import annotations

import json

import main
from graph.fileformat import load


def test_templates_lists_every_template_with_its_arguments(capsys):
    assert main.main(["templates"]) == 0
    out = capsys.readouterr().out
    for name in ("mlp", "lenet", "vgg", "resnet"):
        assert f"\n{name} — " in "\n" + out
    assert "depth=18" in out and "resnet50" in out and "vgg16_bn" in out and "--small" in out
    assert "()" not in out  # a template without small arguments says so, not "()"


def test_new_writes_a_design_that_remembers_its_template(tmp_path, capsys):
    path = tmp_path / "r34.json"
    assert main.main(["new", "resnet18", "-o", str(path), "--set", "depth=34"]) == 0
    assert "21,797,672 parameters" in capsys.readouterr().out
    design = load(path)
    assert design.template["name"] == "resnet" and design.template["args"]["depth"] == 34
    assert json.loads(path.read_text())["format_version"] == 2


def test_new_refuses_bad_names_and_values(tmp_path, capsys):
    out = tmp_path / "x.json"
    assert main.main(["new", "resnet19", "-o", str(out)]) == 1
    assert "unknown template 'resnet19'" in capsys.readouterr().err
    assert main.main(["new", "resnet", "-o", str(out), "--set", "depth=20"]) == 1
    assert "depth must be one of 18, 34, 50, 101, 152, not 20" in capsys.readouterr().err
    assert main.main(["new", "resnet", "-o", str(out), "--set", "depht=34"]) == 1
    assert "resnet has no argument 'depht'" in capsys.readouterr().err
    assert not out.exists()


def test_summary_json_has_exact_totals_and_block_groups(tmp_path, capsys):
    path = tmp_path / "r50.json"
    assert main.main(["new", "resnet50", "-o", str(path)]) == 0
    capsys.readouterr()
    status = main.main(["summary", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    # The network is valid; only its image folder is still to be chosen.
    assert not out["valid"] and out["errors"] and all("dataset" in e for e in out["errors"])
    assert status == 0  # the network is whole: a dataset still to choose does not fail summary
    assert (out["params"], out["macs"]) == (25_557_032, 4_128_446_976)
    assert out["nodes"] == 13 and out["layers"] == 177
    assert [(g["name"], g["block"], g["repeat"]) for g in out["groups"]] == [
        ("layer1", "Bottleneck", 3), ("layer2", "Bottleneck", 4), ("layer3", "Bottleneck", 6),
        ("layer4", "Bottleneck", 3)]
    assert sum(g["params"] for g in out["groups"]) + 9408 + 128 + 2049000 == out["params"]


def test_text_summary_shows_blocks_as_groups(tmp_path, capsys):
    path = tmp_path / "r18.json"
    main.main(["new", "resnet", "-o", str(path), "--small"])
    capsys.readouterr()
    assert main.main(["summary", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    group = next(line for line in lines if line.startswith("layer2 "))
    assert "BasicBlock ×2" in group
    assert any(line.startswith("  layer2.1 ") for line in lines)
    assert any(line.startswith("layers:") and "71" in line for line in lines)
