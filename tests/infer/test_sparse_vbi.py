import math

import numpy as np
import pytest
import torch
from scipy import integrate, optimize

from pyrocomp.infer import collapsed_support_evidence, precision_update, support_evidence


def _log_gamma_term(a, b, mean, mean_log):
    return a * math.log(b) - math.lgamma(a) + (a - 1) * mean_log - b * mean


def module_a_elbo(second_moment, concentration, rate, support_probs, prior_probs, a, b, a_bar, b_bar):
    r"""
    The terms of the Module-A ELBO (eq. (20)) that depend on :math:`q(\rho), q(s)`, per weight,
    exactly:

    .. math::

        E_q[\ln p(w \mid \rho) + \ln p(\rho \mid s) + \ln \hat p(s)] + H[q(\rho)] + H[q(s)].

    The closed-form updates maximise it coordinate-wise.
    """
    mean, mean_log = concentration / rate, torch.digamma(concentration) - rate.log()
    p, pi = support_probs, prior_probs
    log_w = 0.5 * mean_log - 0.5 * math.log(2 * math.pi) - 0.5 * mean * second_moment
    log_rho = p * _log_gamma_term(a, b, mean, mean_log) + (1 - p) * _log_gamma_term(a_bar, b_bar, mean, mean_log)
    log_s = torch.xlogy(p, pi) + torch.xlogy(1 - p, 1 - pi)
    entropy_rho = torch.distributions.Gamma(concentration, rate).entropy()
    entropy_s = -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))
    return log_w + log_rho + log_s + entropy_rho + entropy_s


HYPER = [(1.0, 1.0, 1.0, 1e-3), (0.5, 0.01, 10.0, 1e-3), (2.0, 0.5, 1.5, 1e-6)]


def t(x):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("second, p_tilde, pi", [(0.02, 0.3, 0.4), (1.5, 0.9, 0.1), (1e-5, 0.05, 0.7)])
def test_precision_update_maximises_elbo(hyper, second, p_tilde, pi):
    # the real-valued update (eqs. 24-26) against a numerical maximiser over (log a~, log b~)
    def negative(x):
        c, r = t(math.exp(x[0])), t(math.exp(x[1]))
        return -float(module_a_elbo(t(second), c, r, t(p_tilde), t(pi), *hyper))

    c, r = precision_update(t(p_tilde), t(second), *hyper)
    best = optimize.minimize(negative, x0=[0.0, 0.0], method="Nelder-Mead", options=dict(xatol=1e-10, fatol=1e-14, maxiter=20000))
    assert np.allclose(np.exp(best.x), [float(c), float(r)], rtol=1e-4)
    assert -best.fun <= float(module_a_elbo(t(second), c, r, t(p_tilde), t(pi), *hyper)) + 1e-10


@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("concentration, rate, pi", [(1.5, 0.02, 0.4), (3.0, 2.0, 0.05), (1.2, 1e-4, 0.9)])
def test_support_update_maximises_elbo(hyper, concentration, rate, pi):
    # eqs. 27-29 against a bounded scalar maximiser over p~
    c, r = t(concentration), t(rate)

    def negative(p):
        return -float(module_a_elbo(t(0.1), c, r, t(p), t(pi), *hyper))

    logit = math.log(pi / (1 - pi)) + float(support_evidence(c, r, *hyper))
    best = optimize.minimize_scalar(negative, bounds=(1e-12, 1 - 1e-12), method="bounded", options=dict(xatol=1e-12))
    assert best.x == pytest.approx(float(torch.sigmoid(t(logit))), abs=1e-6)


def test_module_a_elbo_against_monte_carlo():
    torch.manual_seed(0)
    a, b, a_bar, b_bar = 1.0, 1.0, 2.0, 1e-2
    mu, sigma, c, r, p, pi = 0.3, 0.2, 2.5, 0.4, 0.3, 0.6
    n = 400_000
    w = mu + sigma * torch.randn(n, dtype=torch.float64)
    q_rho = torch.distributions.Gamma(t(c), t(r))
    rho = q_rho.sample((n,))
    s = torch.bernoulli(torch.full((n,), p, dtype=torch.float64))
    log_p = (torch.distributions.Normal(0, rho.rsqrt()).log_prob(w)
             + s * torch.distributions.Gamma(t(a), t(b)).log_prob(rho)
             + (1 - s) * torch.distributions.Gamma(t(a_bar), t(b_bar)).log_prob(rho)
             + s * math.log(pi) + (1 - s) * math.log(1 - pi))
    log_q = q_rho.log_prob(rho) + s * math.log(p) + (1 - s) * math.log(1 - p)
    mc = log_p - log_q
    exact = module_a_elbo(t(mu**2 + sigma**2), t(c), t(r), t(p), t(pi), a, b, a_bar, b_bar)
    assert float(exact) == pytest.approx(float(mc.mean()), abs=4 * float(mc.std()) / math.sqrt(n))


@pytest.mark.parametrize("hyper", HYPER)
@pytest.mark.parametrize("second", [1e-4, 0.05, 2.0])
def test_collapsed_evidence_is_log_bayes_factor(hyper, second):
    # ln Z1 - ln Z0 with Z_s = int Gamma(rho; a_s, b_s) exp(E ln N(w | 0, 1/rho) + ln(2 pi)/2) d rho, by quadrature
    a, b, a_bar, b_bar = hyper

    def log_z(alpha, beta):
        def log_integrand(log_rho):  # in log rho, with the Jacobian
            rho = math.exp(log_rho)
            return (alpha * math.log(beta) - math.lgamma(alpha) + (alpha - 1) * log_rho - beta * rho
                    + 0.5 * log_rho - 0.5 * rho * second + log_rho)

        peak = math.log((alpha + 0.5) / (beta + second / 2))
        top = log_integrand(peak)
        value, _ = integrate.quad(lambda x: math.exp(log_integrand(x) - top), peak - 40, peak + 40, points=[peak],
                                  limit=500, epsabs=0, epsrel=1e-12)
        return top + math.log(value)

    expected = log_z(a, b) - log_z(a_bar, b_bar)
    assert float(collapsed_support_evidence(t(second), *hyper)) == pytest.approx(expected, rel=1e-6, abs=1e-6)


def test_collapsed_update_is_monotone_in_weight_size():
    # a larger weight is always more likely active: one threshold, no second fixed point
    second = torch.logspace(-8, 1, 200, dtype=torch.float64)
    evidence = collapsed_support_evidence(second, 1.0, 1.0, 1.0, 1e-3)
    assert bool((evidence.diff() > 0).all())
    assert float(evidence[0]) < 0 < float(evidence[-1])


def test_extreme_hyperparameters_stay_finite():
    second = torch.tensor([0.0, 1e-30, 1.0, 1e6], dtype=torch.float64)
    for p in (0.0, 0.5, 1.0):
        c, r = precision_update(torch.full_like(second, p), second, 1.0, 1.0, 1.0, 1e-6)
        assert torch.isfinite(support_evidence(c, r, 1.0, 1.0, 1.0, 1e-6)).all()
    assert torch.isfinite(collapsed_support_evidence(second, 1.0, 1.0, 1.0, 1e-6)).all()
    assert torch.isfinite(collapsed_support_evidence(second.float(), 1.0, 1.0, 1.0, 1e-6)).all()
