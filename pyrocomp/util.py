"""Small helpers shared by every layer of pyrocomp; this module imports nothing of pyrocomp's own."""
import importlib
import math
import os
import tempfile
from pathlib import Path

import pyro
import torch
from pyro.distributions import Independent


def require(module, extra):
    """
    Import ``module``, an optional dependency installed with ``pip install "pyrocomp[extra]"``.

    :raises ImportError: naming the extra to install when the module is missing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{module} is not installed; it comes with pyrocomp's {extra!r} extra: "
                          f"pip install 'pyrocomp[{extra}]'") from error


#: the largest float32: hyper-parameters become float32 tensors, so a larger number would be infinite
FLOAT32_MAX = 3.4028234663852886e38


def write_atomic(path, write):
    """Call ``write(file)`` on a file next to ``path``, flush it and rename it to ``path``: an existing file is never
    lost or left half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_atomic(path, payload):
    """``torch.save`` ``payload`` to ``path`` atomically (:func:`write_atomic`)."""
    write_atomic(path, lambda f: torch.save(payload, f))


def finite(name, value):
    """Return ``value`` as a float after checking it is a finite real number (a threshold, a log rate, ...)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected {name} to be a finite number but got {value!r}")
    if not (math.isfinite(value) and abs(value) <= FLOAT32_MAX):
        raise ValueError(f"Expected a finite {name} within float32's range but got {value}")
    return float(value)


def positive(name, value):
    """Return ``value`` as a float after checking it is a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected {name} to be a positive number but got {value!r}")
    if not value > 0:
        raise ValueError(f"Expected {name} > 0 but got {value}")
    if not value <= FLOAT32_MAX:
        raise ValueError(f"Expected {name} > 0 within float32's range but got {value}")
    return float(value)


def probability(name, value):
    """``value`` as a float after checking it lies in the open interval (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected {name} to be a probability but got {value!r}")
    if not 0.0 < value < 1.0:
        raise ValueError(f"Expected {name} in the open interval (0, 1) but got {value}")
    return float(value)


def compact(t):
    """The smallest view of ``t`` that broadcasts back to it (drops stride-0 repetitions)."""
    index = tuple(slice(0, 1) if stride == 0 and size > 1 else slice(None) for size, stride in zip(t.shape, t.stride()))
    return t[index]


def group_dims(shape, group_shape):
    """The dimensions of ``shape`` a group spans: those where ``group_shape`` (broadcastable to ``shape``,
    right-aligned) is 1 and ``shape`` is not. Sum over them with ``keepdim=True``, and only when there are
    some: ``sum(())`` would sum over every dimension."""
    group_shape = (1,) * (len(shape) - len(group_shape)) + tuple(group_shape)
    return tuple(d for d, (n, g) in enumerate(zip(shape, group_shape)) if g == 1 and n != 1)


def unwrap_independent(fn):
    """The distribution under any ``Independent`` wrappers of ``fn``."""
    while isinstance(fn, Independent):
        fn = fn.base_dist
    return fn



def own_param_store_names(module):
    """
    Drop from Pyro's param store every value stored under the name of one of the
    :class:`~pyro.nn.PyroParam` s of the :class:`~pyro.nn.PyroModule` ``module``, so that its next call
    stores and uses its own values: a new model or guide starts where it was built, not at a previous
    fit's values left in the store under the same names. ``pyro.get_param_store().load`` after this
    puts the loaded values back in charge.
    """
    store = pyro.get_param_store()
    for name, _ in module.named_parameters():
        full = ".".join(part for part in (module._pyro_name, name.removesuffix("_unconstrained")) if part)
        if full in store:
            del store[full]
