import itertools
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO, config_enumerate
from pyro.ops.indexing import Vindex
from scipy import stats
from torch.distributions import kl_divergence

from pyrocomp.distributions import GroupNormalMixture


def d(x):
    return torch.tensor(x, dtype=torch.float64)


def problem(seed=0, shape=(3, 4), groups=(1, 4), k=3):
    """Mixing weights per column (group "in" of a linear layer), a scale per component and column."""
    g = torch.Generator().manual_seed(seed)
    pi = torch.distributions.Dirichlet(torch.ones(k, dtype=torch.float64)).sample(groups)
    scales = (0.2 + torch.rand((k,) + groups, generator=g, dtype=torch.float64)).expand((k,) + shape)
    return GroupNormalMixture(pi, scales)


def test_log_prob_is_the_sum_over_every_assignment_of_components():
    p = problem(shape=(2, 3), groups=(1, 3), k=2)
    w = torch.randn(2, 3, dtype=torch.float64)
    total = []
    for assignment in itertools.product(range(2), repeat=3):  # one component per column
        k = torch.tensor(assignment)
        scale = p.scales[k, :, torch.arange(3)].t()
        log_pi = p.mixing_weights[0, torch.arange(3), k].log().sum()
        total.append(log_pi + dist.Normal(0.0, scale).log_prob(w).sum())
    assert torch.allclose(p.log_prob(w), torch.logsumexp(torch.stack(total), 0))


def test_log_prob_equals_pyro_enumeration_of_the_components():
    p = problem(seed=1)
    w = p.sample()

    table = p.scales[:, 0, :].t()  # (group, component)

    @config_enumerate
    def model():
        with pyro.plate("groups", 4, dim=-1):
            c = pyro.sample("c", dist.Categorical(p.mixing_weights[0]))
            scale = Vindex(table)[torch.arange(4), c]
            pyro.sample("w", dist.Normal(0.0, scale.unsqueeze(-1).expand(scale.shape + (3,))).to_event(1), obs=w.t())

    def guide():
        pass

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(model, guide)
    assert math.isclose(-loss, float(p.log_prob(w)), rel_tol=1e-9)


def test_draws_follow_the_gaussian_mixture_and_share_the_component_within_a_group():
    pi = d([[0.3, 0.7]])
    scales = d([[0.1], [2.0]]).expand(2, 5000)  # one group per weight: the marginal is a Gaussian mixture
    x = GroupNormalMixture(pi.expand(5000, 2), scales).sample().numpy()

    def cdf(v):
        return 0.3 * stats.norm.cdf(v, scale=0.1) + 0.7 * stats.norm.cdf(v, scale=2.0)

    assert stats.kstest(x, cdf).pvalue > 1e-3
    # one group of 50 weights, all from the same component: |w| < 0.01 for all of them (scale 1e-3) or for
    # about 1 % (scale 1); a component drawn per weight would leave about half of each draw small
    draws = GroupNormalMixture(d([0.5, 0.5]).expand(1, 2), d([[1e-3], [1.0]]).expand(2, 50)).sample((400,))
    small = draws.abs().lt(0.01).double().mean(-1)
    assert small.gt(0.9).logical_or(small.lt(0.2)).all()
    assert 0.4 < small.gt(0.5).double().mean() < 0.6
    assert draws.shape == (400, 50)


def test_mean_and_variance_of_the_mixture():
    p = problem(seed=2)
    draws = p.sample((40000,))
    assert torch.allclose(p.variance.sqrt(), draws.std(0), rtol=0.05)
    assert torch.allclose(p.variance, (p.mixing_weights[0].t().unsqueeze(1) * p.scales.pow(2)).sum(0))
    assert torch.allclose(p.mean, draws.mean(0), atol=0.05)


def test_kl_is_an_upper_bound_of_the_monte_carlo_kl():
    p = problem(seed=3)
    q = dist.Normal(0.5 * torch.randn(3, 4, dtype=torch.float64), 0.05 + 0.3 * torch.rand(3, 4, dtype=torch.float64)).to_event(2)
    w = q.sample((100_000,))
    diff = q.log_prob(w) - p.log_prob(w)
    mc, se = diff.mean(), diff.std() / math.sqrt(len(diff))
    bound = kl_divergence(q, p)
    assert bound >= mc - 4 * se
    assert bound - mc < 1.0  # the gap is the components' posterior entropy: at most 4 ln 3 here, small in practice


def test_kl_is_exact_with_one_component_and_with_a_decided_component():
    q = dist.Normal(d([[0.3, -0.2], [0.1, 0.4]]), d([[0.1, 0.2], [0.05, 0.3]])).to_event(2)
    scales = d([[[0.5, 0.7]]]).expand(1, 2, 2)
    one = GroupNormalMixture(d([[1.0]]).expand(2, 1).reshape(1, 2, 1), scales)
    exact = kl_divergence(q.base_dist, dist.Normal(d(0.0), scales[0])).sum()
    assert torch.allclose(kl_divergence(q, one), exact)
    # a second component with a scale the weights rule out: the bound and the true KL agree
    two = GroupNormalMixture(d([0.5, 0.5]).expand(1, 2, 2), torch.cat([scales, torch.full_like(scales, 1e-4)]))
    assert torch.allclose(kl_divergence(q, two), exact - 2 * math.log(0.5), atol=1e-6)


