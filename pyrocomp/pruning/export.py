r"""
Physical removal of pruned units: a unit (neuron or channel) goes when no surviving weight reads it, or when
nothing feeds it — every weight of every layer producing it is pruned; the tensors shrink and the modules' sizes
are updated, so the exported network is really smaller and faster. A unit that nothing feeds carries a constant;
that constant is folded into the biases of the layers that read it before the unit goes. The fold is exact into
a linear layer and into an unpadded convolution; a zero-padded convolution's border sees the padding, not the
constant, so a constant unit it reads goes only when the constant is zero (a pruned filter after BatchNorm and a
ReLU often is), and stays otherwise. The exported network computes what the masked one does.

Which units are one unit is read off the network's graph by Torch-Pruning's dependency graph
(:class:`torch_pruning.DependencyGraph`): the output channels of every convolution and BatchNorm joined by a
residual addition, the slices of a concatenation, the features a flattened channel becomes. A group whose units
pass through a layer with parameters other than ``Linear``, ``Conv2d`` (ungrouped) and BatchNorm — a recurrent
layer, a layer norm — keeps all its units; so do a network's outputs.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from .kernels import shrink_kernels_

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
    kernel: Optional[Tuple[Tuple[int, int], Tuple[int, int]]] = None


def _units_in(module):
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _units_out(module):
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def _record(net, example_input):
    """Execution order, the mean input of each feature (over examples and positions) and the output shapes."""
    order, inputs, outputs = [], {}, {}
    names = {m: n for n, m in net.named_modules()}

    def hook(module, args, output):
        if module not in inputs:
            order.append(module)
            if not (args and torch.is_tensor(args[0]) and torch.is_tensor(output)):
                # tuples in or out (a recurrent layer): recorded in the order only
                inputs[module], outputs[module] = None, None
                return
            x = args[0].detach()
            inputs[module] = x.mean(0) if x.dim() == 2 else x.mean((0, 2, 3)) if x.dim() == 4 else None
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


def _in_alive(module):
    if isinstance(module, nn.Conv2d) and module.groups != 1:
        return torch.ones(module.in_channels, dtype=torch.bool, device=module.weight.device)
    return module.weight.transpose(0, 1).flatten(1).ne(0).any(1)


def _padded(module):
    return isinstance(module, nn.Conv2d) and (module.padding == "same" or any(p != 0 for p in module.padding))


def _macs(module, out_shape, in_units, out_units):
    if isinstance(module, nn.Linear):
        return in_units * out_units
    kh, kw = module.kernel_size
    return out_units * (in_units // module.groups) * kh * kw * out_shape[-1] * out_shape[-2]


def _dependency_graph(net, example_input):
    import torch_pruning

    training = net.training
    try:
        with torch.enable_grad():  # the graph is traced through autograd
            net.eval()
            return torch_pruning.DependencyGraph().build_dependency(net, example_inputs=example_input)
    finally:
        net.train(training)


class _Group:
    """One Torch-Pruning group seen as units: who produces them, who reads them, where each item's indices go."""

    def __init__(self, graph, group):
        self.graph, self.group = graph, group
        self.size = len(group[0].idxs)
        self.producers, self.consumers, self.prunable = [], [], group[0].root_idxs is not None
        device = group[0].dep.target.module.weight.device  # the root: a Linear or Conv2d
        for item in group:
            module, handler = item.dep.target.module, item.dep.handler
            if item.root_idxs is None or any(r is None for r in item.root_idxs):
                self.prunable = False
                continue
            index = torch.as_tensor(item.idxs, dtype=torch.long, device=device)
            root = torch.as_tensor(item.root_idxs, dtype=torch.long, device=device)
            if isinstance(module, PRUNABLE):
                if isinstance(module, nn.Conv2d) and module.groups != 1:
                    self.prunable = False
                elif graph.is_out_channel_pruning_fn(handler):
                    self.producers.append((module, index, root))
                else:
                    self.consumers.append((module, index, root))
            elif isinstance(module, nn.Module) and not isinstance(module, SLICEABLE) and \
                    any(True for _ in module.parameters(recurse=False)):
                self.prunable = False  # a layer whose units we cannot read
        self.prunable = self.prunable and bool(self.consumers)  # the network's outputs stay

    def _per_unit(self, members, per_feature, reduce):
        value = torch.full((self.size,), reduce == "amin", dtype=torch.bool, device=members[0][1].device)
        for module, index, root in members:
            value = value.scatter_reduce(0, root, per_feature(module)[index], reduce)
        return value

    def removable(self, mean_inputs):
        """
        Units nothing reads, and units nothing feeds whose constant folds exactly into every reader's bias (a
        zero-padded convolution takes only a zero constant exactly: its border sees the padding), as bool vectors
        over the group's units.
        """
        read = self._per_unit(self.consumers, _in_alive, "amax")
        fed = ~self._per_unit(self.producers, lambda m: m.weight.flatten(1).eq(0).all(1), "amin") \
            if self.producers else torch.ones_like(read)
        exact = self._per_unit(self.consumers, lambda m: mean_inputs[m].eq(0) | (not _padded(m)), "amin")
        return ~read, read & ~fed & exact

    def fold(self, constant, mean_inputs):
        """Add the constants the units ``constant`` carry into the biases of the layers that read them."""
        for module, index, root in self.consumers:
            features = index[constant[root]]
            if len(features) == 0:
                continue
            weight = module.weight.index_select(1, features).flatten(2).sum(-1) if module.weight.dim() > 2 \
                else module.weight.index_select(1, features)
            shift = weight @ mean_inputs[module][features]
            if module.bias is None:
                module.bias = nn.Parameter(torch.zeros_like(shift))
            module.bias += shift

    def silence(self, unit):
        """Zero every weight producing or reading ``unit``: the one inert unit left of a layer pruned whole."""
        changed = False
        for module, index, root in self.producers:
            changed |= bool(module.weight[index[root == unit]].ne(0).any())
            module.weight[index[root == unit]] = 0
        for module, index, root in self.consumers:
            changed |= bool(module.weight[:, index[root == unit]].ne(0).any())
            module.weight[:, index[root == unit]] = 0
        return changed

    def prune(self, units):
        root = self.group[0].dep
        self.graph.get_pruning_group(root.target.module, root.handler, units.tolist()).prune()


