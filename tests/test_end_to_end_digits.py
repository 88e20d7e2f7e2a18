"""End to end on real data: scikit-learn's handwritten digits."""
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.infer import classification_error, fit
from pyrocomp.priors import LogUniformPrior
from pyrocomp.pruning import compress


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    x, y = torch.tensor(x / 16.0, dtype=torch.float32), torch.tensor(y)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 100), nn.ReLU(), nn.Linear(100, 10))
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(x_train), y_train).backward()
        optimizer.step()
    return net, x_train, x_test, y_train, y_test


def test_sparse_vd_prunes_half_the_mlp_at_small_accuracy_cost(digits):
    net, x_train, x_test, y_train, y_test = digits
    dense_error = classification_error(net, (x_test, y_test))
    model = BayesianNetwork(net, LogUniformPrior())
    guide = AutoCompressionGuide(model)
    fit(model, guide, (x_train, y_train), epochs=40, lr=1e-2, batch_size=128, progress=False)
    result = compress(model, guide, x_train[:256])
    error = classification_error(result.network, (x_test, y_test))
    assert result.report.wr_percent <= 50.0
    assert error - dense_error <= 0.02
    # the exported network is physically smaller than the dense one
    assert sum(p.numel() for p in result.network.parameters()) < sum(p.numel() for p in net.parameters())
