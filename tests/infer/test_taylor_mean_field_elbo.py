import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.guides import mean_field_weights
from pyrocomp.infer import TaylorMeanField_ELBO
from pyrocomp.nn import GaussianLikelihood, Likelihood
from pyrocomp.priors import AutomaticRelevanceDetermination, GroupNormalJeffreys, LogUniformPrior, Prior


class FixedGaussian(Prior):
    def __init__(self, s0):
        self.s0 = s0

    def __call__(self, name, layer):
        shape = layer.weight_shape
        return pyro.sample(f"{name}.weight", dist.Normal(layer.full(shape, 0.0), layer.full(shape, self.s0)).to_event(2))


class HalfCauchyScale(Prior):
    def __call__(self, name, layer):
        shape = layer.group_shape("in")
        scale = pyro.sample(f"{name}.scale", dist.HalfCauchy(layer.full(shape, 1.0)).to_event(2))
        scale = scale.expand(layer.weight_shape)
        return pyro.sample(f"{name}.weight", dist.Normal(torch.zeros_like(scale), scale).to_event(2))


class LinearLikelihood(Likelihood):
    """log p(obs | f) = <f, obs>: linear in the network output."""

    def __call__(self, output, obs):
        return pyro.factor("obs", (output * obs).sum(-1))


def _randomise(guide, generator):
    with torch.no_grad():
        for post in guide.posteriors.values():
            post.loc.add_(0.3 * torch.randn(post.loc.shape, generator=generator, dtype=post.loc.dtype))
            post.log_scale.copy_(torch.empty_like(post.log_scale).uniform_(-1.5, -0.2, generator=generator))


def test_linear_gaussian_equals_equation_35():
    torch.manual_seed(0)
    n, d, noise, s0 = 50, 4, 0.7, 1.3
    x, y = torch.randn(n, d), torch.randn(n, 1)
    model = BayesianNetwork(nn.Linear(d, 1, bias=False), FixedGaussian(s0), likelihood=GaussianLikelihood(noise))
    guide = AutoCompressionGuide(model)
    _randomise(guide, torch.Generator().manual_seed(1))
    post = guide.posteriors["0/weight"]
    mu, sigma = s0 * post.loc.detach(), s0 * post.log_scale.exp().detach()
    # eq. (35): sum_n ( ln(s0 / sigma) + (sigma^2 + mu^2) / (2 s0^2) - 1/2 ) - ln p(D | mu)
    kl = (math.log(s0) - sigma.log() + (sigma**2 + mu**2) / (2 * s0**2) - 0.5).sum()
    resid = y - x @ mu.T
    log_lik = (-0.5 * resid**2 / noise**2 - math.log(noise) - 0.5 * math.log(2 * math.pi)).sum()
    assert TaylorMeanField_ELBO().loss(model, guide, x, y) == pytest.approx(float(kl - log_lik), rel=1e-5)


def _lognormal_gamma_kl(m, s, a, b):
    return (-(m + 0.5 + s.log() + 0.5 * math.log(2 * math.pi))
            - (a * math.log(b) - math.lgamma(a) + (a - 1) * m - b * torch.exp(m + s**2 / 2)))


def _two_layer(dtype):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(dtype)
    model = BayesianNetwork(net, AutomaticRelevanceDetermination(a=2.0, b=0.5), dataset_size=40)
    guide = AutoCompressionGuide(model)
    _randomise(guide, torch.Generator().manual_seed(2))
    x, y = torch.randn(10, 3, dtype=dtype), torch.randint(0, 2, (10,))
    return model, guide, x, y


def test_two_layer_network_equals_hand_computed_equation_35():
    model, guide, x, y = _two_layer(torch.float64)
    p = {k: (v.loc.detach(), v.log_scale.exp().detach()) for k, v in guide.posteriors.items()}
    kl, weights = 0.0, {}
    for layer in ("0", "2"):
        m, s = p[f"{layer}/precision"]
        kl += _lognormal_gamma_kl(m, s, 2.0, 0.5).sum()
        mt, st = p[f"{layer}/weight"]  # w | rho ~ N(rho^-1/2 mt, rho^-1 st^2) against N(0, 1/rho)
        kl += (0.5 * (mt**2 + st**2 - 1) - st.log()).sum()
        weights[layer] = torch.exp(m + s**2 / 2).rsqrt() * mt  # at the mean of rho
    hidden = torch.relu(x @ weights["0"].T + model.net[0].bias)
    logits = hidden @ weights["2"].T + model.net[2].bias
    log_lik = 4.0 * torch.log_softmax(logits.detach(), -1).gather(1, y[:, None]).sum()  # scaled to 40 examples
    assert TaylorMeanField_ELBO().loss(model, guide, x, y) == pytest.approx((kl - log_lik).item(), rel=1e-10)


