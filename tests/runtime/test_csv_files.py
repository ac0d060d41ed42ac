"""CSV files as people have them: preambles, headers or none, other delimiters, quoted fields,
missing cells, chosen columns and tasks. Errors name the line and the column."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sklearn

from graph.validate import validate
from runtime.analysis import csv_columns, preview_data
from runtime.data import DataError, load_data, read_raw
from runtime.data.csvfile import load_csv
from tests.graph.util import Build

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"


def write(tmp_path: Path, text: str, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_data(path: Path, **options) -> dict:
    return {"name": "csv", "options": {"path": str(path), **options}}


# ---- the real files scikit-learn ships (first line: size and class names) ----------------------


@pytest.mark.parametrize("name, samples, features, classes", [
    ("iris.csv", 150, 4, ["setosa", "versicolor", "virginica"]),
    ("wine_data.csv", 178, 13, ["class_0", "class_1", "class_2"]),
    ("breast_cancer.csv", 569, 30, ["malignant", "benign"]),
])
def test_scikit_learn_csv_files_load_with_every_sample(name, samples, features, classes):
    raw = load_csv(SKLEARN_DATA / name)
    assert raw.x.shape == (samples, features)
    assert raw.task == "classification" and raw.class_names == classes
    assert any("line 1" in note for note in raw.notes)  # the skipped line is said
    reference = np.loadtxt(SKLEARN_DATA / name, delimiter=",", skiprows=1)
    np.testing.assert_allclose(raw.x, reference[:, :-1].astype(np.float32))
    np.testing.assert_array_equal(raw.y, reference[:, -1].astype(np.int64))


def test_a_preamble_line_with_another_field_count_is_skipped_and_said(tmp_path):
    path = write(tmp_path, "exported by LabTool 3.1\na,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    raw = load_csv(path)
    assert raw.x.tolist() == [[1, 2], [3, 4], [5, 6]] and raw.columns == ["a", "b"]
    assert "skipped 1 preamble line at the top: line 1 has 1 field, the data has 3" in raw.notes


# ---- headers, delimiters, quotes ------------------------------------------------------------------


def test_a_file_without_header_loses_no_row(tmp_path):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n")
    raw = load_csv(path)
    assert len(raw.x) == 3 and raw.columns == ["column 1", "column 2"]
    assert "no header line: the columns are numbered" in raw.notes


@pytest.mark.parametrize("header, rows", [("yes", 2), ("no", 3)])
def test_the_header_choice_overrides_the_guess(tmp_path, header, rows):
    path = write(tmp_path, "1,2,0\n3,4,1\n5,6,0\n")
    assert len(load_csv(path, header=header).x) == rows


@pytest.mark.parametrize("sep", [";", "\t", "|"])
def test_the_delimiter_is_detected(tmp_path, sep):
    path = write(tmp_path, sep.join(["a", "b", "y"]) + "\n" + "\n".join(
        sep.join([str(i), str(i * 2), str(i % 2)]) for i in range(6)) + "\n")
    raw = load_csv(path)
    assert raw.columns == ["a", "b"] and raw.x.shape == (6, 2)
    assert csv_columns(path) == ["a", "b", "y"]  # the column picker reads it the same way


def test_an_explicit_delimiter_is_used(tmp_path):
    path = write(tmp_path, "a;b;y\n1;2,5;0\n3;4,5;1\n")
    with pytest.raises(DataError, match="line 2, column 'b': '2,5' is not a number"):
        load_csv(path, delimiter="semicolon")


def test_quoted_fields_keep_their_delimiters(tmp_path):
    path = write(tmp_path, 'x,"y, the label"\n1,"red, dark"\n2,"blue"\n3,"red, dark"\n')
    raw = load_csv(path)
    assert raw.class_names == ["blue", "red, dark"] and raw.columns == ["x"]


def test_skip_rows_skips_lines_before_the_header(tmp_path):
    path = write(tmp_path, "# one\n# two,with,commas\nx,y\n1,0\n2,1\n")
    raw = load_csv(path, skip_rows=2)
    assert raw.columns == ["x"] and len(raw.x) == 2


def test_a_long_row_names_its_line(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n1,2,3,4\n")
    with pytest.raises(DataError, match="line 3 has 4 values"):
        load_csv(path)


# ---- missing cells ---------------------------------------------------------------------------------

HOLES = "a,b,y\n1,2,0\n3,,1\n5,6,NA\n7,8,1\n9,10,0\n11,NaN,1\n"


def test_a_missing_cell_is_an_error_naming_line_and_column_by_default(tmp_path):
    with pytest.raises(DataError, match=r"table.csv: line 3, column 'b': the cell is empty"):
        load_csv(write(tmp_path, HOLES))


def test_drop_removes_rows_with_missing_cells_and_says_so(tmp_path):
    raw = load_csv(write(tmp_path, HOLES), missing="drop")
    assert raw.x.tolist() == [[1, 2], [7, 8], [9, 10]]
    assert "dropped 3 rows with missing cells" in raw.notes


def test_mean_fills_features_with_the_training_mean_and_drops_missing_targets(tmp_path):
    path = write(tmp_path, HOLES)
    raw = load_csv(path, missing="mean")
    assert len(raw.x) == 5 and np.isnan(raw.x).sum() == 2  # filled after the split
    data = load_data(dict(csv_data(path, missing="mean"), val_fraction=0.0, test_fraction=0.0,
                          normalize=False))
    x = data.train.x.numpy()
    assert not np.isnan(x).any()
    np.testing.assert_allclose(sorted(x[:, 1]), [2, 20 / 3, 20 / 3, 8, 10], rtol=1e-6)


def test_a_nan_regression_target_is_missing_not_a_class(tmp_path):
    rows = "\n".join(f"{i},{i * 0.37:.2f}" for i in range(60))
    path = write(tmp_path, "x,y\n" + rows + "\n60,nan\n")
    raw = load_csv(path, missing="drop")
    assert raw.task == "regression" and len(raw.y) == 60


def test_a_non_finite_target_is_an_error(tmp_path):
    path = write(tmp_path, "x,y\n1,0.5\n2,inf\n3,1.5\n")
    with pytest.raises(DataError, match="line 3, column 'y': the target 'inf' is not finite"):
        load_csv(path)


def test_one_class_is_an_error_before_training(tmp_path):
    path = write(tmp_path, "x,y\n1,a\n2,a\n3,a\n")
    with pytest.raises(DataError, match="1 class \\('a'\\); classification needs at least two"):
        read_raw(csv_data(path))


# ---- columns and task -------------------------------------------------------------------------------


def test_target_features_and_task_are_chosen(tmp_path):
    path = write(tmp_path, "a,b,c,d\n1,2,3,0\n4,5,6,1\n7,8,9,2\n")
    raw = load_csv(path, target="a", features="b,d", task="regression")
    assert raw.columns == ["b", "d"] and raw.task == "regression"
    assert raw.y.reshape(-1).tolist() == [1, 4, 7]


def test_a_text_feature_cell_names_line_and_column(tmp_path):
    path = write(tmp_path, "a,b,y\n1,2,0\n3,four,1\n")
    with pytest.raises(DataError, match="line 3, column 'b': 'four' is not a number"):
        load_csv(path)


def test_the_preview_says_what_was_skipped(tmp_path):
    preview = preview_data(csv_data(SKLEARN_DATA / "wine_data.csv"))
    assert preview.total == 178 and preview.num_classes == 3
    assert any("preamble" in note for note in preview.notes)


# ---- image folders ------------------------------------------------------------------------------------


def test_an_image_folder_skips_other_files_and_says_how_many(tmp_path):
    from PIL import Image

    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("L", (4, 4), 40 * i).save(tmp_path / cls / f"{i}.png")
        (tmp_path / cls / "notes.txt").write_text("not an image")
    raw = read_raw({"name": "images", "options": {"path": str(tmp_path), "size": [4, 4]}})
    assert len(raw.y) == 4
    assert raw.notes == ["skipped 2 files that are not images (such as cat/notes.txt)"]


# ---- an unreadable dataset is a validation error on the Input --------------------------------------


def test_an_unreadable_dataset_is_an_error_on_the_input():
    b = Build("t", data="csv", path="missing.csv")
    b.add("Input", "x", shape=[2])
    b.add("Linear", "fc", "x", out_features=2)
    b.add("Output", "y", "fc")
    report = validate(b.design, data_error="missing.csv: no such file")
    [error] = [d for d in report.errors if d.code == "data-file"]
    assert error.node == b.id("x") and "missing.csv: no such file" in error.message
    assert "Data panel" in error.fix and "--data" in error.fix  # where to choose it, app and CLI
    assert validate(b.design).ok
