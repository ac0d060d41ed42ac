"""Datasets: every declared dataset loads as declared; files fail with messages naming the place."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from graph.settings import DATASETS, dataset_classes, dataset_shape
from runtime.data import (DataError, IndexSampler, Normalization, StreamSplit, TensorSplit,
                          data_from_path, load_data, read_idx, split_indices)

BUILTIN = [n for n, s in DATASETS.items() if s.kind != "file"]


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_dataset_loads_as_declared(name):
    spec = DATASETS[name]
    data = {"name": name, "options": spec.resolve({})}
    loaded = load_data(data)
    info = loaded.info
    assert info.sample_shape == dataset_shape(data)
    assert info.num_classes == dataset_classes(data)
    assert info.task == spec.task
    assert sum(info.sizes.values()) == len(loaded.train) + len(loaded.val) + len(loaded.test)
    assert tuple(loaded.train.x.shape[1:]) == info.sample_shape
    if info.task == "classification":
        assert loaded.train.y.dtype == torch.int64
        assert len(info.class_names) == info.num_classes
        assert set(loaded.train.y.tolist()) == set(range(info.num_classes))
    else:
        assert loaded.train.y.dtype == torch.float32 and loaded.train.y.shape[1:] == (1,)
    assert torch.isfinite(loaded.train.x).all()


def test_digits_as_features_or_images():
    images = load_data({"name": "digits", "options": {"as_images": True}})
    flat = load_data({"name": "digits", "options": {"as_images": False}})
    assert images.info.sample_shape == (1, 8, 8) and flat.info.sample_shape == (64,)
    assert images.info.normalization.axis == "channel"
    assert flat.info.normalization.axis == "feature"


@pytest.mark.parametrize("name", ["moons", "circles", "spirals", "xor", "sine"])
def test_synthetic_options_size_noise_seed(name):
    base = {"name": name, "options": {"n_samples": 200, "noise": 0.1, "seed": 3}}
    a, b = load_data(base), load_data(base)
    assert torch.equal(a.train.x, b.train.x)
    assert sum(a.info.sizes.values()) == 200
    other = load_data({"name": name, "options": {"n_samples": 200, "noise": 0.1, "seed": 4}})
    assert not torch.equal(a.train.x, other.train.x)


def test_spirals_classes_option():
    loaded = load_data({"name": "spirals", "options": {"classes": 4, "n_samples": 400}})
    assert loaded.info.num_classes == 4 and loaded.info.sample_shape == (2,)


def test_split_is_seeded_disjoint_and_stratified():
    labels = np.repeat(np.arange(4), [100, 60, 30, 10])
    tr, va, te = split_indices(len(labels), labels, 0.2, 0.1, seed=5)
    assert len(set(tr) | set(va) | set(te)) == len(labels)
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    for c, count in enumerate([100, 60, 30, 10]):
        assert abs((labels[va] == c).sum() - 0.2 * count) <= 1
        assert abs((labels[te] == c).sum() - 0.1 * count) <= 1
    again = split_indices(len(labels), labels, 0.2, 0.1, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip((tr, va, te), again))
    other = split_indices(len(labels), labels, 0.2, 0.1, seed=6)
    assert not np.array_equal(tr, other[0])


def test_no_validation_split():
    loaded = load_data({"name": "iris", "options": {}, "val_fraction": 0.0, "test_fraction": 0.2})
    assert loaded.info.sizes["val"] == 0 and len(loaded.val) == 0


def test_normalization_uses_training_split_only():
    data = {"name": "wine", "options": {}, "split_seed": 1}
    loaded = load_data(data)
    raw = load_data(dict(data, normalize=False))
    x_train = raw.train.x.double()
    norm = loaded.info.normalization
    assert np.allclose(norm.mean, x_train.mean(0).numpy(), rtol=1e-6)
    assert np.allclose(norm.std, x_train.std(0, unbiased=False).numpy(), rtol=1e-6)
    assert loaded.train.x.mean(0).abs().max() < 1e-4
    # The other splits are transformed with the training statistics, not their own.
    assert torch.allclose(loaded.val.x, norm.apply(raw.val.x), atol=1e-5)
    assert loaded.val.x.mean(0).abs().max() > 1e-3


def test_regression_targets_are_standardized_and_invertible():
    loaded = load_data({"name": "diabetes", "options": {}})
    raw = load_data({"name": "diabetes", "options": {}, "normalize": False})
    norm = loaded.info.normalization
    assert abs(float(loaded.train.y.mean())) < 1e-4
    assert torch.allclose(norm.invert_targets(loaded.val.y), raw.val.y, atol=1e-3)


# ---- CSV -----------------------------------------------------------------------------------


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_text_classes(tmp_path):
    rows = "\n".join(f"{i},{i * 0.5},{'cat' if i % 2 else 'dog'}" for i in range(40))
    path = write(tmp_path / "pets.csv", "size,weight,kind\n" + rows + "\n")
    loaded = load_data({"name": "csv", "options": {"path": str(path)}})
    info = loaded.info
    assert info.task == "classification" and info.class_names == ["cat", "dog"]
    assert info.sample_shape == (2,) and sum(info.sizes.values()) == 40


def test_csv_target_and_feature_columns_and_regression(tmp_path):
    rows = "\n".join(f"{i},{i * 0.37:.3f},{i % 3},{i * 1.5 + 0.25}" for i in range(50))
    path = write(tmp_path / "t.csv", "a,b,c,price\n" + rows + "\n")
    loaded = load_data({"name": "csv", "options": {"path": str(path), "target": "price",
                                                   "features": "a, b"}})
    assert loaded.info.task == "regression" and loaded.info.sample_shape == (2,)
    classes = load_data({"name": "csv", "options": {"path": str(path), "target": "c"}})
    assert classes.info.task == "classification" and classes.info.class_names == ["0", "1", "2"]


def test_csv_semicolons_and_byte_order_mark(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_bytes("\ufeffx;y;label\n".encode() + b"".join(
        f"{i};{i + 1};{i % 2}\n".encode() for i in range(20)))
    loaded = load_data({"name": "csv", "options": {"path": str(path)}})
    assert loaded.info.sample_shape == (2,) and loaded.info.num_classes == 2


def test_csv_text_in_a_feature_column_names_line_and_column(tmp_path):
    path = write(tmp_path / "bad.csv", "a,b,label\n1,2,x\n3,4,y\n5,oops,x\n")
    with pytest.raises(DataError) as err:
        load_data({"name": "csv", "options": {"path": str(path)}})
    msg = str(err.value)
    assert "bad.csv" in msg and "line 4" in msg and "'b'" in msg and "'oops'" in msg


@pytest.mark.parametrize("text, needle", [
    ("a,b\n1,2\n3\n", "line 3 has 1 values"),
    ("a,b\n1,\n3,4\n", "line 2, column .b.: the cell is empty or NA"),
    ("a,b,label\n1,,x\n", "is empty"),
    ("a,b,label\n1,nan,x\n", "line 2, column .b.: the cell is empty or NA"),
    ("a,a,label\n1,2,x\n", "appears twice"),
    ("a,b,label\n", "no data rows"),
    ("", "empty"),
])
def test_csv_problems(tmp_path, text, needle):
    path = write(tmp_path / "p.csv", text)
    with pytest.raises(DataError, match=needle):
        load_data({"name": "csv", "options": {"path": str(path)}})


def test_csv_unknown_columns_and_regression_with_text(tmp_path):
    path = write(tmp_path / "c.csv", "a,b,label\n1,2,x\n3,4,y\n")
    with pytest.raises(DataError, match="no column 'price'.*columns: a, b, label"):
        load_data({"name": "csv", "options": {"path": str(path), "target": "price"}})
    with pytest.raises(DataError, match="no feature column 'z'"):
        load_data({"name": "csv", "options": {"path": str(path), "features": "a,z"}})
    with pytest.raises(DataError, match="line 2.*'x' is not a number, but the task is regression"):
        load_data({"name": "csv", "options": {"path": str(path), "task": "regression"}})


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nowhere.csv: no such file"):
        load_data({"name": "csv", "options": {"path": str(tmp_path / "nowhere.csv")}})
    with pytest.raises(DataError, match="no file given"):
        load_data({"name": "csv", "options": {}})


def test_relative_paths_resolve_against_the_design_folder(tmp_path):
    write(tmp_path / "d.csv", "a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    loaded = load_data({"name": "csv", "options": {"path": "d.csv"}}, base_dir=tmp_path)
    assert loaded.info.source.endswith("d.csv")


# ---- npz -----------------------------------------------------------------------------------


def test_npz_loads_arrays(tmp_path):
    path = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.normal(size=(60, 3, 4)).astype(np.float32), y=np.arange(60) % 3)
    loaded = load_data({"name": "npz", "options": {"path": str(path)}})
    assert loaded.info.sample_shape == (3, 4) and loaded.info.num_classes == 3
    np.savez(path, x=rng.normal(size=(60, 5)), y=rng.normal(size=60))
    assert load_data({"name": "npz", "options": {"path": str(path)}}).info.task == "regression"
    np.savez(path, x=rng.normal(size=(60, 5)), y=np.array(["a", "b", "c"] * 20))
    assert load_data({"name": "npz", "options": {"path": str(path)}}).info.class_names == \
        ["a", "b", "c"]


def test_npz_never_unpickles(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}] * 4, dtype=object), y=np.zeros(4))
    with pytest.raises(DataError, match="Python objects.*pickle is never loaded"):
        load_data({"name": "npz", "options": {"path": str(path)}})


@pytest.mark.parametrize("arrays, needle", [
    ({"x": np.zeros((4, 2))}, "no array named y"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(5)}, "x has 4 samples but y has 5"),
    ({"x": np.full((4, 2), np.nan), "y": np.zeros(4)}, r"x\[0\] holds NaN"),
    ({"x": np.zeros(4), "y": np.zeros(4)}, "at least one feature"),
])
def test_npz_problems(tmp_path, arrays, needle):
    path = tmp_path / "p.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=needle):
        load_data({"name": "npz", "options": {"path": str(path)}})


def test_npz_that_is_not_a_zip(tmp_path):
    path = write(tmp_path / "fake.npz", "hello")
    with pytest.raises(DataError, match="fake.npz: not a readable .npz"):
        load_data({"name": "npz", "options": {"path": str(path)}})


def test_token_ids_stay_integers(tmp_path):
    path = tmp_path / "tokens.npz"
    np.savez(path, x=np.arange(80).reshape(20, 4) % 7, y=np.arange(20) % 2)
    loaded = load_data({"name": "npz", "options": {"path": str(path)}}, input_dtype="int64")
    assert loaded.train.x.dtype == torch.int64 and loaded.info.x_dtype == "int64"
    assert loaded.info.normalization.axis == "none"
    np.savez(path, x=np.full((20, 4), 0.5), y=np.arange(20) % 2)
    with pytest.raises(DataError, match="token ids"):
        load_data({"name": "npz", "options": {"path": str(path)}}, input_dtype="int64")


# ---- image folders ---------------------------------------------------------------------------


def image_folder(root, classes=("cat", "dog"), per_class=6, size=(12, 10)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def test_image_folder_grayscale_and_rgb(tmp_path):
    root = image_folder(tmp_path / "pets")
    gray = load_data({"name": "images", "options": {"path": str(root), "size": [8, 6]}})
    assert gray.info.sample_shape == (1, 8, 6) and gray.info.class_names == ["cat", "dog"]
    assert gray.train.x.dtype == torch.uint8  # kept as 8-bit, normalized per batch
    x, y = gray.train.take(torch.arange(3))
    assert x.dtype == torch.float32 and x.shape == (3, 1, 8, 6)
    rgb = load_data({"name": "images", "options": {"path": str(root), "size": [5, 5],
                                                   "color": "rgb"}})
    assert rgb.info.sample_shape == (3, 5, 5) and len(rgb.info.normalization.mean) == 3


def test_image_folder_corrupt_file_is_named(tmp_path):
    root = image_folder(tmp_path / "pets")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError) as err:
        load_data({"name": "images", "options": {"path": str(root)}})
    assert "broken.png" in str(err.value) and "not a readable image" in str(err.value)


def test_image_folder_without_images(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="no images found"):
        load_data({"name": "images", "options": {"path": str(tmp_path / "empty")}})
    with pytest.raises(DataError, match="not a folder"):
        load_data({"name": "images", "options": {"path": str(write(tmp_path / "f.txt", "x"))}})


def test_large_image_folders_stream_through_a_dataloader(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=10)
    kwargs = {"name": "images", "options": {"path": str(root), "size": [6, 6]}}
    streamed = load_data(kwargs, max_memory=0)
    in_memory = load_data(kwargs)
    assert isinstance(streamed.train, StreamSplit) and streamed.info.streamed
    assert isinstance(in_memory.train, TensorSplit)
    streamed.train.num_workers = 0
    order = torch.arange(len(streamed.train))
    batches = list(streamed.train.batches(order, 4, 3))
    assert [len(y) for _, y in batches] == [4, 4, 4]
    # Same samples, same labels, as the in-memory form (statistics are estimated the same way).
    xs, ys = torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])
    xm, ym = in_memory.train.take(torch.arange(12))
    assert torch.equal(ys, ym) and torch.allclose(xs, xm, atol=1e-5)


def test_streamed_corrupt_image_is_named(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=4)
    good = (root / "cat" / "1.png").read_bytes()
    (root / "cat" / "1.png").write_bytes(good[: len(good) // 2])  # header fine, data cut
    # With normalization on, the statistics pass would already find it; here only streaming can.
    loaded = load_data({"name": "images", "options": {"path": str(root)}, "normalize": False,
                        "val_fraction": 0.0, "test_fraction": 0.0}, max_memory=0)
    loaded.train.num_workers = 1
    with pytest.raises(DataError, match="1.png: not a readable image"):
        list(loaded.train.sequential(8))


# ---- IDX -------------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def idx_pair(folder, n=30, gz=False):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, 7, 5), dtype=np.uint8)
    labels = (np.arange(n) % 3).astype(np.uint8)
    ipath = folder / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    lpath = folder / ("train-labels-idx1-ubyte" + (".gz" if gz else ""))
    wrap = gzip.compress if gz else (lambda b: b)
    ipath.write_bytes(wrap(idx_bytes(images)))
    lpath.write_bytes(wrap(idx_bytes(labels)))
    return ipath, lpath, images


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_load(tmp_path, gz):
    ipath, lpath, images = idx_pair(tmp_path, gz=gz)
    assert np.array_equal(read_idx(ipath), images)
    loaded = load_data({"name": "idx", "options": {"images": str(ipath), "labels": str(lpath)}})
    assert loaded.info.sample_shape == (1, 7, 5) and loaded.info.num_classes == 3
    assert loaded.train.x.dtype == torch.uint8


def test_idx_wrong_header_is_explained(tmp_path):
    ipath, lpath, _ = idx_pair(tmp_path)
    blob = ipath.read_bytes()
    ipath.write_bytes(b"\x08\x03" + blob[2:])
    with pytest.raises(DataError) as err:
        load_data({"name": "idx", "options": {"images": str(ipath), "labels": str(lpath)}})
    assert "train-images-idx3-ubyte: not an IDX file" in str(err.value)
    assert "two zero bytes" in str(err.value)


@pytest.mark.parametrize("mutate, needle", [
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX element type 0x07"),
    (lambda b: b[:3] + b"\x09" + b[4:], "9 dimensions"),
    (lambda b: b[:-10], "the header promises an array of shape"),
    (lambda b: b[:2], "too short"),
])
def test_idx_header_and_size_checks(tmp_path, mutate, needle):
    ipath, lpath, _ = idx_pair(tmp_path)
    ipath.write_bytes(mutate(ipath.read_bytes()))
    with pytest.raises(DataError, match=needle):
        load_data({"name": "idx", "options": {"images": str(ipath), "labels": str(lpath)}})


def test_idx_label_count_must_match(tmp_path):
    ipath, lpath, _ = idx_pair(tmp_path)
    lpath.write_bytes(idx_bytes(np.zeros(7, np.uint8)))
    with pytest.raises(DataError, match="7 labels, but .* holds 30 samples"):
        load_data({"name": "idx", "options": {"images": str(ipath), "labels": str(lpath)}})


# ---- paths from the command line --------------------------------------------------------------


def test_data_from_path_picks_the_loader(tmp_path):
    csv_path = write(tmp_path / "a.csv", "x,y\n1,2\n")
    assert data_from_path(str(csv_path))["name"] == "csv"
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 2)), y=np.zeros(2))
    assert data_from_path(str(tmp_path / "a.npz"))["name"] == "npz"
    ipath, lpath, _ = idx_pair(tmp_path)
    found = data_from_path(str(ipath))
    assert found["name"] == "idx" and found["options"]["labels"] == str(lpath.resolve())
    assert data_from_path(str(tmp_path))["name"] == "idx"  # a folder of IDX files
    pets = image_folder(tmp_path / "pets", per_class=1)
    assert data_from_path(str(pets)) == {"name": "images", "options": {"path": str(pets.resolve())}}
    with pytest.raises(DataError, match="not a built-in dataset"):
        data_from_path(str(tmp_path / "missing.csv"))
    with pytest.raises(DataError, match="cannot tell the kind of data"):
        data_from_path(str(write(tmp_path / "notes.md", "hi")))


# ---- batching ----------------------------------------------------------------------------------


def test_index_sampler_is_a_seeded_permutation_per_epoch():
    s = IndexSampler(10, seed=1)
    a, b = s.order(0), s.order(1)
    assert sorted(a.tolist()) == list(range(10)) and not torch.equal(a, b)
    assert torch.equal(a, IndexSampler(10, seed=1).order(0))
    assert torch.equal(IndexSampler(10, shuffle=False).order(3), torch.arange(10))


def test_index_sampler_shards_for_distributed_training():
    shards = [IndexSampler(11, seed=2, rank=r, world_size=3).order(4) for r in range(3)]
    assert {len(s) for s in shards} == {4}
    assert set(torch.cat(shards).tolist()) == set(range(11))
    with pytest.raises(ValueError):
        IndexSampler(5, rank=2, world_size=2)


def test_num_batches_drops_only_a_single_sample_tail():
    assert IndexSampler(129).num_batches(64) == 2  # 64 + 64, the lone sample is dropped
    assert IndexSampler(130).num_batches(64) == 3
    assert IndexSampler(5).num_batches(64) == 1


def test_uint8_batches_normalize_like_the_stored_statistics():
    x = torch.randint(0, 256, (6, 3, 2, 2), dtype=torch.uint8)
    norm = Normalization("channel", 1 / 255, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3])
    split = TensorSplit(x, torch.zeros(6, dtype=torch.long), norm)
    got, _ = split.take(torch.tensor([1, 4]))
    want = (x[[1, 4]].float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1)) / \
        torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1)
    assert torch.allclose(got, want, atol=1e-6)
    assert torch.allclose(norm.apply(x[[1, 4]]), want, atol=1e-6)


def test_batches_gathered_in_chunks_equal_batch_by_batch(monkeypatch):
    """Several batches are gathered and normalized at once (chunks of a few), from any start
    batch: every batch holds exactly the samples and values of its slice of the order."""
    import runtime.data.batching as batching

    x = torch.randint(0, 256, (50, 1, 2, 2), dtype=torch.uint8)
    y = torch.arange(50)
    split = TensorSplit(x, y, Normalization("channel", 1 / 255, [0.5], [0.2]))
    order = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    monkeypatch.setattr(batching, "CHUNK_BYTES", 3 * 8 * 4 * 4)  # 3 batches of 8 a chunk
    for start in (0, 2, 5):
        got = list(split.batches(order, 8, 6, start=start))  # the last 2 samples: no batch
        assert len(got) == 6 - start
        for b, (xb, yb) in enumerate(got, start):
            idx = order[b * 8:(b + 1) * 8]
            assert torch.equal(yb, y[idx])
            assert torch.equal(xb, split.take(idx)[0])


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer"])
def test_bundled_datasets_read_as_scikit_learn_reads_them(name):
    """scikit-learn's bundled files are read directly (importing it took ~1.5 s of a run's
    "loading the data"), giving exactly what its loaders give."""
    from runtime.data.builtin import _bundled, _sklearn_loader

    ours, theirs = _bundled(name), _sklearn_loader(name)()
    np.testing.assert_array_equal(ours.data, theirs.data)
    np.testing.assert_array_equal(ours.target, theirs.target)
    assert [str(n) for n in ours.target_names] == [str(n) for n in theirs.target_names]


def test_a_training_child_on_the_digits_imports_neither_scikit_learn_nor_pandas():
    """Each is ~0.5-1.5 s of the wait before the first epoch and neither is needed here."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, runtime.worker, runtime.training; "
            "from runtime.data.builtin import load_builtin; "
            "raw = load_builtin('digits', {'as_images': True}); "
            "assert raw.x.shape == (1797, 1, 8, 8), raw.x.shape; "
            "assert 'sklearn' not in sys.modules and 'pandas' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
