import pyro
import pytest
import torch
from pyro import poutine
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.priors import (
    PRIORS, AutomaticRelevanceDetermination, GroupHorseshoe, GroupNormalJeffreys, LaplacePrior, get_prior,
    register_prior,
)


def test_every_command_line_name_is_registered():
    assert {"vd", "group-nj", "group-hs", "io-nj", "laplace", "ard"} <= set(PRIORS)
    assert get_prior("ard").name == "ard"
    with pytest.raises(ValueError, match="Unknown prior 'nope'"):
        get_prior("nope")


@pytest.mark.parametrize("name", sorted(PRIORS))
def test_sites_and_shapes(name):
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))
    model = BayesianNetwork(net, get_prior(name))
    trace = poutine.trace(AutoCompressionGuide(model)).get_trace()
    assert trace.nodes["0.weight"]["value"].shape == (3, 2, 3, 3)
    assert trace.nodes["2.weight"]["value"].shape == (5, 48)
    for site in trace.nodes.values():
        if site["type"] == "sample":
            assert site["name"].split(".")[0] in ("0", "2") and torch.isfinite(site["value"]).all()


def test_horseshoe_auxiliary_decomposition_is_half_cauchy():
    # lambda = sqrt(a b), a ~ Gamma(1/2, 1), b ~ InvGamma(1/2, 1) => lambda ~ HalfCauchy(0, 1): median 1, quartile 3 at tan(3 pi / 8)
    import math

    a = pyro.distributions.Gamma(0.5, 1.0).sample((400_000,))
    b = pyro.distributions.InverseGamma(0.5, 1.0).sample((400_000,))
    lam = (a * b).sqrt()
    assert lam.median().item() == pytest.approx(1.0, rel=0.02)
    assert lam.quantile(0.75).item() == pytest.approx(math.tan(3 * math.pi / 8), rel=0.03)


def test_laplace_scale_mixture_marginal():
    # w | psi ~ N(0, psi), psi ~ Exp(rate^2 / 2)  =>  w ~ Laplace(0, 1 / rate): E|w| = 1 / rate
    rate = 4.0
    psi = pyro.distributions.Exponential(rate**2 / 2).sample((400_000,))
    w = torch.randn_like(psi) * psi.sqrt()
    assert w.abs().mean().item() == pytest.approx(1 / rate, rel=0.01)


@pytest.mark.parametrize("make,match", [
    (lambda: AutomaticRelevanceDetermination(a=0.0), "a > 0"),
    (lambda: AutomaticRelevanceDetermination(b=-1.0), "b > 0"),
    (lambda: AutomaticRelevanceDetermination(group="rows"), "group"),
    (lambda: GroupHorseshoe(tau0=float("inf")), "tau0 > 0"),
    (lambda: GroupNormalJeffreys(group="diagonal"), "group"),
    (lambda: LaplacePrior(rate=0), "rate > 0"),
])
def test_invalid_hyper_parameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_hyper_parameter_type_errors():
    with pytest.raises(TypeError, match="a to be a positive number"):
        AutomaticRelevanceDetermination(a="1")


def test_register_prior_rejects_non_priors():
    with pytest.raises(TypeError, match="Prior subclass"):
        register_prior("x")(object)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "3"])
def test_every_threshold_is_a_finite_number(value):
    from pyrocomp.priors import PRIORS
    from pyrocomp.pruning import GroupLogAlphaThreshold, LogAlphaThreshold, ScaleSitesLogAlphaThreshold

    for make in [*PRIORS.values(), LogAlphaThreshold, GroupLogAlphaThreshold, ScaleSitesLogAlphaThreshold]:
        with pytest.raises((ValueError, TypeError), match="threshold"):
            make(threshold=value)
