"""
Sparse execution of the linear layers a pruning leaves sparse inside (paper 001 §V-B keeps MRF clusters as blocks):
after physical pruning a layer whose kept weights are scattered or clustered, not whole units, still multiplies
every zero. :class:`SparseLinear` multiplies a compressed sparse row (CSR) or block sparse row (BSR) weight instead;
:func:`choose_execution_` times each layout on the layer's own inputs and keeps, per layer, the fastest — dense
when that is fastest.

When it wins (one CPU thread, a 500×800 layer, ``benchmarks/results/speed-layers.md``): at batch 64, CSR beats
dense up to about 20 % kept weights (6.5× faster at 1 %, 3.1× at 5 %) and BSR with 4×4 blocks beats CSR when the
kept weights come in such blocks (Turbo-VBI's clusters) between 5 and 20 %; at batch 1 a sparse layout wins only
up to 2–5 % kept; above 30 % dense wins at every batch size. Convolutions stay dense: PyTorch has no sparse
convolution on the CPU. Sparse layers run in PyTorch eager mode; TorchScript and ONNX export take the dense
network.
"""
import warnings

import torch
from torch import nn
from torch.utils import benchmark


class SparseLinear(nn.Module):
    """A ``Linear`` layer whose weight is a sparse CSR or BSR tensor (``weight @ x``, then the bias)."""

    def __init__(self, weight, bias=None):
        super().__init__()
        if weight.layout not in (torch.sparse_csr, torch.sparse_bsr):
            raise ValueError(f"Expected a sparse CSR or BSR weight but got layout {weight.layout}")
        self.weight = weight
        self.bias = bias
        self.out_features, self.in_features = weight.shape

    @classmethod
    def from_linear(cls, linear, layout):
        """The layer ``linear`` with its weight in ``layout``: ``"csr"`` or ``(rows, columns)`` blocks for BSR."""
        weight = linear.weight.detach()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR tensor support is in beta state"
            weight = weight.to_sparse_csr() if layout == "csr" else weight.to_sparse_bsr(tuple(layout))
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(weight, bias)

    def forward(self, x):
        flat = x.reshape(-1, self.in_features)
        out = torch.sparse.mm(self.weight, flat.t().contiguous()).t()
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, layout={self.weight.layout}, " \
               f"nnz={self.weight.values().numel()}"


def _layouts(weight, blocks):
    layouts = ["dense", "csr"]
    layouts += [(b, b) for b in blocks if weight.shape[0] % b == 0 and weight.shape[1] % b == 0]
    return layouts


def measure(fn, x, min_run_time=0.05):
    """Median seconds of ``fn(x)`` over repeated blocks (``torch.utils.benchmark``, after a warm-up)."""
    with torch.no_grad():
        fn(x)
        return benchmark.Timer("fn(x)", globals={"fn": fn, "x": x}).blocked_autorange(min_run_time=min_run_time).median


@torch.no_grad()
def choose_execution_(net, example_input, blocks=(2, 4, 8), timer=measure):
    """
    Replace, in place, each ``Linear`` layer of ``net`` by a :class:`SparseLinear` when a sparse layout runs it
    faster on its own inputs from ``example_input`` (whose batch size the choice is for).

    :param tuple blocks: square BSR block sizes to try (those dividing the layer's shape).
    :param timer: ``timer(fn, x) -> seconds``; the default measures with ``torch.utils.benchmark``.
    :returns: one dict per ``Linear`` layer: its path, kept fraction, seconds per layout and the layout chosen.
    """
    inputs, handles = {}, []

    def keep_input(path):
        def hook(module, args, output):  # returns None: the output is left alone
            inputs.setdefault(path, args[0].detach())
        return hook

    for path, module in net.named_modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(keep_input(path)))
    try:
        net.eval()(example_input)
    finally:
        for h in handles:
            h.remove()
    rows = []
    for path, x in inputs.items():
        linear = net.get_submodule(path)
        candidates = {layout: linear if layout == "dense" else SparseLinear.from_linear(linear, layout)
                      for layout in _layouts(linear.weight, blocks)}
        seconds = {str(layout): timer(module, x) for layout, module in candidates.items()}
        best = min(candidates, key=lambda layout: seconds[str(layout)])
        if best != "dense":
            parent, _, name = path.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, name, candidates[best])
        rows.append({"layer": path, "kept_fraction": float(linear.weight.ne(0).float().mean()), "seconds": seconds,
                     "layout": str(best)})
    return rows
