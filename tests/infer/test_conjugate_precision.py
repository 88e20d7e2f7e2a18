import pyro
import pytest
import torch
from torch import nn
from torch.distributions import kl_divergence

from pyrocomp.guides import AutoCompressionGuide, ClosedFormGamma, TaylorNormal, taylor_posterior_family
from pyrocomp.infer import ConjugatePrecision, ExactSecondMoment, TaylorMeanField_ELBO, fit, precision_update
from pyrocomp.infer.taylor_mean_field_elbo import _kl_normal_fixed_scales
from pyrocomp.nn import BayesianNetwork
from pyrocomp.priors import AutomaticRelevanceDetermination


def setup(group=None):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 4))
    model = BayesianNetwork(net, AutomaticRelevanceDetermination(a=0.5, b=1e-3, group=group), dataset_size=50)
    guide = AutoCompressionGuide(model, posterior_family=taylor_posterior_family)
    return model, guide


def test_families_and_per_weight_update_is_the_conjugate_maximiser():
    model, guide = setup()
    assert isinstance(guide.posteriors["0/weight"], TaylorNormal)
    assert isinstance(guide.posteriors["0/precision"], ClosedFormGamma)
    assert [p for p in guide.parameters() if p.requires_grad] == [guide.posteriors[k].loc for k in ("0/weight", "3/weight")]
    ConjugatePrecision(model, guide).update()
    for key in ("0", "3"):
        w, rho = guide.posteriors[f"{key}/weight"], guide.posteriors[f"{key}/precision"]
        # the support-free case of paper 001's update, whose maximiser property tests/infer/test_sparse_vbi.py checks
        c, r = precision_update(torch.ones_like(w.loc), w.loc.pow(2), 0.5, 1e-3, 0.5, 1e-3)
        assert torch.allclose(rho.concentration, c) and torch.allclose(rho.rate, r)
        assert torch.allclose(w.scale, (r / c).sqrt())


def test_group_update_sums_over_the_group():
    model, guide = setup(group="in")
    ConjugatePrecision(model, guide).update()
    w, rho = guide.posteriors["3/weight"], guide.posteriors["3/precision"]
    assert rho.rate.shape == (1, 48)
    assert torch.allclose(rho.concentration, torch.full((1, 48), 0.5 + 4 / 2))
    assert torch.allclose(rho.rate, 1e-3 + 0.5 * w.loc.pow(2).sum(0, keepdim=True))
    assert torch.allclose(w.scale, (rho.rate / rho.concentration).sqrt().expand(4, 48))


def test_fast_normal_kl_equals_closed_form_with_same_gradient():
    torch.manual_seed(1)
    loc = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    q = pyro.distributions.Normal(loc, torch.rand(5, 3, dtype=torch.float64) + 0.1).to_event(2)
    p = pyro.distributions.Normal(torch.zeros(5, 3, dtype=torch.float64), torch.rand(5, 3, dtype=torch.float64) + 0.1).to_event(2)
    fast, exact = _kl_normal_fixed_scales(q, p), kl_divergence(q, p)
    assert torch.allclose(fast, exact)
    (g_fast,) = torch.autograd.grad(fast, loc)
    (g_exact,) = torch.autograd.grad(exact, loc)
    assert torch.allclose(g_fast, g_exact)
    trainable = pyro.distributions.Normal(loc, torch.ones(5, 3, dtype=torch.float64, requires_grad=True)).to_event(2)
    assert _kl_normal_fixed_scales(trainable, p) is None


def test_fit_with_conjugate_updates_prunes_and_stays_finite():
    model, guide = setup()
    x, y = torch.randn(50, 1, 6, 6), torch.randint(0, 4, (50,))
    assert isinstance(guide.hook(ConjugatePrecision), ConjugatePrecision)  # built with the guide
    history = fit(model, guide, (x, y), epochs=5, batch_size=25, lr=1e-2, elbo=TaylorMeanField_ELBO(), progress=False)
    losses = [h["loss"] for h in history]
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]
    assert ConjugatePrecision(model, guide).layers
    plain_guide = AutoCompressionGuide(model)
    assert not ConjugatePrecision(model, plain_guide).layers and plain_guide.hook(ConjugatePrecision) is None


