"""Plain training: its penalty and parameter groups against a by-hand Adam, and its refusals."""
import copy

import pytest
import torch
from torch import nn

from pyrocomp.infer import train


def _data():
    torch.manual_seed(0)
    return torch.randn(32, 4), torch.randint(0, 3, (32,))


def test_train_adds_the_penalty_and_uses_the_groups_like_a_by_hand_adam():
    x, y = _data()
    torch.manual_seed(1)
    net = nn.Linear(4, 3)
    reference = copy.deepcopy(net)
    history = train(net, (x, y), epochs=1, batch_size=32, lr=0.1, progress=False,
                    penalty=lambda: 0.5 * net.weight.pow(2).sum(),
                    param_groups=[{"params": [net.weight]}, {"params": [net.bias], "lr": 0.0}])
    # the same step by hand: one full batch, the bias frozen by its zero learning rate
    optimizer = torch.optim.Adam([{"params": [reference.weight]}, {"params": [reference.bias], "lr": 0.0}], lr=0.1)
    loss = nn.functional.cross_entropy(reference(x), y) + 0.5 * reference.weight.pow(2).sum()
    loss.backward()
    optimizer.step()
    assert torch.allclose(net.weight, reference.weight) and torch.equal(net.bias, reference.bias)
    assert history[0]["loss"] == pytest.approx(loss.item())


def test_train_names_the_epoch_whose_loss_is_not_finite_and_refuses_a_penalty_that_is_not_callable():
    x, y = _data()
    net = nn.Linear(4, 3)
    with pytest.raises(FloatingPointError, match=r"loss became nan in epoch 0.*\[0.1, 0.0\]"):
        train(net, (x, y), epochs=2, batch_size=16, lr=0.1, progress=False, penalty=lambda: torch.tensor(float("nan")),
              param_groups=[{"params": [net.weight]}, {"params": [net.bias], "lr": 0.0}])
    with pytest.raises(TypeError, match="penalty to be a callable"):
        train(net, (x, y), epochs=1, progress=False, penalty=0.5)
