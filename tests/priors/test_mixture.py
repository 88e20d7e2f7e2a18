import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import TraceEnum_ELBO
from scipy import integrate, stats
from torch import nn
from torch.distributions import kl_divergence

from pyrocomp.distributions import GroupNormalMixture, Rayleigh, ScaleMixture
from pyrocomp.guides import AutoCompressionGuide, DirichletPosterior
from pyrocomp.guides.posteriors import MeanFieldNormal
from pyrocomp.infer import fit
from pyrocomp.nn import BayesianNetwork
from pyrocomp.nn.likelihoods import GaussianLikelihood
from pyrocomp.priors import (COMPONENTS, AuxiliaryMixturePrior, BlockCoupling, MixturePrior,
                             PerComponentMixturePrior)
from pyrocomp.pruning import compress, mixing_weights
from scale_oracles import ComponentScale, LogUniformInterval
from synthetic import block_sparse_problem


def d(x):
    return torch.tensor(x, dtype=torch.float64)


def components():
    return [dist.HalfCauchy(d(0.5)), Rayleigh(d(0.3)), LogUniformInterval(d(1e-3), d(2.0))]


def test_component_densities_match_scipy():
    z = d([0.01, 0.2, 1.5])
    assert torch.allclose(Rayleigh(d(0.3)).log_prob(z), d(stats.rayleigh(scale=0.3).logpdf(z.numpy())))
    assert torch.allclose(LogUniformInterval(d(1e-3), d(2.0)).log_prob(z), d(stats.loguniform(1e-3, 2.0).logpdf(z.numpy())))
    # the Laplace component: w | z ~ N(0, z^2) with z ~ Rayleigh(s) is Laplace(0, s) in w
    w = 0.7
    marginal, _ = integrate.quad(lambda s: math.exp(float(Rayleigh(d(0.3)).log_prob(d(s)))) * stats.norm(0, s).pdf(w), 0, 20)
    assert marginal == pytest.approx(stats.laplace(scale=0.3).pdf(w), rel=1e-6)


def test_normal_jeffreys_component_is_the_student_t_limit():
    from pyrocomp.priors.mixture import normal_jeffreys

    unit, eps = d(0.2), 0.05
    component = normal_jeffreys(unit, eps)
    z = d([1e-6, 0.01, 0.3, 50.0])
    # z^-2 ~ Gamma(eps, eps unit^2): p(z) = Gamma(z^-2) * 2 z^-3
    expected = stats.gamma(eps, scale=1 / (eps * 0.04)).logpdf((z ** -2).numpy()) + math.log(2) - 3 * z.log().numpy()
    assert torch.allclose(component.log_prob(z), d(expected))
    # the marginal of w is Student-t with 2 eps degrees of freedom and scale unit
    w = 0.3
    density = lambda s: math.exp(float(component.log_prob(d(s)))) * stats.norm(0, s).pdf(w)  # noqa: E731
    marginal = sum(integrate.quad(density, lo, hi, limit=400)[0] for lo, hi in [(1e-8, 1e-2), (1e-2, 1), (1, 1e3), (1e3, 1e7)])
    assert marginal == pytest.approx(stats.t(2 * eps, scale=0.2).pdf(w), rel=1e-4)
    # full support: a mixture of it alone never gives -inf
    alone = ScaleMixture(d([1.0]), [component])
    assert torch.isfinite(alone.log_prob(d([1e-30, 1e-8, 1e8]))).all()


def test_mixture_density_is_the_explicit_sum_and_normalised():
    pi = d([0.2, 0.3, 0.5])
    mixture = ScaleMixture(pi, components())
    z = d([0.0005, 0.01, 0.4, 1.9, 3.0])
    explicit = sum(p * torch.where(c.support.check(z), c.log_prob(z.clamp(1e-3, 2.0) if isinstance(c, LogUniformInterval) else z).exp(), 0.0)
                   for p, c in zip(pi, components()))
    assert torch.allclose(mixture.log_prob(z).exp(), explicit)
    density = lambda x: math.exp(float(mixture.log_prob(d(x))))  # noqa: E731
    total = integrate.quad(density, 0, 2.0, points=[1e-3], limit=400)[0] + integrate.quad(density, 2.0, math.inf)[0]
    assert total == pytest.approx(1.0, abs=1e-6)