@pytest.mark.parametrize("group", [None, "out"])
def test_taylor_loss_with_closed_form_families_is_deterministic(group):
    model, guide = setup(group)
    ConjugatePrecision(model, guide).update()
    x, y = torch.randn(8, 1, 6, 6), torch.randint(0, 4, (8,))
    elbo = TaylorMeanField_ELBO()
    assert elbo.loss(model, guide, x, y) == elbo.loss(model, guide, x, y)


@pytest.mark.parametrize("group", [None, "in"])
def test_exact_second_moment_is_the_fixed_point_of_coordinate_ascent(group):
    model, guide = setup(group=group)
    ConjugatePrecision(model, guide, second_moment=ExactSecondMoment()).update()
    # oracle: alternate the two exact mean-field updates, q(rho) from <w^2> = mu^2 + sigma^2 and
    # sigma^2 = 1 / E[rho], until they stop moving
    for key in ("0", "3"):
        w, rho = guide.posteriors[f"{key}/weight"], guide.posteriors[f"{key}/precision"]
        dims = [d for d, n in enumerate(rho.rate.shape) if n == 1 and w.loc.shape[d] != 1]
        count = w.loc.numel() // rho.rate.numel()
        sigma2 = torch.ones_like(w.loc)
        for _ in range(20000):
            second = w.loc.pow(2) + sigma2
            rate = 1e-3 + 0.5 * (second.sum(dims, keepdim=True) if dims else second)
            sigma2 = (rate / (0.5 + count / 2)).expand_as(w.loc)
        assert torch.allclose(rho.rate, rate, rtol=1e-4)
        assert torch.allclose(rho.concentration, torch.full_like(rate, 0.5 + count / 2))
        assert torch.allclose(w.scale.pow(2), sigma2, rtol=1e-4)
        # E[rho] = a / (b + sum mu^2 / 2): the means feel a log penalty of weight a
        sum_sq = w.loc.pow(2).sum(dims, keepdim=True) if dims else w.loc.pow(2)
        assert torch.allclose(rho.concentration / rho.rate, 0.5 / (1e-3 + 0.5 * sum_sq), rtol=1e-5)


def test_bad_second_moment_is_a_type_error():
    model, guide = setup()
    with pytest.raises(TypeError, match="SecondMoment but got 'second'"):
        ConjugatePrecision(model, guide, second_moment="second")
    with pytest.raises(TypeError, match="SecondMoment but got 'exact'"):
        guide.hook(ConjugatePrecision).second_moment = "exact"


def test_ard_taylor_criterion_sits_three_nats_below_relevant_weights():
    import math

    from pyrocomp.pruning import default_criterion, summarize

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4))
    model = BayesianNetwork(net, AutomaticRelevanceDetermination(a=0.01, b=1e-6), dataset_size=50)
    guide = AutoCompressionGuide(model, posterior_family=taylor_posterior_family)
    w = guide.posteriors["0/weight"]
    with torch.no_grad():
        w.loc.copy_(torch.randn(4, 6).sign() * torch.rand(4, 6).add(0.5))
        w.loc[:, :2] = 1e-5  # irrelevant
    guide.hook(ConjugatePrecision).second_moment = ExactSecondMoment()  # the guide updates at its next call
    criterion = default_criterion(AutomaticRelevanceDetermination(a=0.01), TaylorMeanField_ELBO())
    assert criterion.threshold == pytest.approx(math.log(0.02) - 3)
    post = summarize(model, guide, num_samples=5000)["0"]  # E[rho] by Monte Carlo (se 2 %), shape a + 1/2
    score = (post.weight_mean.pow(2) * post.prior_precision).log()
    assert torch.allclose(score[:, 2:], torch.full((4, 4), math.log(0.02)), atol=0.1)  # relevant: ln 2a
    keep = criterion.keep(post)
    assert keep[:, 2:].all() and not keep[:, :2].any()
