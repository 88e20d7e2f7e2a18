import math

import numpy as np
import pyro.distributions as dist
import pytest
import torch
from scipy import integrate
from torch.distributions import kl_divergence

from pyrocomp.distributions import LogUniform, log_dropout_rate, molchanov_kl

def t(*values):
    return torch.tensor(values, dtype=torch.float64)


POSITIVE_PRIORS = {
    "gamma": lambda: dist.Gamma(t(0.5, 2.0, 1e-2), t(1.0, 3.0, 1e-2)),
    "inverse-gamma": lambda: dist.InverseGamma(t(0.5, 2.0, 3.0), t(1.0, 0.5, 2.0)),
    "exponential": lambda: dist.Exponential(t(50.0, 1.0, 0.1)),
    "lognormal": lambda: dist.LogNormal(t(0.0, -1.0, 2.0), t(1.0, 0.3, 2.0)),
}


@pytest.mark.parametrize("name", POSITIVE_PRIORS)
def test_lognormal_kl_matches_monte_carlo(name):
    prior = POSITIVE_PRIORS[name]()
    q = dist.LogNormal(t(0.3, -2.0, 1.0), t(0.5, 0.1, 1.5))
    x = q.sample((400_000,))
    mc = (q.log_prob(x) - prior.log_prob(x)).mean(0)
    se = (q.log_prob(x) - prior.log_prob(x)).std(0) / math.sqrt(len(x))
    closed = kl_divergence(q, prior)
    assert closed.shape == (3,)
    assert (closed - mc).abs().le(5 * se + 1e-6).all(), (closed, mc, se)


def _exact_kl_up_to_constant(log_alpha):
    # -KL(N(mu, alpha mu^2) || 1/|w|) = 0.5 log alpha - E_{e ~ N(1, alpha)} log|e| + C  (Molchanov et al. 2017)
    a = math.exp(log_alpha)
    s = math.sqrt(a)

    def f(e):
        return math.log(abs(e)) * math.exp(-((e - 1) ** 2) / (2 * a)) / math.sqrt(2 * math.pi * a)

    expectation = integrate.quad(f, -50 * s - 1, 0, limit=500)[0] + integrate.quad(f, 0, 50 * s + 1, limit=500)[0]
    return -0.5 * log_alpha + expectation


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_molchanov_approximation_against_numerical_integration():
    grid = np.linspace(-8, 8, 33)
    diff = np.array([molchanov_kl(torch.tensor(la, dtype=torch.float64)).item() - _exact_kl_up_to_constant(la)
                     for la in grid])
    constant = 0.5 * (diff.max() + diff.min())
    # Molchanov et al. report the approximation accurate to about 1e-2 up to its constant.
    assert np.abs(diff - constant).max() < 0.01
    # and the constant is the one that makes the KL vanish as alpha -> infinity
    assert abs(molchanov_kl(torch.tensor(30.0, dtype=torch.float64)).item()) < 1e-3


def test_normal_loguniform_kl_is_registered_and_shaped():
    q = dist.Normal(torch.full((2, 3), 0.5), torch.full((2, 3), 0.05))
    kl = kl_divergence(q.to_event(2), LogUniform((2, 3)).to_event(2))
    expected = molchanov_kl(log_dropout_rate(q.loc, q.scale)).sum()
    assert kl.shape == () and torch.allclose(kl, expected)
    assert torch.isfinite(kl_divergence(dist.Normal(torch.zeros(2), torch.ones(2)), LogUniform((2,)))).all()


def test_log_dropout_rate_zero_mean_has_finite_gradient():
    loc = torch.tensor([0.0, 0.5], requires_grad=True)
    molchanov_kl(log_dropout_rate(loc, torch.tensor([0.1, 0.1]))).sum().backward()
    assert torch.isfinite(loc.grad).all()


def test_bernoulli_support_kl_is_exact_and_finite_at_extreme_logits():
    from pyro.distributions import Bernoulli

    from pyrocomp.distributions import SupportIndicator

    a = torch.tensor([-3.0, 0.5, 20.0, -100.0, 200.0, 40.0])
    b = torch.tensor([1.0, -2.0, -9.2, 20.0, -200.0, -60.0])
    got = torch.distributions.kl_divergence(Bernoulli(logits=a), SupportIndicator(logits=b))
    a64, b64 = a.double(), b.double()
    q1, q0 = torch.sigmoid(a64), torch.sigmoid(-a64)
    nn_f = torch.nn.functional
    exact = q1 * (nn_f.logsigmoid(a64) - nn_f.logsigmoid(b64)) + q0 * (nn_f.logsigmoid(-a64) - nn_f.logsigmoid(-b64))
    assert torch.isfinite(got).all()
    assert torch.allclose(got.double(), exact, rtol=1e-5, atol=1e-5)
    assert torch.isinf(torch.distributions.kl_divergence(torch.distributions.Bernoulli(logits=a[3:5]),
                                                         torch.distributions.Bernoulli(logits=b[3:5]))).any()
