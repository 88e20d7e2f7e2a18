"""Pyro's distribution checklist over every pyrocomp distribution: expand through _get_checked_instance (same
class, validation kept, batch shapes honoured), draws inside the support, log_prob shapes, and mean and variance
against Monte Carlo where they are defined."""
import math

import pyro.distributions as dist
import pytest
import torch

from pyrocomp.distributions import (GroupNormalMixture, IndependentNormal, LogUniform, ProductScale, Rayleigh, ScaleMixture,
                                    SpikeSlabGamma, SupportIndicator)


def t(x):
    return torch.as_tensor(x, dtype=torch.float64)


def _half_cauchy_pair():
    return ProductScale(dist.InverseGamma(t([0.5, 0.5]), t([1.0, 1.0])), lambda b: dist.Exponential(b / 2))


CASES = {
    "rayleigh": lambda: Rayleigh(t([0.5, 2.0])),
    "scale-mixture": lambda: ScaleMixture(t([[0.3, 0.7], [0.9, 0.1]]), [Rayleigh(t([0.5, 1.0])),
                                                                          dist.Gamma(t([2.0, 3.0]), t([1.0, 4.0]))]),
    "product-scale": _half_cauchy_pair,
    "spike-slab-gamma": lambda: SpikeSlabGamma(t([0.2, 0.9]), t(1.5), t(2.0), t(3.0), t(0.5)),
    "support-indicator": lambda: SupportIndicator(probs=t([0.2, 0.7])),
    "independent-normal": lambda: IndependentNormal(t([0.0, 1.0]), t([0.5, 2.0])),
    "group-normal-mixture": lambda: GroupNormalMixture(t([[0.4, 0.6], [0.5, 0.5], [0.2, 0.8]]).unsqueeze(-2),
                                                       t([[[0.5, 1.0]] * 3, [[2.0, 0.1]] * 3])),
}
# families whose moments the Monte Carlo check can see (the half-Cauchy pair has none)
MOMENTS = ["rayleigh", "scale-mixture", "spike-slab-gamma", "support-indicator", "independent-normal",
           "group-normal-mixture"]


@pytest.mark.parametrize("name", CASES)
def test_expand_keeps_the_class_and_validation(name):
    d = CASES[name]()
    d._validate_args = True
    big = d.expand((4,) + d.batch_shape)
    assert type(big) is type(d) and big._validate_args
    assert big.batch_shape == (4,) + d.batch_shape and big.event_shape == d.event_shape
    x = big.sample()
    assert x.shape == big.batch_shape + big.event_shape
    assert big.log_prob(x).shape == big.batch_shape
    assert torch.allclose(big.log_prob(x)[1:], d.expand((3,) + d.batch_shape).log_prob(x[1:]))


@pytest.mark.parametrize("name", CASES)
def test_draws_are_in_the_support_and_log_prob_has_the_sample_shape(name):
    d = CASES[name]()
    x = d.sample((5,))
    assert x.shape == (5,) + d.batch_shape + d.event_shape
    assert bool(d.support.check(x).all())
    assert d.log_prob(x).shape == (5,) + d.batch_shape
    assert bool(torch.isfinite(d.log_prob(x)).all())


@pytest.mark.parametrize("name", MOMENTS)
def test_mean_and_variance_against_monte_carlo(name):
    torch.manual_seed(0)
    d = CASES[name]()
    n = 200_000
    x = d.sample((n,)).double()
    se = x.std(0) / math.sqrt(n)
    assert d.mean.shape == d.variance.shape == d.batch_shape + d.event_shape
    assert torch.allclose(d.mean, x.mean(0), atol=float(5 * se.max()) + 1e-12)
    assert torch.allclose(d.variance, x.var(0), rtol=0.03, atol=1e-12)


def test_log_uniform_expand_and_log_prob_shapes():
    d = LogUniform((3,), validate_args=True)
    big = d.expand((2, 3))
    assert type(big) is LogUniform and big._validate_args and big.batch_shape == (2, 3)
    assert big.log_prob(torch.ones(5, 2, 3)).shape == (5, 2, 3)


def test_group_normal_mixture_sits_in_a_plate():
    import pyro
    from pyro import poutine

    d = CASES["group-normal-mixture"]()

    def model():
        with pyro.plate("draws", 4):
            pyro.sample("w", d)

    trace = poutine.trace(model).get_trace()
    site = trace.nodes["w"]
    assert site["value"].shape == (4, 3, 2) and site["fn"].batch_shape == (4,)
    assert trace.log_prob_sum().shape == ()