def test_gradients_match_finite_differences_in_float64():
    model, guide, x, y = _two_layer(torch.float64)
    elbo = TaylorMeanField_ELBO()
    params = [p for p in list(guide.parameters()) + list(model.parameters()) if p.requires_grad]
    loss = elbo.differentiable_loss(model, guide, x, y)
    grads = torch.autograd.grad(loss, params)
    generator = torch.Generator().manual_seed(0)
    h = 1e-6
    for param, grad in zip(params, grads):
        for index in torch.randint(0, param.numel(), (3,), generator=generator).tolist():
            flat = param.data.view(-1)
            old = float(flat[index])
            flat[index] = old + h
            plus = elbo.loss(model, guide, x, y)
            flat[index] = old - h
            minus = elbo.loss(model, guide, x, y)
            flat[index] = old
            numeric = (plus - minus) / (2 * h)
            assert grad.view(-1)[index].item() == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def _mean_field_loss(model, guide, *args, batches=40, particles=100):
    # Monte Carlo mean of TraceMeanField_ELBO and its standard error, from batches of vectorised particles
    elbo = TraceMeanField_ELBO(num_particles=particles, vectorize_particles=True, max_plate_nesting=1)
    losses = torch.tensor([elbo.loss(model, guide, *args) for _ in range(batches)])
    return losses.mean().item(), losses.std().item() / math.sqrt(batches)


def test_linear_likelihood_agrees_with_mean_field_expectation():
    # a proper non-hierarchical prior: the KL terms coincide and eq. (34) is exact for a linear g
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), FixedGaussian(0.8), likelihood=LinearLikelihood())
    guide = AutoCompressionGuide(model)
    _randomise(guide, torch.Generator().manual_seed(3))
    x, coef = torch.randn(8, 3), torch.randn(8, 2)
    mean, se = _mean_field_loss(model, guide, x, coef)
    assert abs(TaylorMeanField_ELBO().loss(model, guide, x, coef) - mean) < 4 * se + 1e-4


def test_hierarchical_prior_differs_by_the_constant_of_equation_32():
    # with q(w) mean-field and q(rho) log-normal, E_q(rho) KL(q(w) || p(w | rho)) exceeds the KL at E[rho]
    # by 1/2 (ln E[rho] - E[ln rho]) = s^2 / 4 per weight: the constant eq. (32) drops
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), AutomaticRelevanceDetermination(a=2.0, b=0.5),
                            likelihood=LinearLikelihood())
    guide = AutoCompressionGuide(model, posterior_family=mean_field_weights)
    _randomise(guide, torch.Generator().manual_seed(3))
    x, coef = torch.randn(8, 3), torch.randn(8, 2)
    mean, se = _mean_field_loss(model, guide, x, coef)
    constant = (guide.posteriors["0/precision"].log_scale.exp() ** 2 / 4).sum().item()
    assert abs(TaylorMeanField_ELBO().loss(model, guide, x, coef) + constant - mean) < 4 * se + 1e-4


def test_deterministic_loss_and_gradients():
    model, guide, x, y = _two_layer(torch.float32)
    elbo = TaylorMeanField_ELBO()
    params = list(guide.parameters())
    results = []
    for _ in range(2):
        loss = elbo.differentiable_loss(model, guide, x, y)
        results.append((loss.detach().clone(), [g.clone() for g in torch.autograd.grad(loss, params)]))
    assert torch.equal(results[0][0], results[1][0])
    assert all(torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_subsampled_losses_average_to_the_full_data_loss():
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), AutomaticRelevanceDetermination(), dataset_size=40)
    guide = AutoCompressionGuide(model)
    x, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    elbo = TaylorMeanField_ELBO()
    full = elbo.loss(model, guide, x, y)
    batches = [elbo.loss(model, guide, x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]
    assert sum(batches) / 4 == pytest.approx(full, rel=1e-6)


def test_monte_carlo_fallback_warns():
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), HalfCauchyScale())
    guide = AutoCompressionGuide(model)
    with pytest.warns(RuntimeWarning, match="No closed-form KL.*'0.scale'"):
        loss = TaylorMeanField_ELBO().loss(model, guide, torch.randn(5, 3), torch.randint(0, 2, (5,)))
    assert math.isfinite(loss)


@pytest.mark.parametrize("prior,site", [(LogUniformPrior(), "0.weight"), (GroupNormalJeffreys(), "0.scale")])
def test_improper_priors_are_refused(prior, site):
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 2)), prior)
    guide = AutoCompressionGuide(model)
    with pytest.raises(ValueError, match=f"'{site}' has the improper prior LogUniform.*Trace_ELBO"):
        TaylorMeanField_ELBO().loss(model, guide, torch.randn(5, 3), torch.randint(0, 2, (5,)))


def test_bad_num_kl_samples():
    with pytest.raises(ValueError, match="num_kl_samples"):
        TaylorMeanField_ELBO(num_kl_samples=0)


def test_drops_into_pyro_svi():
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2)),
                            AutomaticRelevanceDetermination(a=0.5, b=1e-4), dataset_size=64)
    guide = AutoCompressionGuide(model, posterior_family=mean_field_weights)
    x = torch.randn(64, 3)
    y = (x[:, 0] > 0).long()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), TaylorMeanField_ELBO())
    first = svi.evaluate_loss(x, y)
    for _ in range(200):
        loss = svi.step(x, y)  # loss_and_grads
    assert loss == pytest.approx(svi.evaluate_loss(x, y), rel=0.05) and loss < first


def test_pyros_model_guide_validation_runs():
    import warnings

    def model():
        pyro.sample("a", dist.Normal(0.0, 1.0))
        pyro.sample("b", dist.Normal(0.0, 1.0))

    def guide():  # misses "b": Pyro's check_model_guide_match says so under validation
        pyro.sample("a", dist.Normal(0.3, 0.5))

    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError, match="'b' has no site in the guide"):
        warnings.simplefilter("always")
        TaylorMeanField_ELBO().loss(model, guide)
    assert any("Found vars in model but not guide: {'b'}" in str(w.message) for w in caught)
