import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.guides import LogNormalPosterior, MeanFieldNormal, NonCenteredNormal, posterior_family
from pyrocomp.priors import GroupHorseshoe, InputOutputNormalJeffreys, LogUniformPrior, get_prior, PRIORS


def _net():
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


@pytest.mark.parametrize("prior", sorted(PRIORS))
def test_posterior_mean_starts_at_pretrained_weights(prior):
    net = _net()
    guide = AutoCompressionGuide(BayesianNetwork(net, get_prior(prior)), init_scale=1e-6)
    means = guide.mean()
    assert torch.allclose(means["0.weight"], net[0].weight, rtol=1e-4, atol=1e-6)
    assert torch.allclose(means["2.weight"], net[2].weight, rtol=1e-4, atol=1e-6)


def test_families_come_from_the_registry():
    guide = AutoCompressionGuide(BayesianNetwork(_net(), GroupHorseshoe()))
    kinds = {name: type(m) for name, m in guide.posteriors.items()}
    assert kinds["0/weight"] is NonCenteredNormal and kinds["0/scale_a"] is LogNormalPosterior
    guide = AutoCompressionGuide(BayesianNetwork(_net(), LogUniformPrior()))
    assert type(guide.posteriors["0/weight"]) is MeanFieldNormal


def test_unregistered_support_is_a_clear_type_error():
    with pytest.raises(TypeError, match="'x'.*register_posterior"):
        posterior_family("x", dist.Categorical(torch.ones(3)))


def test_weight_posterior_is_attached_for_local_reparameterisation():
    guide = AutoCompressionGuide(BayesianNetwork(_net(), get_prior("group-nj")))
    site = poutine.trace(guide).get_trace().nodes["0.weight"]
    assert site["infer"]["posterior"] is site["fn"]
    assert isinstance(site["infer"]["prior"].base_dist, dist.Normal)


def test_moments_of_input_output_scales_match_paper_003():
    # Var(z w s) = (sz^2 + mz^2)(s^2 + m^2)(ss^2 + ms^2) - mz^2 m^2 ms^2  (paper 003 section 4.3)
    bnn = BayesianNetwork(nn.Sequential(nn.Linear(4, 3)), InputOutputNormalJeffreys())
    guide = AutoCompressionGuide(bnn)
    with torch.no_grad():
        p = guide.posteriors
        p["0/scale_in"].loc.copy_(torch.tensor([[1.0, 2.0, 1.5, 3.0]]))
        p["0/scale_in"].log_scale.fill_(torch.tensor(0.05).log())
        p["0/scale_out"].loc.copy_(torch.tensor([[1.0], [0.5], [2.0]]))
        p["0/scale_out"].log_scale.fill_(torch.tensor(0.1).log())
        p["0/weight"].log_scale.fill_(torch.tensor(0.2).log())
    mz, sz = p["0/scale_in"].loc, p["0/scale_in"].log_scale.exp()
    ms, ss = p["0/scale_out"].loc, p["0/scale_out"].log_scale.exp()
    m, s = p["0/weight"].loc, p["0/weight"].log_scale.exp()
    expected = (sz**2 + mz**2) * (s**2 + m**2) * (ss**2 + ms**2) - mz**2 * m**2 * ms**2
    mean, var = guide.moments(num_samples=4000)["0.weight"]
    assert torch.allclose(var, expected.detach(), rtol=0.05)
    assert torch.allclose(guide.mean()["0.weight"], (mz * m * ms).detach(), rtol=1e-5)


def test_moments_are_exact_without_upstream_sites_and_reproducible():
    guide = AutoCompressionGuide(BayesianNetwork(_net(), LogUniformPrior()))
    post = guide.posteriors["0/weight"]
    a = guide.moments(num_samples=3, seed=1)["0.weight"]
    assert torch.allclose(a[0], post.loc) and torch.allclose(a[1], post.log_scale.exp().pow(2), rtol=1e-4)
    b = guide.moments(num_samples=3, seed=1)["0.weight"]
    assert torch.equal(a[0], b[0])
    with pytest.raises(ValueError, match="num_samples"):
        guide.moments(num_samples=0)


def test_guide_rejects_non_bayesian_model():
    with pytest.raises(TypeError, match="BayesianNetwork"):
        AutoCompressionGuide(_net())
