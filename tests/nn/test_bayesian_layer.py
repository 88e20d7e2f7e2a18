import pyro
import pytest
import torch
from pyro import poutine
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.priors import LogUniformPrior


def _lrt_outputs(net, x, repeats):
    bnn = BayesianNetwork(net, LogUniformPrior())
    guide = AutoCompressionGuide(bnn)
    with torch.no_grad():
        for post in guide.posteriors.values():
            post.log_scale.uniform_(-3, -1)
        guide_trace = poutine.trace(guide).get_trace()
        xs = x.expand(repeats, *x.shape[1:])
        out = poutine.replay(bnn.net, trace=guide_trace)(xs)
    site = guide_trace.nodes["0.weight"]["fn"].base_dist
    return out, site.loc, site.scale, bnn.net[0]


def test_linear_local_reparameterisation_moments():
    x = torch.randn(1, 5)
    out, loc, scale, layer = _lrt_outputs(nn.Sequential(nn.Linear(5, 3)), x, 200_000)
    mean = x @ loc.T + layer.bias
    var = x.pow(2) @ scale.pow(2).T
    assert torch.allclose(out.mean(0), mean[0], atol=4 * (var[0] / 200_000).sqrt().max().item())
    assert torch.allclose(out.var(0), var[0], rtol=0.02)


def test_conv_local_reparameterisation_moments():
    x = torch.randn(1, 2, 5, 5)
    out, loc, scale, layer = _lrt_outputs(nn.Sequential(nn.Conv2d(2, 3, 3, padding=1)), x, 50_000)
    mean = torch.nn.functional.conv2d(x, loc, layer.bias, padding=1)[0]
    var = torch.nn.functional.conv2d(x.pow(2), scale.pow(2), padding=1)[0]
    assert torch.allclose(out.mean(0), mean, atol=5 * (var / 50_000).sqrt().max().item())
    assert torch.allclose(out.var(0), var, rtol=0.05)


def test_without_guide_the_sampled_weight_is_used():
    net = nn.Sequential(nn.Linear(4, 2))
    bnn = BayesianNetwork(net, {"0": _FixedGaussian()})
    x = torch.randn(3, 4)
    trace = poutine.trace(bnn.net).get_trace(x)
    w = trace.nodes["0.weight"]["value"]
    assert torch.allclose(trace.nodes["_RETURN"]["value"], x @ w.T + bnn.net[0].bias)


class _FixedGaussian(LogUniformPrior):
    def __call__(self, name, layer):
        import pyro.distributions as dist

        shape = layer.weight_shape
        return pyro.sample(f"{name}.weight", dist.Normal(layer.full(shape, 0.0), layer.full(shape, 1.0)).to_event(2))


def test_prior_returning_wrong_shape_is_a_value_error():
    class Bad(LogUniformPrior):
        def __call__(self, name, layer):
            return torch.zeros(2)

    bnn = BayesianNetwork(nn.Sequential(nn.Linear(4, 2)), Bad())
    with pytest.raises(ValueError, match="shape \\(2, 4\\)"):
        bnn(torch.randn(1, 4))


def test_conv_padding_mode_must_be_zeros():
    with pytest.raises(ValueError, match="padding_mode"):
        BayesianNetwork(nn.Sequential(nn.Conv2d(1, 1, 3, padding_mode="reflect")), LogUniformPrior())


@pytest.mark.parametrize("kind,group,expected", [
    ("linear", "in", (1, 5)), ("linear", "out", (3, 1)), ("linear", "auto", (1, 5)),
    ("conv", "in", (1, 2, 1, 1)), ("conv", "out", (3, 1, 1, 1)), ("conv", "auto", (3, 1, 1, 1)),
])
def test_group_shapes(kind, group, expected):
    net = nn.Sequential(nn.Linear(5, 3) if kind == "linear" else nn.Conv2d(2, 3, 3))
    layer = BayesianNetwork(net, LogUniformPrior()).net[0]
    assert layer.group_shape(group) == expected
    with pytest.raises(ValueError, match="group"):
        layer.group_shape("rows")


@pytest.mark.parametrize("group, linear, conv", [
    (None, (3, 5), (4, 2, 3, 3)), ("auto", (1, 5), (4, 1, 1, 1)), ("in", (1, 5), (1, 2, 1, 1)),
    ("out", (3, 1), (4, 1, 1, 1)), ("layer", (1, 1), (1, 1, 1, 1)),
], ids=str)
def test_one_group_vocabulary(group, linear, conv):
    from pyrocomp.priors import LogUniformPrior

    bnn = BayesianNetwork(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(5, 3)), LogUniformPrior())
    layers = dict(bnn.bayesian_layers())
    assert layers["0"].group_shape(group) == conv and layers["2"].group_shape(group) == linear
    with pytest.raises(ValueError, match=r"Expected group in \(None, 'auto', 'in', 'out', 'layer'\) but got 'rows'"):
        layers["2"].group_shape("rows")