def pair_components(like):
    return [auxiliary(name, like) for name in ("horseshoe", "laplace", "normal-jeffreys")]


@pytest.mark.parametrize("form", ["direct", "auxiliary"])
def test_enumerated_marginal_equals_explicit_sum(form):
    # TraceEnum_ELBO sums the component out of the un-marginalised model; it must give the closed form
    pi = d([0.2, 0.3, 0.5])
    if form == "direct":
        z, comps = d([0.05, 0.4, 1.2, 0.002]), [comp.expand([4]) for comp in components()]
    else:  # pairs (a, b), the mixture over their joint density
        z, comps = d([[0.05, 2.0], [0.4, 0.3], [1.2, 8.0], [0.002, 0.5]]), pair_components(d([1.0] * 4))

    def enumerated():
        with pyro.plate("groups", 4):
            c = pyro.sample("c", dist.Categorical(pi), infer={"enumerate": "parallel"})
            pyro.sample("z", ComponentScale(c, comps), obs=z)

    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(enumerated, lambda: None)
    assert -loss == pytest.approx(float(ScaleMixture(pi, comps).log_prob(z).sum()), rel=1e-10)


def test_component_scale_draws_pairs_of_its_component():
    torch.manual_seed(0)
    k = torch.tensor([1, 0])  # Laplace, then horseshoe
    draws = ComponentScale(k, pair_components(d([1.0, 1.0]))).sample((20_000,))
    assert draws.shape == (20_000, 2, 2)
    squared = draws.prod(-1)
    assert stats.kstest(squared[:, 0].numpy(), stats.expon(scale=2.0).cdf).pvalue > 1e-3
    assert stats.kstest(squared[:, 1].sqrt().numpy(), stats.halfcauchy.cdf).pvalue > 1e-3


def test_kl_pieces_against_numerical_integration():
    torch.manual_seed(0)
    q = dist.LogNormal(d(-1.0), d(0.3))
    p = ScaleMixture(d([0.2, 0.3, 0.5]), components())

    def integrand(x):
        lq = float(q.log_prob(d(x)))
        return math.exp(lq) * (lq - float(p.log_prob(d(x))))

    exact, _ = integrate.quad(integrand, 1e-6, 20, points=[math.exp(-1.0)], limit=400)
    draws = q.sample((200_000,))
    mc = q.log_prob(draws) - p.log_prob(draws)  # the ELBO's Monte-Carlo KL term for the scale
    assert float(mc.mean()) == pytest.approx(exact, abs=4 * float(mc.std()) / math.sqrt(len(draws)))
    # the mixing weights' KL is torch's closed form: check it against Monte Carlo
    qd, pd = dist.Dirichlet(d([2.0, 5.0, 1.0])), dist.Dirichlet(d([1.0, 1.0, 0.5]))
    pis = qd.sample((200_000,))
    mc = qd.log_prob(pis) - pd.log_prob(pis)
    assert float(kl_divergence(qd, pd)) == pytest.approx(float(mc.mean()), abs=4 * float(mc.std()) / math.sqrt(len(pis)))


def test_guide_has_dirichlet_posterior_and_concentration_is_learned():
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(32, 3)), MixturePrior(group="out"))
    guide = AutoCompressionGuide(model)
    assert isinstance(guide.posteriors["0/mixing_weights"], DirichletPosterior)
    assert guide.posteriors["0/scale"].loc.shape == (2, 1, 1, 1) and guide.posteriors["2/scale"].loc.shape == (3, 1)
    assert "net.0.mixture_log_concentration_unconstrained" in dict(model.named_parameters())
    fixed = BayesianNetwork(nn.Linear(3, 2), MixturePrior(learn_concentration=False))
    assert not any("concentration" in name for name, _ in fixed.named_parameters())


