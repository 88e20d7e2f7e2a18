from collections import Counter
from pathlib import Path

import pytest
import torch

from pyrocomp.data import DATASETS, DataError, hold_out, load_dataset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.parametrize("name,train,test,shape", [
    ("mnist5k", 4000, 1000, (1, 28, 28)),
    ("digits", 1257, 540, (1, 8, 8)),
    ("breast-cancer", 398, 171, (30,)),
])
def test_embedded_datasets(name, train, test, shape):
    data = load_dataset(name, seed=0)
    x, y = data.train.tensors
    assert (len(data.train), len(data.test)) == (train, test) and data.input_shape == shape
    assert x.dtype == torch.float32 and torch.isfinite(x).all() and y.dtype == torch.long
    # stratified: each class's share of the test set matches its share of the whole
    whole = Counter(y.tolist()) + Counter(data.test.tensors[1].tolist())
    test_counts = Counter(data.test.tensors[1].tolist())
    n = train + test
    for cls, count in whole.items():
        assert abs(test_counts[cls] - count * test / n) <= 1.0
    # deterministic under a seed, different under another
    again = load_dataset(name, seed=0)
    assert torch.equal(again.train.tensors[0], x)
    assert not torch.equal(load_dataset(name, seed=1).train.tensors[1], y)


def test_mnist5k_is_normalised_and_shuffled():
    data = load_dataset("mnist5k")
    x, y = data.train.tensors
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1) < 0.1
    assert len(set(y[:50].tolist())) > 5  # the raw data is sorted by class


def test_breast_cancer_is_standardised_on_train():
    x = load_dataset("breast-cancer").train.tensors[0]
    assert torch.allclose(x.mean(0), torch.zeros(30), atol=1e-5) and torch.allclose(x.std(0), torch.ones(30), atol=1e-4)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_torchvision_datasets_from_shared_data(name, folder, tmp_path, monkeypatch):
    if not (SHARED / folder / "raw").is_dir():
        pytest.skip(f"{SHARED / folder / 'raw'} is not present on this machine")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    data = load_dataset(name, SHARED)
    assert (len(data.train), len(data.test)) == (60000, 10000)
    counts = Counter(data.test.tensors[1].tolist())
    assert sum(counts.values()) == 10000 and min(counts.values()) > 850
    assert set(data.train.tensors[1].tolist()) == set(range(10))
    assert abs(float(data.train.tensors[0].mean())) < 0.05


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_missing_files_give_a_clear_error(name, tmp_path):
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset(name, tmp_path)


def test_missing_data_dir(monkeypatch):
    monkeypatch.delenv("PYROCOMP_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("mnist")


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset 'x'"):
        load_dataset("x")
    assert {"mnist5k", "digits", "breast-cancer", "mnist", "fashion-mnist", "cifar10", "cifar100"} <= set(DATASETS)


def test_hold_out_moves_a_stratified_part_of_train_to_validation():
    data = load_dataset("digits", seed=0)
    split = hold_out(data, 0.2, seed=1)
    (xt, yt), (xv, yv) = split.train.tensors, split.validation.tensors
    assert (len(yt), len(yv)) == (1005, 252) and split.test is data.test and data.validation is None
    # a partition of the original training rows
    rows = {tuple(r) for r in data.train.tensors[0].flatten(1).tolist()}
    held = {tuple(r) for r in xv.flatten(1).tolist()}
    kept = {tuple(r) for r in xt.flatten(1).tolist()}
    assert held | kept == rows and not held & kept
    whole = Counter(data.train.tensors[1].tolist())
    for cls, count in Counter(yv.tolist()).items():
        assert abs(count - 0.2 * whole[cls]) <= 1.0
    assert len(hold_out(data, 100).validation) == 100
    assert torch.equal(hold_out(data, 0.2, seed=1).validation.tensors[0], xv)


@pytest.mark.parametrize("size", [0.0, 1.0, 0, 1257, -3, True, "0.1"])
def test_hold_out_bad_size(size):
    with pytest.raises(ValueError, match="Expected size"):
        hold_out(load_dataset("breast-cancer"), size)


def test_hold_out_twice_is_an_error():
    with pytest.raises(ValueError, match="already has a validation part"):
        hold_out(hold_out(load_dataset("breast-cancer"), 0.1), 0.1)


def _fake_mnist(root, seed, train=12, test=6):
    """An MNIST-layout directory of random digits, as the .gz originals."""
    import gzip

    g = torch.Generator().manual_seed(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", train), ("t10k", test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        labels = torch.arange(n, dtype=torch.uint8) % 10
        header = (2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big") + (28).to_bytes(4, "big")
        (raw / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + images.numpy().tobytes()))
        header = (2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        (raw / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + labels.numpy().tobytes()))
    return raw


def test_the_extraction_cache_never_mixes_data_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _fake_mnist(tmp_path / "a", seed=1)
    _fake_mnist(tmp_path / "b", seed=2)
    a, b = load_dataset("mnist", tmp_path / "a"), load_dataset("mnist", tmp_path / "b")
    assert not torch.equal(a.train.tensors[0], b.train.tensors[0])
    assert torch.equal(load_dataset("mnist", tmp_path / "a").train.tensors[0], a.train.tensors[0])


def test_a_truncated_archive_is_a_clear_error_that_leaves_no_cache_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    raw = _fake_mnist(tmp_path / "a", seed=1)
    whole = (raw / "train-images-idx3-ubyte.gz").read_bytes()
    (raw / "train-images-idx3-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="cannot extract"):
        load_dataset("mnist", tmp_path / "a")
    (raw / "train-images-idx3-ubyte.gz").write_bytes(whole)  # fixed: the next run extracts it afresh
    assert len(load_dataset("mnist", tmp_path / "a").train) == 12


def test_garbage_files_are_a_clear_error(tmp_path, monkeypatch):
    import gzip

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    raw = _fake_mnist(tmp_path / "a", seed=1)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not an idx file at all"))
    with pytest.raises(DataError, match="cannot read the files"):
        load_dataset("mnist", tmp_path / "a")
