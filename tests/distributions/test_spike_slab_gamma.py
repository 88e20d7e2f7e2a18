import pytest
import torch
from pyro.distributions import Gamma, LogNormal
from torch.distributions import kl_divergence

from pyrocomp.distributions import SpikeSlabGamma


def prior(s):
    s = torch.as_tensor(s, dtype=torch.float64)
    return SpikeSlabGamma(s, torch.tensor(1.5, dtype=torch.float64), torch.tensor(2.0, dtype=torch.float64),
                          torch.tensor(3.0, dtype=torch.float64), torch.tensor(0.01, dtype=torch.float64))


def test_binary_support_selects_the_gamma():
    x = torch.tensor([0.1, 1.0, 50.0], dtype=torch.float64)
    assert torch.allclose(prior(1.0).log_prob(x), Gamma(1.5, 2.0).log_prob(x).double())
    assert torch.allclose(prior(0.0).log_prob(x), Gamma(torch.tensor(3.0, dtype=torch.float64), 0.01).log_prob(x))
    assert float(prior(0.0).mean) == pytest.approx(300.0)


@pytest.mark.parametrize("q", [Gamma(torch.tensor(2.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)),
                               LogNormal(torch.tensor(0.3, dtype=torch.float64), torch.tensor(0.4, dtype=torch.float64))])
def test_kl_is_expected_kl_over_support(q):
    # KL(q || p(.|s = pi)) = E_{s ~ Bernoulli(pi)} KL(q || p(.|s)), checked by Monte Carlo over rho and s
    torch.manual_seed(0)
    pi, n = 0.3, 400_000
    rho = q.sample((n,))
    s = torch.bernoulli(torch.full((n,), pi, dtype=torch.float64))
    mc = q.log_prob(rho) - prior(s).log_prob(rho)
    assert float(kl_divergence(q, prior(pi))) == pytest.approx(float(mc.mean()), abs=4 * float(mc.std()) / n**0.5)


def test_sampling_follows_the_support():
    torch.manual_seed(1)
    draws = prior(torch.full((20000,), 0.25, dtype=torch.float64)).sample()
    # Gamma(3, 0.01) draws are > 20 with probability ~1; Gamma(1.5, 2) draws are < 20 with probability ~1
    assert float((draws > 20).double().mean()) == pytest.approx(0.75, abs=0.02)


def test_support_outside_unit_interval_is_refused():
    with pytest.raises(ValueError):
        SpikeSlabGamma(torch.tensor(1.5), 1.0, 1.0, 1.0, 1e-3, validate_args=True)