def single_component_problem(component, seed=0):
    torch.manual_seed(seed)
    out, inp, n, unit = 20, 30, 1000, d(0.1).float()
    prior = {"horseshoe": dist.HalfCauchy(unit), "laplace": Rayleigh(unit)}[component]
    w = prior.sample((out, inp)) * torch.randn(out, inp)
    x = torch.randn(n, inp)
    y = x @ w.t() + 0.05 * torch.randn(n, out)
    return x, y


@pytest.mark.parametrize("form", [MixturePrior, AuxiliaryMixturePrior, PerComponentMixturePrior],
                         ids=["shared", "auxiliary", "per-component"])
@pytest.mark.parametrize("component", ["horseshoe", "laplace"])
def test_mixing_weights_concentrate_on_the_true_component(component, form):
    x, y = single_component_problem(component)
    net = nn.Linear(30, 20, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.linalg.lstsq(x, y).solution.t())
    pyro.set_rng_seed(0)
    model = BayesianNetwork(net, form(group=None), likelihood=GaussianLikelihood(0.05),
                            dataset_size=len(x))
    guide = AutoCompressionGuide(model)
    # per-component scales: measured 0.97 (horseshoe) and 0.84 (Laplace) after 400 epochs, Laplace 0.79 after 150
    epochs = 400 if form is PerComponentMixturePrior else 150
    fit(model, guide, (x, y), epochs=epochs, lr=5e-2, batch_size=len(x), progress=False)
    weights = mixing_weights(model, guide)["0"]
    assert weights[component] > 0.8, weights


def test_block_prior_recovers_block_support_better_than_ungrouped():
    errors = {}
    # low signal-to-noise: measured 17 support errors of 192 with the 3x3 coupling, 25 without
    for name, prior in [("block", MixturePrior(group=None, block=BlockCoupling((3, 3), 0.3), threshold=-1.0)),
                        ("none", MixturePrior(group=None, threshold=-1.0))]:
        x, y, weight = block_sparse_problem(0, n=40, magnitude=0.3, noise=1.0)
        net = nn.Linear(16, 12, bias=False)
        with torch.no_grad():
            net.weight.copy_(torch.linalg.lstsq(x, y).solution.t())
        pyro.set_rng_seed(0)
        model = BayesianNetwork(net, prior, likelihood=GaussianLikelihood(1.0), dataset_size=40)
        guide = AutoCompressionGuide(model)
        fit(model, guide, (x, y), epochs=200, lr=3e-2, batch_size=40, progress=False)
        mask = compress(model, guide, x[:4], num_samples=32).masks["0"]
        errors[name] = int((mask != (weight != 0)).sum())
    assert errors["block"] < 0.8 * errors["none"], errors


