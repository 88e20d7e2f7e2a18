import pyro
import pyro.distributions as dist
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.guides import taylor_posterior_family
from pyrocomp.infer import TaylorMeanField_ELBO, fit
from pyrocomp.nn import GaussianLikelihood
from pyrocomp.priors import Prior


class FixedGaussian(Prior):
    """w ~ N(0, s0^2): conjugate to a Gaussian likelihood."""

    def __init__(self, s0):
        self.s0 = s0

    def __call__(self, name, layer):
        shape = layer.weight_shape
        return pyro.sample(f"{name}.weight", dist.Normal(layer.full(shape, 0.0), layer.full(shape, self.s0)).to_event(2))


def _regression(n=200, d=3, noise=0.5):
    torch.manual_seed(0)
    x = torch.randn(n, d) * torch.tensor([1.0, 0.3, 2.0])
    w_true = torch.tensor([[1.5, -2.0, 0.3]])
    return x, x @ w_true.T + noise * torch.randn(n, 1)


def _posterior(x, y, noise, s0, temperature=1.0):
    """Exact posterior of p(w) p(D | w)^(1 / temperature): precision L = X'X / (t noise^2) + I / s0^2, mean
    L^-1 X'y / (t noise^2)."""
    precision = x.T @ x / (temperature * noise**2) + torch.eye(x.shape[1]) / s0**2
    return precision, torch.linalg.solve(precision, x.T @ y / (temperature * noise**2)).T


def test_svi_recovers_the_conjugate_posterior():
    n, d, noise, s0 = 200, 3, 0.5, 1.0
    x, y = _regression(n, d, noise)
    precision, mean = _posterior(x, y, noise, s0)
    # the mean-field optimum has the exact mean and variances 1 / diag(precision)
    var = 1 / precision.diagonal()

    bnn = BayesianNetwork(nn.Linear(d, 1, bias=False), FixedGaussian(s0), likelihood=GaussianLikelihood(noise))
    guide = AutoCompressionGuide(bnn, init_scale=0.1)
    svi = SVI(bnn, guide, pyro.optim.ClippedAdam({"lr": 0.03, "lrd": 0.9985}), TraceMeanField_ELBO())
    for _ in range(3000):
        svi.step(x, y)
    moments = guide.moments(num_samples=1)
    q_mean, q_var = moments["0.weight"]
    assert torch.allclose(q_mean, mean, atol=5e-3)
    assert torch.allclose(q_var[0], var, rtol=0.1)


def test_kl_weight_gives_the_tempered_conjugate_posterior_mean():
    # beta KL(q || p) - E_q ln p(D | w) is minimised by the fit of p(w) p(D | w)^(1 / beta): the conjugate
    # posterior with noise variance beta * noise^2. Under the Taylor ELBO the mean's gradient is exact and
    # deterministic for a linear model; few, noisy data keep the answer far from beta = 1's.
    n, d, noise, s0, beta = 20, 3, 2.0, 1.0, 4.0
    x, y = _regression(n, d, noise)
    tempered, untempered = _posterior(x, y, noise, s0, beta)[1], _posterior(x, y, noise, s0)[1]
    assert (tempered - untempered).abs().max() > 0.1
    bnn = BayesianNetwork(nn.Linear(d, 1, bias=False), FixedGaussian(s0), likelihood=GaussianLikelihood(noise))
    guide = AutoCompressionGuide(bnn, posterior_family=taylor_posterior_family)
    history = fit(bnn, guide, (x, y), epochs=600, batch_size=n, lr=0.02, elbo=TaylorMeanField_ELBO(),
                  kl_weight=beta, progress=False)
    assert history[-1]["kl_scale"] == beta and bnn.kl_scale == 1.0
    assert torch.allclose(guide.posterior("0.weight").loc, tempered, atol=1e-3)
