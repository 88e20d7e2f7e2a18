import pytest
import torch
from pyro import poutine
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior


def _model_trace(bnn, *args):
    guide_trace = poutine.trace(AutoCompressionGuide(bnn)).get_trace()
    return poutine.trace(poutine.replay(bnn, trace=guide_trace)).get_trace(*args)


def _net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)
    )


def test_site_names_are_module_paths_and_plain_net_is_untouched():
    net = _net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    bnn = BayesianNetwork(net, GroupNormalJeffreys())
    trace = _model_trace(bnn, torch.randn(2, 1, 8, 8), torch.tensor([1, 2]))
    latent = [n for n, s in trace.nodes.items() if s["type"] == "sample" and not s["is_observed"] and n != "data"]
    assert latent == ["0.scale", "0.weight", "4.scale", "4.weight"]
    assert type(net[0]) is nn.Conv2d and all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    params = [n for n, s in trace.nodes.items() if s["type"] == "param"]
    assert "net.0.bias" in params and "net.1.weight" in params


def test_inplace_conversion_mutates():
    net = _net()
    BayesianNetwork(net, LogUniformPrior(), inplace=True)
    assert type(net[0]).__name__ == "BayesianConv2d"


def test_mapping_prior_selects_layers():
    bnn = BayesianNetwork(_net(), {"4": LogUniformPrior()})
    assert [path for path, _ in bnn.bayesian_layers()] == ["4"]


def test_dataset_size_scales_the_likelihood():
    bnn = BayesianNetwork(_net(), LogUniformPrior(), dataset_size=1000)
    trace = _model_trace(bnn, torch.randn(10, 1, 8, 8), torch.zeros(10, dtype=torch.long))
    assert trace.nodes["obs"]["scale"] == pytest.approx(100.0)


def test_to_plain_roundtrip():
    net = _net().eval()
    bnn = BayesianNetwork(net, LogUniformPrior())
    plain = bnn.to_plain({p: layer.weight_init for p, layer in bnn.bayesian_layers()}).eval()
    x = torch.randn(3, 1, 8, 8)
    assert torch.allclose(plain(x), net(x))


@pytest.mark.parametrize("args,error,match", [
    (("not a net", LogUniformPrior()), TypeError, "torch.nn.Module"),
    ((nn.Sequential(nn.Linear(2, 2)), "vd"), TypeError, "callable prior"),
    ((nn.Sequential(nn.ReLU()), LogUniformPrior()), ValueError, "No layer"),
])
def test_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        BayesianNetwork(*args)


def test_bad_dataset_size():
    with pytest.raises(ValueError, match="dataset_size"):
        BayesianNetwork(nn.Linear(2, 2), LogUniformPrior(), dataset_size=0)


def test_shared_weights_are_refused():
    import pytest
    from torch import nn

    from pyrocomp import BayesianNetwork
    from pyrocomp.priors import LogUniformPrior

    layer = nn.Linear(4, 4)
    with pytest.raises(ValueError, match=r"Layers \['0', '2'\] share one weight"):
        BayesianNetwork(nn.Sequential(layer, nn.ReLU(), layer), LogUniformPrior())
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    b.weight = a.weight
    with pytest.raises(ValueError, match=r"Layers \['0', '1'\] share one weight"):
        BayesianNetwork(nn.Sequential(a, b), LogUniformPrior())