@pytest.mark.parametrize("kwargs,match", [
    (dict(components=("horseshoe", "cauchy")), "components"),
    (dict(group="row"), "group"),
    (dict(block=BlockCoupling((3, 3))), "group=None"),
    (dict(concentration=0.0), "concentration"),
    (dict(tau0=0.0), "tau0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixturePrior(**kwargs)
    with pytest.raises(TypeError, match="BlockCoupling but got"):
        MixturePrior(group=None, block=(3, 3))
    with pytest.raises(ValueError, match="block"):
        BlockCoupling((0, 2))
    with pytest.raises(ValueError, match="variance >= 0"):
        BlockCoupling((2, 2), variance=-1.0)


def test_global_scale_multiplies_the_local_scales():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4))
    model = BayesianNetwork(net, MixturePrior(group="in", tau0=0.1))
    rms = float(net[0].weight.detach().pow(2).mean().sqrt())
    trace = pyro.poutine.trace(model.sample_latents).get_trace()
    tau, z = trace.nodes["0.global_scale"], trace.nodes["0.scale"]
    base = tau["fn"].base_dist
    assert torch.allclose(base.scale, torch.tensor(0.1 * rms))  # tau ~ C+(0, tau0 * RMS)
    # local components in units of tau: the horseshoe component is C+(0, 1)
    assert torch.allclose(z["fn"].base_dist.components[0].scale, torch.ones(1, 6))
    weight = trace.nodes["0.weight"]["fn"].base_dist
    assert torch.allclose(weight.scale, (tau["value"] * z["value"]).expand(4, 6))
    # the guide starts tau at its prior scale and each group's tau * z at the group's RMS (medians)
    guide = AutoCompressionGuide(model)
    tau0 = guide.posteriors["0/global_scale"].loc.exp()
    assert torch.allclose(tau0, torch.tensor(0.1 * rms), rtol=1e-5)
    group_rms = net[0].weight.detach().pow(2).mean(0, keepdim=True).sqrt()
    assert torch.allclose(tau0 * guide.posteriors["0/scale"].loc.exp(), group_rms, rtol=1e-5)


def auxiliary(name, like):
    from pyrocomp.priors.mixture import AUXILIARY_COMPONENTS

    return AUXILIARY_COMPONENTS[name](like)


@pytest.mark.parametrize("name,density", [
    ("horseshoe", lambda v: stats.halfcauchy.pdf(math.sqrt(v)) / (2 * math.sqrt(v))),
    ("laplace", lambda v: stats.expon(scale=2.0).pdf(v)),  # z^2 ~ Exp(1/2): the Rayleigh(1) scale
    ("normal-jeffreys", lambda v: stats.betaprime(0.05, 0.05).pdf(v)),
])
def test_auxiliary_components_have_the_intended_squared_scale(name, density):
    # p(v) of v = a b is the integral over b of p(b) p(a = v / b | b) / b, i.e. over t = log b of
    # p(b) p(a = v / b | b); the normal-Jeffreys integrand decays like exp(-2 eps t), hence eps = 0.05
    from pyrocomp.priors.mixture import AUXILIARY_COMPONENTS

    component = AUXILIARY_COMPONENTS[name](d(1.0), **({"eps": 0.05} if name == "normal-jeffreys" else {}))

    def integrand(log_b, v):
        b = math.exp(log_b)
        return math.exp(float(component.log_prob(d([v / b, b]))))

    pieces = [(-60, -5), (-5, 5), (5, 60), (60, 400)]
    for v in [0.01, 0.5, 3.0]:
        marginal = sum(integrate.quad(integrand, lo, hi, args=(v,), limit=400)[0] for lo, hi in pieces)
        assert marginal == pytest.approx(density(v), rel=1e-5), (name, v)


def test_auxiliary_mixture_density_and_draws():
    torch.manual_seed(0)
    pi = d([0.3, 0.7])
    mixture = ScaleMixture(pi, [auxiliary("horseshoe", d([1.0])), auxiliary("laplace", d([1.0]))])
    assert mixture.event_shape == (2,) and mixture.batch_shape == (1,)
    pairs = d([[[0.2, 3.0]], [[1.5, 0.1]]])
    explicit = sum(p * c.log_prob(pairs).exp() for p, c in zip(pi, mixture.components))
    assert torch.allclose(mixture.log_prob(pairs).exp(), explicit)
    # draws of sqrt(a b) follow the mixture of the half-Cauchy and the Rayleigh
    draws = mixture.sample((20_000,))
    assert draws.shape == (20_000, 1, 2) and bool((draws > 0).all())
    z = draws.prod(-1).sqrt().reshape(-1).numpy()
    cdf = lambda x: 0.3 * stats.halfcauchy.cdf(x) + 0.7 * stats.rayleigh.cdf(x)  # noqa: E731
    assert stats.kstest(z, cdf).pvalue > 1e-3


def test_auxiliary_form_sites_and_guide_start():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4))
    model = BayesianNetwork(net, AuxiliaryMixturePrior(group="in", tau0=0.1))
    rms = float(net[0].weight.detach().pow(2).mean().sqrt())
    trace = pyro.poutine.trace(model.sample_latents).get_trace()
    tau_pair, pair = trace.nodes["0.global_scale"]["value"], trace.nodes["0.scale"]["value"]
    assert tau_pair.shape == (1, 1, 2) and pair.shape == (1, 6, 2)
    tau = 0.1 * rms * tau_pair.prod(-1).sqrt()  # tau0 * RMS * sqrt(a b)
    weight = trace.nodes["0.weight"]["fn"].base_dist
    assert torch.allclose(weight.scale, (tau * pair.prod(-1).sqrt()).expand(4, 6))
    guide = AutoCompressionGuide(model)
    posterior = guide.posteriors["0/scale"]
    assert posterior.loc.shape == (1, 6, 2)
    # the guide starts tau at tau0 * RMS (a = b = 1) and tau * sqrt(a b) at each group's pretrained RMS, with b = 1
    assert torch.allclose(guide.posteriors["0/global_scale"].loc, torch.zeros(1, 1, 2), atol=1e-6)
    start = 0.1 * rms * posterior.loc.exp().prod(-1).sqrt()
    assert torch.allclose(start, net[0].weight.detach().pow(2).mean(0, keepdim=True).sqrt(), rtol=1e-5)
    assert torch.allclose(posterior.loc[..., 1], torch.zeros(1, 6), atol=1e-6)
    with pytest.raises(ValueError, match="AuxiliaryMixturePrior among"):
        AuxiliaryMixturePrior(components=("horseshoe", "student"))


