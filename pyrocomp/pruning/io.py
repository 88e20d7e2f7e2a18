import copy
import pickle

import torch
from torch import nn

from pyrocomp.util import own_param_store_names, save_atomic

from .kernels import apply_conv_geometry_, conv_geometry


def save_compressed(path, network, masks, **metadata):
    """
    Save a pruned network's state dict, its masks, its convolutions' kernel sizes and paddings (cropped kernels,
    :func:`~pyrocomp.pruning.shrink_kernels_`) and ``metadata`` (plain values) to ``path`` atomically: a file is
    written next to it, flushed and renamed, so an existing file is never lost or left half-written. Readable with
    ``torch.load(path, weights_only=True)``.
    """
    payload = {
        "state_dict": {k: v.detach().cpu() for k, v in network.state_dict().items()},
        "masks": {k: v.detach().cpu() for k, v in masks.items()},
        "convolutions": {path: conv_geometry(m) for path, m in network.named_modules() if isinstance(m, nn.Conv2d)},
        "metadata": metadata,
    }
    save_atomic(path, payload)


def _pyro_state(module):
    with torch.no_grad(), module._pyro_context:  # the values Pyro holds
        return {name: value.detach().cpu().clone() for name, value in module.state_dict().items()}


def save_hypernetwork(path, guide, **metadata):
    """
    Save a fitted :class:`~pyrocomp.guides.AutoConditionalGuide` — its posterior families' parameters, context
    encoder and heads — and ``metadata`` (plain values) to ``path`` atomically, readable with
    ``torch.load(path, weights_only=True)``.
    """
    save_atomic(path, {"state_dict": _pyro_state(guide), "metadata": metadata})


def save_posterior(path, model, guide, **metadata):
    """
    Save a fitted posterior — the model's point estimates (biases) and the guide's variational parameters — and
    ``metadata`` (plain values) to ``path`` atomically, readable with ``torch.load(path, weights_only=True)``.
    """
    save_atomic(path, {"model": _pyro_state(model), "guide": _pyro_state(guide), "metadata": metadata})


def load_posterior(path, model, guide, map_location="cpu"):
    """
    Load a file written by :func:`save_posterior` into ``model`` and ``guide``, built as the saved ones were.

    :returns: ``(model, guide, metadata)``.
    :raises ValueError: when the file is not a whole such file or does not fit.
    """
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
        model.load_state_dict(payload["model"])
        guide.load_state_dict(payload["guide"])
    except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as error:
        raise ValueError(f"{str(path)!r} is not a whole posterior of this model: {str(error).splitlines()[0]}") \
            from None
    own_param_store_names(model)
    own_param_store_names(guide)
    return model, guide, payload["metadata"]


def load_hypernetwork(path, guide, map_location="cpu"):
    """
    Load a file written by :func:`save_hypernetwork` into ``guide``, an
    :class:`~pyrocomp.guides.AutoConditionalGuide` built for the same model, context and heads.

    :returns: ``(guide, metadata)``.
    """
    payload = torch.load(path, map_location=map_location, weights_only=True)
    guide.load_state_dict(payload["state_dict"])
    own_param_store_names(guide)  # the loaded values, not a previous fit's left in the store
    return guide, payload["metadata"]


def resize_to_state_dict_(net, state_dict):
    """
    Shrink, in place, the ``Linear``, ``Conv2d`` and ``BatchNorm`` layers of a dense network to
    the shapes of a pruned state dict, then load it.
    """
    with torch.no_grad():
        for name, module in net.named_modules():
            key = f"{name}.weight" if name else "weight"
            if key not in state_dict:
                continue
            shape = state_dict[key].shape
            if isinstance(module, nn.Linear):
                module.out_features, module.in_features = shape
            elif isinstance(module, nn.Conv2d):
                module.out_channels, module.in_channels = shape[0], shape[1] * module.groups
            elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.num_features = shape[0]
                for buf in ("running_mean", "running_var"):
                    setattr(module, buf, torch.empty(shape[0]))
            else:
                continue
            module.weight = nn.Parameter(torch.empty(shape))
            bias_key = f"{name}.bias" if name else "bias"
            if bias_key in state_dict:
                module.bias = nn.Parameter(torch.empty(state_dict[bias_key].shape))
    net.load_state_dict(state_dict)
    return net


def load_compressed(path, net, map_location="cpu"):
    """
    Load a file written by :func:`save_compressed` into ``net`` (a dense network of the same
    architecture, resized in place).

    :returns: ``(net, masks, metadata)``.
    :raises ValueError: when the file is not a whole such file or does not fit ``net``.
    """
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
        payload["state_dict"], payload["masks"], payload["metadata"]
    except (RuntimeError, EOFError, pickle.UnpicklingError, KeyError, TypeError) as error:
        raise ValueError(f"{str(path)!r} is not a whole compressed network file: {str(error).splitlines()[0]}") \
            from None
    _check_fits(net, payload["state_dict"], path)
    backup = copy.deepcopy(net.__dict__)
    try:
        apply_conv_geometry_(net, payload.get("convolutions", {}))
        resize_to_state_dict_(net, payload["state_dict"])
    except BaseException:
        net.__dict__.update(backup)  # the target is left as it was
        raise
    return net.eval(), payload["masks"], payload["metadata"]


def _check_fits(net, state_dict, path):
    # before touching the target: the same entries, each no larger than the dense network's
    dense = net.state_dict()
    if set(dense) != set(state_dict):
        missing, extra = sorted(set(dense) - set(state_dict)), sorted(set(state_dict) - set(dense))
        raise ValueError(f"{str(path)!r} does not hold a network of this architecture: missing {missing[:5]}, "
                         f"unexpected {extra[:5]}")
    for key, value in state_dict.items():
        shape = tuple(dense[key].shape)
        if value.dim() != len(shape) or any(n > m for n, m in zip(value.shape, shape)):
            raise ValueError(f"{str(path)!r} does not fit this network: {key!r} has shape {tuple(value.shape)}, "
                             f"expected at most {shape}")
