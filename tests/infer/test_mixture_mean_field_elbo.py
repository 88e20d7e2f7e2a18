import math

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import TraceMeanField_ELBO
from torch import nn
from torch.distributions import kl_divergence

from pyrocomp.distributions import GroupNormalMixture
from pyrocomp.guides import AutoCompressionGuide
from pyrocomp.infer import MixtureMeanField_ELBO
from pyrocomp.nn import BayesianNetwork
from pyrocomp.priors import MixturePrior, PerComponentMixturePrior


def d(x):
    return torch.tensor(x, dtype=torch.float64)


PI = d([0.3, 0.7])
PRIOR_LOC, PRIOR_SCALE = d([[-1.0, 0.5, 0.0], [0.2, -0.3, 1.0]]), d([[1.0, 0.5, 2.0], [0.7, 1.5, 1.0]])
Q_LOC, Q_SCALE = d([[-0.8, 0.1, -1.2], [0.3, -1.5, 0.4]]), d([[0.3, 0.2, 0.6], [0.5, 0.1, 0.4]])
W_LOC, W_SCALE = d([[0.3, -0.05, 1.2], [-0.4, 0.02, 0.9]]), d([[0.1, 0.03, 0.2], [0.3, 0.01, 0.1]])


def model():
    """Three groups (columns) of two weights; each component's scale per group ~ LogNormal."""
    z = [pyro.sample(f"z{k}", dist.LogNormal(PRIOR_LOC[k], PRIOR_SCALE[k]).to_event(1)) for k in range(2)]
    pyro.sample("w", GroupNormalMixture(PI.expand(1, 3, 2), torch.stack(z).unsqueeze(1).expand(2, 2, 3),
                                        component_sites=("z0", "z1")))


def guide():
    for k in range(2):
        pyro.sample(f"z{k}", dist.LogNormal(Q_LOC[k], Q_SCALE[k]).to_event(1))
    pyro.sample("w", dist.Normal(W_LOC, W_SCALE).to_event(2))


def test_structured_elbo_is_the_best_bound_over_the_components_posterior():
    """Given the scales, the ELBO of q(c) prod_k q_k^[c=k] p_k^[c!=k] maximised over q(c) on a grid."""
    pyro.set_rng_seed(1)
    trace = pyro.poutine.trace(guide).get_trace()
    z = torch.stack([trace.nodes[f"z{k}"]["value"] for k in range(2)])  # (component, group)
    loss = MixtureMeanField_ELBO().loss(pyro.poutine.replay(model, trace=trace), pyro.poutine.replay(guide, trace=trace))
    # per group and component: E_q log N(w | 0, z^2) summed over the group, and the scale's KL at this draw
    expected_log_n = (-0.5 * torch.log(2 * math.pi * z.unsqueeze(1).pow(2))
                      - (W_LOC.pow(2) + W_SCALE.pow(2)) / (2 * z.unsqueeze(1).pow(2))).sum(1)
    kl_z = kl_divergence(dist.LogNormal(Q_LOC, Q_SCALE), dist.LogNormal(PRIOR_LOC, PRIOR_SCALE))
    r = torch.linspace(1e-9, 1 - 1e-9, 200_001, dtype=torch.float64)
    best = 0.0
    for g in range(3):
        own = PI.log() + expected_log_n[:, g] - kl_z[:, g]
        values = r * (own[0] - r.log()) + (1 - r) * (own[1] - (1 - r).log())
        best += float(values.max())
    entropy = float(dist.Normal(W_LOC, W_SCALE).entropy().sum())
    assert math.isclose(-loss, entropy + best, rel_tol=1e-7, abs_tol=1e-7)


def test_without_tagged_sites_it_is_trace_mean_field():
    torch.manual_seed(0)
    bnn = BayesianNetwork(nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)), MixturePrior(tau0=0.1))
    guide = AutoCompressionGuide(bnn)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    losses = []
    for elbo in (MixtureMeanField_ELBO(), TraceMeanField_ELBO()):
        pyro.set_rng_seed(3)
        losses.append(elbo.differentiable_loss(bnn, guide, x, y))
    assert torch.equal(losses[0], losses[1])


def test_per_component_prior_trains_with_the_default_elbo():
    torch.manual_seed(0)
    bnn = BayesianNetwork(nn.Sequential(nn.Linear(5, 4)), PerComponentMixturePrior(tau0=0.1))
    guide = AutoCompressionGuide(bnn)
    x, y = torch.randn(8, 5), torch.randint(0, 4, (8,))
    pyro.set_rng_seed(3)
    structured = MixtureMeanField_ELBO().differentiable_loss(bnn, guide, x, y)
    pyro.set_rng_seed(3)
    mean_field = TraceMeanField_ELBO().differentiable_loss(bnn, guide, x, y)
    assert torch.isfinite(structured) and not torch.allclose(structured, mean_field)
    structured.backward()
    grads = {name: p.grad for name, p in guide.named_parameters()}
    assert all(grads[f"posteriors.0/{c}_scale.loc_unconstrained"] is not None for c in ("horseshoe", "laplace", "normal-jeffreys"))