def test_mixture_refuses_components_of_different_event_shapes():
    with pytest.raises(ValueError, match="one event shape"):
        ScaleMixture(d([0.5, 0.5]), [dist.HalfCauchy(d([1.0])), auxiliary("horseshoe", d([1.0]))])


def test_per_component_scales_sites_and_weight_prior():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 4))
    prior = PerComponentMixturePrior(group="in", tau0=0.1)
    model = BayesianNetwork(net, prior)
    trace = pyro.poutine.trace(model.sample_latents).get_trace()
    assert "0.scale" not in trace.nodes
    tau = trace.nodes["0.global_scale"]["value"]
    z = []
    for name in prior.components:
        site = trace.nodes[f"0.{name}_scale"]
        assert site["value"].shape == (1, 6)
        # each component's own scale under its own prior, in units of tau
        own = COMPONENTS[name](torch.ones(1, 6)).log_prob(site["value"]).sum()
        assert torch.allclose(site["fn"].log_prob(site["value"]), own)
        z.append(tau * site["value"])
    weight = trace.nodes["0.weight"]["fn"]
    assert isinstance(weight, GroupNormalMixture)
    assert weight.component_sites == tuple(f"0.{c}_scale" for c in prior.components)
    assert torch.allclose(weight.scales, torch.stack(z).expand(3, 4, 6))
    guide = AutoCompressionGuide(model)
    assert {f"0/{c}_scale" for c in prior.components} <= set(guide.posteriors)
    assert isinstance(guide.posteriors["0/weight"], MeanFieldNormal)


def test_per_component_scales_with_blocks_couple_each_component():
    torch.manual_seed(0)
    prior = PerComponentMixturePrior(group=None, block=BlockCoupling((2, 2)))
    model = BayesianNetwork(nn.Sequential(nn.Linear(6, 4)), prior)
    trace = pyro.poutine.trace(model.sample_latents).get_trace()
    layer = model.net[0]
    for k, name in enumerate(prior.components):
        z = trace.nodes[f"0.{name}_scale"]["value"]
        assert torch.allclose(trace.nodes["0.weight"]["fn"].scales[k], prior.block.scale(z, layer))