def test_kl_gradients_in_float64():
    logits = torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True)
    z = (0.3 + torch.rand(3, 1, 4, dtype=torch.float64)).requires_grad_()
    mu = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    sigma = (0.1 + torch.rand(2, 4, dtype=torch.float64)).requires_grad_()

    def kl(logits, z, mu, sigma):
        return kl_divergence(dist.Normal(mu, sigma).to_event(2), GroupNormalMixture(logits.softmax(-1), z.expand(3, 2, 4)))

    assert torch.autograd.gradcheck(kl, (logits, z, mu, sigma))


@pytest.mark.parametrize("pi,scales,error,match", [
    (d([0.5, 0.5]), [[1.0], [1.0]], TypeError, "tensors"),
    (d([0.5, 0.5]), d([[1.0, 1.0]]), ValueError, "K = 2"),
    (d([0.5, 0.5]).expand(3, 2), d([[1.0, 1.0], [1.0, 1.0]]), ValueError, "group shape"),
    (d([0.5, 0.5]).expand(2, 1, 2), d([[1.0, 1.0], [1.0, 1.0]]), ValueError, "group shape"),
])
def test_bad_arguments(pi, scales, error, match):
    with pytest.raises(error, match=match):
        GroupNormalMixture(pi, scales)


def test_global_scale_multiplies_every_component_and_offsets_enter_the_log_sum_exp():
    p = problem(seed=4, shape=(2, 3), groups=(1, 3), k=2)
    tau = d(0.3)
    scaled = GroupNormalMixture(p.mixing_weights, p.scales, tau)
    assert torch.allclose(scaled.scales, 0.3 * p.scales)
    w = torch.randn(2, 3, dtype=torch.float64)
    assert torch.allclose(scaled.log_prob(w), GroupNormalMixture(p.mixing_weights, 0.3 * p.scales).log_prob(w))
    offsets = torch.randn(2, 1, 3, dtype=torch.float64)
    shifted = scaled.with_offsets(offsets)
    total = []
    for assignment in itertools.product(range(2), repeat=3):
        k = torch.tensor(assignment)
        scale = scaled.scales[k, :, torch.arange(3)].t()
        log_pi = (p.mixing_weights[0, torch.arange(3), k].log() + offsets[k, 0, torch.arange(3)]).sum()
        total.append(log_pi + dist.Normal(0.0, scale).log_prob(w).sum())
    assert torch.allclose(shifted.log_prob(w), torch.logsumexp(torch.stack(total), 0))
    with pytest.raises(ValueError, match="offsets"):
        scaled.with_offsets(offsets[:, :, :2])


def _bound(mu, sigma, log_pi, scales, offsets):
    """-H(q) - sum_g log sum_k pi_k exp(o_gk + sum_i E_q log N(w_i | 0, z_ki^2)), groups the columns."""
    e = (-0.5 * torch.log(2 * math.pi * scales.pow(2)) - (mu.pow(2) + sigma.pow(2)) / (2 * scales.pow(2))).sum(1, keepdim=True)
    entropy = (0.5 * torch.log(2 * math.pi * math.e * sigma.pow(2))).sum()
    return -entropy - torch.logsumexp(log_pi + e + offsets, 0).sum(), e + offsets


def test_kl_with_offsets_has_the_bound_value_and_each_component_the_gradient_of_its_own_evidence():
    torch.manual_seed(5)
    logits = torch.randn(1, 4, 3, dtype=torch.float64, requires_grad=True)
    local = (0.3 + torch.rand(3, 1, 4, dtype=torch.float64)).requires_grad_()
    tau = d(0.7).requires_grad_()
    offsets = torch.randn(3, 1, 4, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    sigma = (0.1 + torch.rand(2, 4, dtype=torch.float64)).requires_grad_()
    leaves = (logits, local, tau, offsets, mu, sigma)
    p = GroupNormalMixture(logits.softmax(-1), local.expand(3, 2, 4), tau, offsets)
    kl = kl_divergence(dist.Normal(mu, sigma).to_event(2), p)
    log_pi = logits.softmax(-1)[0].t().unsqueeze(1).log()
    bound, _ = _bound(mu, sigma, log_pi, tau * local.expand(3, 2, 4), offsets)
    assert torch.allclose(kl, bound)
    got = torch.autograd.grad(kl, leaves)
    plain = torch.autograd.grad(bound, leaves)
    # the mixing weights, the global scale and q(w): the bound's gradient
    for i in (0, 2, 4, 5):
        assert torch.allclose(got[i], plain[i]), i
    # a component's own scales and offsets: the gradient of its own evidence, not q(c = k) times it
    _, evidence = _bound(mu.detach(), sigma.detach(), log_pi.detach(), tau.detach() * local.expand(3, 2, 4), offsets)
    own = torch.autograd.grad(-evidence.sum(), (local, offsets))
    assert torch.allclose(got[1], own[0]) and torch.allclose(got[3], own[1])
    assert not torch.allclose(got[1], plain[1])


def test_component_sites_must_name_every_component():
    with pytest.raises(ValueError, match="2 component sites"):
        GroupNormalMixture(d([0.5, 0.5]), d([[1.0], [2.0]]), component_sites=("only_one",))
    p = GroupNormalMixture(d([0.5, 0.5]), d([[1.0], [2.0]]), component_sites=["a", "b"])
    assert p.component_sites == ("a", "b") and p.with_offsets(torch.zeros(2, 1, dtype=torch.float64)).component_sites == ("a", "b")


def test_with_offsets_keeps_the_batch_shape():
    p = GroupNormalMixture(d([0.5, 0.5]), d([[1.0], [2.0]])).expand((3,))
    q = p.with_offsets(torch.zeros(2, 1, dtype=torch.float64))
    assert q.batch_shape == (3,) and torch.equal(q.offsets, torch.zeros(2, 1, dtype=torch.float64))
