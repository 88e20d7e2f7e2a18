"""Vectorised particles (``vectorize_particles=True`` in Pyro's ELBOs): the particles' weights are batched in
front of the weight shape and folded into the data batch through the plain network (ParticleFold)."""
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.nn import BayesianConv2d, BayesianLinear
from pyrocomp.priors import (AutomaticRelevanceDetermination, BlockCoupling, GroupHorseshoe, GroupNormalJeffreys,
                             InputOutputNormalJeffreys, LaplacePrior, LogUniformPrior, MixturePrior,
                             PerComponentMixturePrior)

PRIORS = {
    "vd": LogUniformPrior,
    "group-nj": GroupNormalJeffreys,
    "io-nj": InputOutputNormalJeffreys,
    "group-hs": GroupHorseshoe,
    "ard": AutomaticRelevanceDetermination,
    "laplace": LaplacePrior,
    "mixture": MixturePrior,
}


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 2 * 2, 5), nn.ReLU(), nn.Linear(5, 3)).double()


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(6, 2, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 3, (6,), generator=g)


@pytest.mark.parametrize("layer", [
    nn.Linear(5, 3),
    nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2),
    nn.Conv2d(3, 2, (3, 2), padding=2, dilation=2, bias=False),
])
def test_particle_op_is_op_for_each_particle(layer):
    bayes = {nn.Linear: BayesianLinear, nn.Conv2d: BayesianConv2d}[type(layer)](layer.double(), LogUniformPrior(), "l")
    x = torch.randn((4, 7) + ((5,) if isinstance(layer, nn.Linear) else (layer.in_channels, 6, 6)), dtype=torch.float64)
    w = torch.randn((4,) + tuple(layer.weight.shape), dtype=torch.float64)
    expected = torch.stack([bayes.op(x[p], w[p], bayes.bias) for p in range(4)])
    assert torch.allclose(bayes.particle_op(x, w, bayes.bias), expected, atol=1e-12)


def _loss(name, elbo_type, vectorized, num_particles):
    pyro.clear_param_store()
    pyro.set_rng_seed(2)
    model = BayesianNetwork(_net(), PRIORS[name](), dataset_size=100)
    guide = AutoCompressionGuide(model, init_scale=1e-30)  # every Gaussian draw is the posterior mean
    # the mixing weights' Dirichlet posterior has no point-mass limit that float64 scores accurately: fix them
    fixed = {name: torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
             for name in guide.prototype_trace.nodes if name.endswith("mixing_weights")}
    elbo = elbo_type(num_particles=num_particles, vectorize_particles=vectorized, max_plate_nesting=1)
    loss = elbo.differentiable_loss(poutine.condition(model, fixed), poutine.condition(guide, fixed), *_data())
    grads = torch.autograd.grad(loss, [p for p in guide.parameters() if p.requires_grad], allow_unused=True)
    return loss.detach(), grads


@pytest.mark.filterwarnings("ignore:Found non-auxiliary vars in guide")  # the fixed mixing weights
@pytest.mark.parametrize("elbo_type", [TraceMeanField_ELBO, Trace_ELBO])
@pytest.mark.parametrize("name", PRIORS)
def test_vectorized_particles_average_the_single_particle_elbo(name, elbo_type):
    # with point-mass posteriors every particle has the same ELBO, so P vectorised particles give one particle's
    # loss and gradients: shapes, the fold through the plain layers, the plates and the 1/P average all line up
    loss_1, grads_1 = _loss(name, elbo_type, False, 1)
    loss_p, grads_p = _loss(name, elbo_type, True, 4)
    assert torch.isfinite(loss_1)
    assert torch.allclose(loss_p, loss_1, rtol=1e-10)
    assert sum(a is not None for a in grads_1) >= 6
    for a, b in zip(grads_1, grads_p):
        assert (a is None and b is None) or torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def test_each_vectorized_particle_draws_its_own_pre_activations():
    # closed form vs Monte Carlo: across P particles one input's pre-activations have the local
    # reparameterisation's mean op(x, mu) + bias and variance op(x^2, sigma^2)
    torch.manual_seed(3)
    model = BayesianNetwork(nn.Linear(4, 3), GroupNormalJeffreys(), dataset_size=10)
    guide = AutoCompressionGuide(model, init_scale=0.3)
    x = torch.randn(2, 4)
    particles = 40_000
    with torch.no_grad(), pyro.plate("particles", particles, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(x)
        out = poutine.replay(model, trace=guide_trace)(x)
    assert out.shape == (particles, 2, 3)
    z = guide_trace.nodes["0.scale"]["value"][:, 0]  # (P, 1, in)
    q_w = guide.posterior("0.weight")
    loc, scale = z * q_w.loc, z.abs() * q_w.log_scale.exp()  # q(W | z) for each particle's z
    bias = model.net[0].bias.detach()
    # given z, the mean over particles of x mu_z and of the noise; E over z by the same draws
    mean = (torch.einsum("ni,poi->pno", x, loc) + bias).mean(0)
    var = (torch.einsum("ni,poi->pno", x.pow(2), scale.pow(2))
           + (torch.einsum("ni,poi->pno", x, loc) + bias - mean).pow(2)).mean(0)
    assert torch.allclose(out.mean(0), mean, atol=5 * (var / particles).sqrt().max().item())
    assert torch.allclose(out.var(0), var, rtol=0.04)


def test_svi_with_vectorized_particles_fits():
    pyro.clear_param_store()
    pyro.set_rng_seed(4)
    x, y = _data()
    model = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=len(x))
    guide = AutoCompressionGuide(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}),
              TraceMeanField_ELBO(num_particles=8, vectorize_particles=True, max_plate_nesting=1))
    losses = [svi.step(x, y) for _ in range(60)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-10:]) < sum(losses[:10])


@pytest.mark.parametrize("prior", [PerComponentMixturePrior(), MixturePrior(group=None, block=BlockCoupling((2, 2)))],
                         ids=["per-component", "block"])
def test_forms_without_batch_dimensions_refuse_particles_clearly(prior):
    model = BayesianNetwork(_net(), prior, dataset_size=100)
    guide = AutoCompressionGuide(model)
    elbo = Trace_ELBO(num_particles=2, vectorize_particles=True, max_plate_nesting=1)
    with pytest.raises(NotImplementedError, match="vectorize_particles=False"):
        elbo.differentiable_loss(model, guide, *_data())


def test_each_particle_runs_the_plain_network_with_its_own_weights():
    # exact oracle for the fold through convolutions, pooling and Flatten: particle p's outputs are those of the
    # plain network carrying particle p's sampled weights
    model = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=100)
    for _, layer in model.bayesian_layers():
        layer.local_reparam = False  # use the sampled weights themselves
    guide = AutoCompressionGuide(model, init_scale=0.5)
    x, _ = _data()
    with torch.no_grad(), pyro.plate("particles", 3, dim=-2):
        guide_trace = poutine.trace(guide).get_trace(x)
        out = poutine.replay(model, trace=guide_trace)(x)
    assert out.shape == (3, len(x), 3)
    for p in range(3):
        weights = {path: guide_trace.nodes[layer.weight_site]["value"][p, 0] for path, layer in model.bayesian_layers()}
        assert torch.allclose(out[p], model.to_plain(weights)(x), atol=1e-12)
    assert not torch.allclose(out[0], out[1])
