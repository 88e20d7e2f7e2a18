r"""
Physical removal of pruned units: a unit (neuron or channel) between two layers goes when
it has no surviving incoming weight or no surviving outgoing weight; the tensors shrink with
``index_select`` and the modules' sizes are updated, so the exported network is really smaller
and faster. A unit whose incoming weights are all pruned outputs a constant; that constant is
folded into the next layer's bias before the unit goes. The fold is exact into a linear layer
and into an unpadded convolution; into a zero-padded convolution it is exact away from the
padded border (the error reported for the exported network includes that difference).

The layer dependency is read from the execution order of a forward pass: consecutive
``Linear`` / ``Conv2d`` layers separated only by parameter-free modules (activations, pooling,
dropout, flatten) and BatchNorm are linked; a pair linked otherwise keeps all its units.
"""
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

PRUNABLE = (nn.Linear, nn.Conv2d)
SLICEABLE = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass
class LayerStructure:
    """Sizes of one layer before and after pruning (``macs``: multiply-accumulates per example)."""

    name: str
    kind: str
    in_units: int
    out_units: int
    in_kept: int
    out_kept: int
    weights: int
    weights_kept: int
    macs: int
    macs_kept: int
    width: Tuple[int, int]


def _units_in(module):
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _units_out(module):
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _record(net, example_input):
    order, inputs, outputs = [], {}, {}
    names = {m: n for n, m in net.named_modules()}

    def hook(module, args, output):
        if module not in inputs:
            order.append(module)
            if not (args and torch.is_tensor(args[0]) and torch.is_tensor(output)):
                # tuples in or out (a recurrent layer): recorded in the order only, a module no unit is removed across
                inputs[module], outputs[module] = (None, None), None
                return
            x = args[0].detach()
            inputs[module] = (x.shape, x.mean(0) if x.dim() == 2 else x.mean((0, 2, 3)) if x.dim() == 4 else None)
            outputs[module] = output.shape

    leaves = [m for m in net.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    training = net.training
    try:
        with torch.no_grad():
            net.eval()  # the exported network's behaviour, and no batch-norm statistics updated
            net(example_input)
    finally:
        net.train(training)
        for h in handles:
            h.remove()
    return order, inputs, outputs, names


def _slice(module, index, dim_kind):
    """Keep ``index`` of the module's inputs (``"in"``) or outputs (``"out"``)."""
    with torch.no_grad():
        if isinstance(module, SLICEABLE):
            for key in ("weight", "bias"):
                if getattr(module, key) is not None:
                    setattr(module, key, nn.Parameter(getattr(module, key)[index].clone()))
            for key in ("running_mean", "running_var"):
                if getattr(module, key) is not None:
                    setattr(module, key, getattr(module, key)[index].clone())
            module.num_features = len(index)
            return
        dim = 1 if dim_kind == "in" else 0
        module.weight = nn.Parameter(module.weight.index_select(dim, index).clone())
        if dim_kind == "out" and module.bias is not None:
            module.bias = nn.Parameter(module.bias[index].clone())
        if isinstance(module, nn.Linear):
            setattr(module, "in_features" if dim_kind == "in" else "out_features", len(index))
        else:
            setattr(module, "in_channels" if dim_kind == "in" else "out_channels", len(index))


def _in_alive(module):
    if isinstance(module, nn.Conv2d) and module.groups != 1:
        return torch.ones(module.in_channels, dtype=torch.bool, device=module.weight.device)
    return module.weight.transpose(0, 1).flatten(1).ne(0).any(1)


def _macs(module, out_shape, in_units, out_units):
    if isinstance(module, nn.Linear):
        return in_units * out_units
    kh, kw = module.kernel_size
    return out_units * (in_units // module.groups) * kh * kw * out_shape[-1] * out_shape[-2]


def _links(order, layers):
    """Consecutive prunable layers whose units can go: ``(prev, layer, modules between)``."""
    out = []
    for prev, layer in zip(layers, layers[1:]):
        between = order[order.index(prev) + 1 : order.index(layer)]
        if any(not isinstance(b, SLICEABLE) and any(True for _ in b.parameters(recurse=False)) for b in between):
            continue
        if isinstance(layer, nn.Conv2d) and layer.groups != 1 or isinstance(prev, nn.Conv2d) and prev.groups != 1:
            continue
        if _units_in(layer) % _units_out(prev):
            continue
        out.append((prev, layer, between))
    return out


def _remove_dead_units(prev, layer, between, mean_input, emptied):
    """Remove the units between ``prev`` and ``layer`` that nothing feeds or nothing reads; ``True`` if any went."""
    n_out = _units_out(prev)
    per_unit = _units_in(layer) // n_out  # features per channel after a flatten
    used = _in_alive(layer).reshape(n_out, per_unit).any(1)
    fed = prev.weight.flatten(1).ne(0).any(1)
    # constants from units with no incoming weights go into the next bias
    constant = used & ~fed
    if bool(constant.any()):
        value = mean_input.reshape(n_out, per_unit)
        weight = layer.weight.reshape(layer.weight.shape[0], n_out, per_unit, -1).sum(-1)
        shift = (weight * (value * constant[:, None])).sum((1, 2))
        if layer.bias is None:
            layer.bias = nn.Parameter(torch.zeros_like(shift))
        layer.bias += shift
    keep = (used & fed).nonzero().flatten()
    if len(keep) == 0:  # everything pruned: keep one inert unit, as layers cannot be empty
        emptied.add(prev)
        keep = torch.zeros(1, dtype=torch.long, device=keep.device)
        layer.weight.zero_()
    changed = len(keep) < n_out
    if changed:
        feature_keep = (keep[:, None] * per_unit + torch.arange(per_unit, device=keep.device)).flatten()
        _slice(prev, keep, "out")
        for b in between:
            if isinstance(b, SLICEABLE):
                _slice(b, keep, "out")
        _slice(layer, feature_keep, "in")
    if prev in emptied and bool(prev.weight.ne(0).any()):  # the inert unit: nothing reads it
        prev.weight.zero_()
        changed = True
    return changed


@torch.no_grad()
def select_outputs_(net, units):
    """
    Keep, in place, only the output units ``units`` (in that order) of ``net``'s last ``Linear`` or ``Conv2d``
    layer, so that the network predicts those classes alone.

    :returns: the path of that layer.
    """
    path, layer = [(name, m) for name, m in net.named_modules() if isinstance(m, PRUNABLE)][-1]
    units = list(units)
    count = layer.weight.shape[0]
    if not units or len(set(units)) != len(units) or not all(isinstance(u, int) and 0 <= u < count for u in units):
        raise ValueError(f"Expected distinct output units in 0..{count - 1} but got {units!r}")
    index = torch.tensor(units, device=layer.weight.device)
    layer.weight = nn.Parameter(layer.weight.index_select(0, index))
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.index_select(0, index))
    if isinstance(layer, nn.Linear):
        layer.out_features = len(units)
    else:
        layer.out_channels = len(units)
    return path


@torch.no_grad()
def prune_(net, example_input):
    """
    Remove, in place, the units of ``net`` that pruning has disconnected, until none is left:
    removing a unit can leave the units that only it read, or that only fed it, disconnected
    in turn.

    :param torch.nn.Module net: a plain network whose pruned weights are zero.
    :param torch.Tensor example_input: a batch of inputs (sets spatial sizes and the constants
        folded into biases).
    :returns: one :class:`LayerStructure` per ``Linear`` / ``Conv2d`` layer, in execution order;
        a layer's kept inputs are the input features some kept weight reads.
    """
    order, inputs, outputs, names = _record(net, example_input)
    layers = [m for m in order if isinstance(m, PRUNABLE)]
    dense = {m: dict(in_units=_units_in(m), out_units=_units_out(m), weights=m.weight.numel(),
                     macs=_macs(m, outputs[m], _units_in(m), _units_out(m))) for m in layers}
    links, emptied = _links(order, layers), set()
    changed = True
    while changed:
        changed = False
        for prev, layer, between in links:
            if _remove_dead_units(prev, layer, between, inputs[layer][1], emptied):
                changed = True
                _, inputs, _, _ = _record(net, example_input)  # the constants of the next links
    result = []
    for m in layers:
        i = dense[m]
        in_kept = int(_in_alive(m).sum())
        out_kept = 0 if m in emptied else _units_out(m)
        result.append(
            LayerStructure(
                name=names[m], kind=type(m).__name__, in_units=i["in_units"], out_units=i["out_units"],
                in_kept=in_kept, out_kept=out_kept, weights=i["weights"],
                weights_kept=int(m.weight.ne(0).sum()), macs=i["macs"],
                macs_kept=_macs(m, outputs[m], in_kept, out_kept),
                width=(i["out_units"], out_kept) if isinstance(m, nn.Conv2d) else (i["in_units"], in_kept),
            )
        )
    return result
