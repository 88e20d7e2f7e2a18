"""Per-context compression helpers: 003's mask rule, the batched posterior summary, output selection."""
import math

import pyro
import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.priors import GroupNormalJeffreys, InputOutputNormalJeffreys
from pyrocomp.pruning import LayerPosterior, ScaleSitesLogAlphaThreshold, context_error, select_outputs_, summarize


def test_scale_sites_rule_is_the_outer_product_of_003s_input_and_output_masks():
    mean, var = torch.ones(3, 4), torch.ones(3, 4)
    z = (torch.tensor([[1.0, 1.0, 0.1, 1.0]]), torch.tensor([[0.1, 1.0, 0.1, 0.5]]))  # log alpha in: -2.3, 0, 2.3, -0.7
    s = (torch.tensor([[2.0], [0.1], [1.0]]), torch.tensor([[0.5], [1.0], [0.2]]))  # log alpha out: -2.1, 4.6, -1.6
    post = LayerPosterior("0", mean, var, log_alpha=torch.zeros(3, 4),
                          sites={"0.scale_in": z, "0.scale_out": s, "0.weight": (mean, var)})
    keep = ScaleSitesLogAlphaThreshold(-1.0).keep(post)
    m_z = torch.tensor([True, False, False, False])
    m_s = torch.tensor([True, False, True])
    assert torch.equal(keep, m_s[:, None] & m_z[None, :])


@pytest.mark.parametrize("prior", [InputOutputNormalJeffreys, GroupNormalJeffreys])
def test_batched_draws_summarise_the_posterior_as_sequential_draws_do(prior):
    pyro.clear_param_store()
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)), prior())
    guide = AutoCompressionGuide(model, init_scale=0.3)
    with torch.no_grad():
        for module in guide.posteriors.values():
            for value in module.params().values():
                value.add_(0.2 * torch.randn_like(value))
    n = 4000
    sequential = summarize(model, guide, num_samples=n)
    batched = summarize(model, guide, num_samples=n, vectorize_particles=True)
    for path, a in sequential.items():
        b = batched[path]
        assert torch.equal(a.weight_mean, b.weight_mean)  # at the upstream means: no draws
        for site, (mean, var) in a.sites.items():
            if not site.endswith(".weight"):  # scales have no upstream sites: exact either way
                # (up to the float32 rounding of two orders of summing 4000 equal terms)
                assert torch.allclose(mean, b.sites[site][0], rtol=1e-3) and torch.allclose(var, b.sites[site][1], rtol=5e-3)
        # the weights' marginal variances: Monte Carlo over the scales, within a few standard errors
        rel = (a.weight_variance - b.weight_variance).abs() / a.weight_variance
        assert rel.median() < 10 / math.sqrt(n)
        assert torch.allclose(a.scale_log_alpha, b.scale_log_alpha, atol=0.1)


def test_select_outputs_keeps_the_named_classes_in_order():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 4))
    x = torch.randn(10, 5)
    full = net(x).detach()
    assert select_outputs_(net, [3, 1]) == "2"
    assert torch.allclose(net(x).detach(), full[:, [3, 1]], atol=1e-6)
    with pytest.raises(ValueError, match="distinct output units in 0..1"):
        select_outputs_(net, [0, 2])


def test_context_error_predicts_among_the_contexts_classes():
    net = nn.Linear(3, 4, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(4, 3))
    x = torch.tensor([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]])  # logits (1, 2, 0, 0) and (3, 0, 1, 0)
    y = torch.tensor([0, 2])
    assert context_error(net, (x, y)) == 1.0  # plain argmax: 1 and 0
    assert context_error(net, (x, y), [0, 2]) == 0.5  # among classes 0 and 2: 0 and 0
    assert context_error(net, (x, torch.tensor([1, 2])), [1, 2]) == 0.0  # among 1 and 2: 1 and 2
    two = nn.Linear(3, 2, bias=False)  # a network with the context's outputs alone, in order (1, 2)
    with torch.no_grad():
        two.weight.copy_(torch.eye(4, 3)[[1, 2]])
    assert context_error(two, (x, torch.tensor([1, 2])), [1, 2]) == 0.0


def test_load_compressed_refuses_another_architecture_and_leaves_the_target_as_it_was(tmp_path):
    from pyrocomp.models import build_model
    from pyrocomp.pruning import load_compressed, save_compressed

    small = build_model("lenet300", (1, 8, 8), 10)
    save_compressed(tmp_path / "small.pt", small, {}, model="lenet300")
    target = build_model("lenet5-caffe", (1, 28, 28), 10)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match="does not hold a network of this architecture"):
        load_compressed(tmp_path / "small.pt", target)
    after = target.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
    save_compressed(tmp_path / "wide.pt", build_model("lenet300", (1, 28, 28), 10), {}, model="lenet300")
    target = build_model("lenet300", (1, 8, 8), 10)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(ValueError, match=r"'1.weight' has shape \(300, 784\), expected at most \(300, 64\)"):
        load_compressed(tmp_path / "wide.pt", target)
    after = target.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)