def _prune_once(net, graph, example_input, emptied):
    """Prune the first group with removable units; ``True`` if the network changed."""
    _, mean_inputs, _, _ = _record(net, example_input)
    for group in graph.get_all_groups(root_module_types=PRUNABLE):
        group = _Group(graph, group)
        if not group.prunable:
            continue
        unread, constant = group.removable(mean_inputs)
        remove = unread | constant
        if not bool(remove.any()):
            continue
        group.fold(constant, mean_inputs)
        silenced = False
        if bool(remove.all()):  # everything pruned: keep one inert unit, as layers cannot be empty
            remove[0] = False
            silenced = group.silence(0)
            emptied.update(m for m, _, _ in group.producers)
        if bool(remove.any()):
            group.prune(remove.nonzero().flatten())
        if bool(remove.any()) or silenced:
            return True
    return False


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
    Remove, in place, the units of ``net`` that pruning has disconnected, until none is left: removing a unit can
    leave the units that only it read, or that only fed it, disconnected in turn. Works on any graph Torch-Pruning
    traces: chains, residual additions (a ResNet's channels joined across its blocks go together),
    concatenations, BatchNorm, pooling and flattening. Then every convolution's kernel is cropped to the window
    its kept weights occupy (:func:`~pyrocomp.pruning.shrink_kernels_`, paper 001 Fig. 8).

    :param torch.nn.Module net: a plain network whose pruned weights are zero.
    :param torch.Tensor example_input: a batch of inputs (sets spatial sizes and the constants
        folded into biases).
    :returns: one :class:`LayerStructure` per ``Linear`` / ``Conv2d`` layer, in execution order;
        a layer's kept inputs are the input features some kept weight reads; a convolution's ``kernel`` is its
        kernel size before and after cropping.
    """
    order, _, outputs, names = _record(net, example_input)
    dense = {names[m]: dict(in_units=_units_in(m), out_units=_units_out(m), weights=m.weight.numel(),
                            macs=_macs(m, outputs[m], _units_in(m), _units_out(m)))
             for m in order if isinstance(m, PRUNABLE)}
    frozen = {name for name, p in net.named_parameters() if not p.requires_grad}
    try:
        net.requires_grad_(True)  # the graph is traced through the parameters' gradients
        graph, emptied = _dependency_graph(net, example_input), set()
        while _prune_once(net, graph, example_input, emptied):
            pass
    finally:  # pruned parameters are new tensors: matched by name
        for name, p in net.named_parameters():
            p.requires_grad_(name not in frozen)
    emptied = {names[m] for m in emptied}
    kernels = shrink_kernels_(net)
    _, _, outputs, _ = _record(net, example_input)
    result = []
    for name, i in dense.items():
        m = net.get_submodule(name)
        in_kept = int(_in_alive(m).sum())
        out_kept = 0 if name in emptied else _units_out(m)
        result.append(
            LayerStructure(
                name=name, kind=type(m).__name__, in_units=i["in_units"], out_units=i["out_units"],
                in_kept=in_kept, out_kept=out_kept, weights=i["weights"],
                weights_kept=int(m.weight.ne(0).sum()), macs=i["macs"],
                macs_kept=_macs(m, outputs[m], in_kept, out_kept),
                width=(i["out_units"], out_kept) if isinstance(m, nn.Conv2d) else (i["in_units"], in_kept),
                kernel=kernels.get(name),
            )
        )
    return result
