import math

import pytest
import torch
from torch import nn

from pyrocomp.infer import train
from pyrocomp.pruning import reinitialize_


def _pruned_net():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 400),
                        nn.ReLU(), nn.Linear(400, 3))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                m.weight.mul_(torch.rand_like(m.weight) < 0.3).mul_(7.0)  # pruned, and far from the init range
        net[1].running_mean.fill_(5.0)
    return net


def test_keeps_the_mask_and_redraws_the_kept_weights_from_the_layer_init():
    net = _pruned_net()
    before = {name: w.clone() for name, w in net.state_dict().items() if name.endswith("weight")}
    reinitialize_(net, seed=1)
    for name, w in net.state_dict().items():
        if name in before and w.dim() > 1:
            assert torch.equal(w.ne(0), before[name].ne(0)), name
            assert not torch.equal(w, before[name]), name
    # nn.Linear's init is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): bounded, variance 1 / (3 fan_in)
    kept = net[4].weight[net[4].weight.ne(0)]
    bound = 1 / math.sqrt(net[4].in_features)
    assert kept.abs().max() <= bound
    assert kept.var().item() == pytest.approx(bound**2 / 3, rel=0.05)
    assert torch.equal(net[1].running_mean, torch.zeros(4))


def test_a_seed_makes_it_repeatable_and_leaves_the_global_generator_alone():
    net = _pruned_net()
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    a = reinitialize_(net, seed=3)
    assert torch.equal(torch.rand(3), expected)
    b = reinitialize_(_pruned_net(), seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_training_from_the_redraw_keeps_pruned_weights_at_zero():
    net = reinitialize_(_pruned_net(), seed=0)
    mask = net[4].weight.ne(0)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 3, (32,))
    train(net, torch.utils.data.TensorDataset(x, y), epochs=2, batch_size=16, progress=False, keep_zeros=True)
    assert torch.equal(net[4].weight.ne(0), mask)


def test_refuses_what_is_not_a_module():
    with pytest.raises(TypeError, match="Expected a torch.nn.Module but got dict"):
        reinitialize_({})
