"""Sparse execution: CSR and BSR layers compute what the dense ones do; the per-layer choice follows the timings."""
import pytest
import torch
from torch import nn

from pyrocomp.pruning import SparseLinear, choose_execution_


def _sparse_linear(out, inp, density, block=1, seed=0):
    torch.manual_seed(seed)
    layer = nn.Linear(inp, out).double()
    mask = (torch.rand(out // block, inp // block) < density).repeat_interleave(block, 0).repeat_interleave(block, 1)
    with torch.no_grad():
        layer.weight *= mask
    return layer


@pytest.mark.parametrize("layout", ["csr", (2, 2), (4, 4)])
@pytest.mark.parametrize("shape", [(64, 20), (8, 3, 20)])
def test_sparse_layers_compute_the_dense_layer(layout, shape):
    layer = _sparse_linear(12, 20, 0.2, block=4)
    x = torch.randn(*shape, dtype=torch.float64)
    sparse = SparseLinear.from_linear(layer, layout)
    assert torch.allclose(sparse(x), layer(x), rtol=1e-12, atol=1e-12)
    assert sparse(x).shape == (*shape[:-1], 12)


def test_the_fastest_layout_is_chosen_per_layer_and_the_network_is_unchanged():
    net = nn.Sequential(_sparse_linear(40, 24, 0.05, seed=1), nn.ReLU(), _sparse_linear(8, 40, 0.9, seed=2)).eval()
    x = torch.randn(16, 24, dtype=torch.float64)
    expected = net(x)
    # a timer that favours the sparse layouts in proportion to the kept fraction, as a CPU does
    def timer(module, _):
        kept = float(module.weight.ne(0).float().mean()) if isinstance(module, nn.Linear) else \
            module.weight.values().ne(0).float().sum().item() / (module.in_features * module.out_features)
        return 1.0 if isinstance(module, nn.Linear) else 3 * kept + (0.01 if module.weight.layout ==
                                                                       torch.sparse_bsr else 0.0)

    rows = choose_execution_(net, x, blocks=(2, 4, 8), timer=timer)
    assert [r["layout"] for r in rows] == ["csr", "dense"]
    assert set(rows[0]["seconds"]) == {"dense", "csr", "(2, 2)", "(4, 4)", "(8, 8)"}
    assert set(rows[1]["seconds"]) == {"dense", "csr", "(2, 2)", "(4, 4)", "(8, 8)"}
    assert isinstance(net[0], SparseLinear) and isinstance(net[2], nn.Linear)
    assert torch.allclose(net(x), expected, rtol=1e-12, atol=1e-12)


def test_a_dense_weight_is_refused():
    with pytest.raises(ValueError, match="sparse CSR or BSR"):
        SparseLinear(torch.ones(2, 2))
