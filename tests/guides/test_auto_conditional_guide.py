"""The amortised guide of conditional compression (paper 003, BHC), against oracles."""
import math

import pyro
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.data import load_dataset
from pyrocomp.guides import (AutoConditionalGuide, ClassSubset, CompressionLevel, Context, FullHead, Heads,
                             InputDomain, LowRankHead, Task)
from pyrocomp.infer import fit, fit_conditional
from pyrocomp.nn import GaussianLikelihood
from pyrocomp.priors import InputOutputNormalJeffreys, TurboPrior
from pyrocomp.pruning import ScaleLogAlphaThreshold, compress, compress_contexts, context_error


def _digits_model(hidden=20):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    return BayesianNetwork(net, InputOutputNormalJeffreys(), dataset_size=1000)


CONTEXTS = {
    "classes": lambda: ClassSubset(10),
    "inputs": lambda: InputDomain((1, 8, 8), 10),
    "level": lambda: CompressionLevel((0.1, 1.0)),
}
HEADS = {"shared-weights": Heads(), "low-rank": Heads(weights=LowRankHead(3)), "full": Heads(weights=FullHead)}


def _all_params(guide, context=None):
    with torch.no_grad():
        if context is None:
            return {k: {n: v.clone() for n, v in m.params().items()} for k, m in guide.posteriors.items()}
        shifts = guide.shifts(context)
        return {k: {n: v + shifts.get(k, {}).get(n, 0) for n, v in m.params().items()} for k, m in guide.posteriors.items()}


@pytest.mark.parametrize("heads", HEADS, ids=str)
@pytest.mark.parametrize("name", CONTEXTS)
def test_at_initialisation_every_context_gets_the_unconditional_posterior(name, heads):
    pyro.clear_param_store()
    model = _digits_model()
    data = load_dataset("digits")
    unconditional = AutoCompressionGuide(model, init_scale=0.05)
    with torch.no_grad():  # an unconditional posterior that is not the default start
        for module in unconditional.posteriors.values():
            for name_, value in module.params().items():
                getattr(module, f"{name_}_unconstrained").add_(0.1 * torch.randn_like(value))
    expected = _all_params(unconditional)
    context = CONTEXTS[name]()
    guide = AutoConditionalGuide(model, context, heads=HEADS[heads], unconditional=unconditional)
    means = unconditional.mean()
    for _, c, _ in context.test_contexts(data.test):
        got = _all_params(guide, c)
        assert all(torch.equal(got[k][n], expected[k][n]) for k in expected for n in expected[k])
        with guide.given(c):
            assert all(torch.equal(value, means[site]) for site, value in guide.mean().items())


def test_heads_cost_what_their_form_says():
    model = _digits_model(hidden=20)
    weights = 64 * 20 + 20 * 10
    scales = 64 + 20 + 20 + 10  # input and output scales of both layers
    counts = {}
    for form, heads in HEADS.items():
        guide = AutoConditionalGuide(model, CompressionLevel(), heads=heads)
        counts[form] = sum(p.numel() for p in guide.heads.parameters())
    e = CompressionLevel.embedding_dim
    assert counts["shared-weights"] == 2 * scales * e  # loc and log_scale of every scale
    assert counts["full"] == counts["shared-weights"] + 2 * weights * e
    assert counts["low-rank"] == counts["shared-weights"] + 2 * 2 * 3 * e + 2 * 3 * weights


def _finite_difference_check(heads):
    # float64: the gradient of the ELBO (fixed noise) in a head's weights against central differences
    torch.set_default_dtype(torch.float64)
    try:
        pyro.clear_param_store()
        torch.manual_seed(0)
        model = BayesianNetwork(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), InputOutputNormalJeffreys(),
                                dataset_size=20)
        context = CompressionLevel((1.0, 0.5))
        guide = AutoConditionalGuide(model, context, heads=heads)
        with torch.no_grad():
            for p in guide.heads.parameters():
                p.normal_(0, 0.1)
        x, y, c = torch.randn(5, 3), torch.randint(0, 2, (5,)), context.context_of(1)

        def loss():
            pyro.set_rng_seed(7)
            return TraceMeanField_ELBO().differentiable_loss(model, guide, x, y, c)

        params = dict(guide.heads.named_parameters())
        grads = torch.autograd.grad(loss(), list(params.values()))
        assert all(bool(g.abs().sum() > 0) for g in grads)  # every head
        for (name, p), g in zip(params.items(), grads):
            for index in [(0,) * p.dim(), tuple(n - 1 for n in p.shape)]:
                with torch.no_grad():
                    p[index] += 1e-6
                    up = loss()
                    p[index] -= 2e-6
                    down = loss()
                    p[index] += 1e-6
                assert (up - down).item() / 2e-6 == pytest.approx(g[index].item(), rel=1e-5, abs=1e-7), name
    finally:
        torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("heads", HEADS, ids=str)
def test_gradients_reach_every_head(heads):
    _finite_difference_check(HEADS[heads])


def test_bad_contexts_raise_clear_errors():
    model = _digits_model()
    classes = ClassSubset(10)
    guide = AutoConditionalGuide(model, classes)
    with pytest.raises(ValueError, match=r"shape \(10,\) but got \(9,\)"):
        guide.shifts(torch.ones(9))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        guide.shifts(torch.full((10,), 1.5))
    with pytest.raises(ValueError, match=r"not all 0"):
        guide.shifts(torch.zeros(10))
    with pytest.raises(ValueError, match="Unknown class 12"):
        classes.context_of([3, 12])
    with pytest.raises(ValueError, match="finite"):
        guide.shifts(torch.full((10,), float("nan")))
    with pytest.raises(TypeError, match="context tensor"):
        guide.shifts([0, 1])
    levels = CompressionLevel((0.1, 1.0))
    with pytest.raises(ValueError, match="Unknown compression level 2; the hypernetwork was trained on levels 0..1"):
        levels.context_of(2)
    with pytest.raises(ValueError, match="one-hot"):
        levels.check(torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="Expected a context"):
        guide(torch.zeros(2, 1, 8, 8), None)
    with pytest.raises(RuntimeError, match="needs a context"):
        guide.mean()
    with pytest.raises(TypeError, match="closed form"):
        AutoConditionalGuide(BayesianNetwork(nn.Linear(3, 2), TurboPrior()), classes)
    with pytest.raises(TypeError, match="Context"):
        AutoConditionalGuide(model, "classes")


def test_plain_svi_trains_the_encoder_and_heads():
    pyro.clear_param_store()
    model = _digits_model()
    data = load_dataset("digits")
    context = ClassSubset(10)
    guide = AutoConditionalGuide(model, context)
    before = {n: p.detach().clone() for n, p in guide.heads.named_parameters()}
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    for task in context.tasks(data.train, 50, torch.Generator().manual_seed(0)):
        model.dataset_size = task.size
        assert math.isfinite(svi.step(task.x, task.y, task.context))
    assert any(name.startswith("AutoConditionalGuide.heads") for name in pyro.get_param_store().keys())
    assert any(name.startswith("AutoConditionalGuide.encoder") for name in pyro.get_param_store().keys())
    assert all(not torch.equal(before[n], p) for n, p in guide.heads.named_parameters())


class Relevance(Context):
    """A context of the synthetic regression: which pair of the six inputs drives the response."""

    shape = (3,)
    embedding_dim = 3
    relevant = ([0, 1], [2, 3], [4, 5])

    def encoder(self):
        return nn.Identity()  # the one-hot context is the embedding: the heads hold a posterior per context

    def data(self, k, n, generator):
        x = torch.randn(n, 6, generator=generator)
        return x, 2.0 * x[:, self.relevant[k]].sum(1, keepdim=True) + 0.1 * torch.randn(n, 1, generator=generator)

    def tasks(self, data, batch_size, generator):
        for _ in range(6):
            k = int(torch.randint(3, (), generator=generator))
            x, y = self.data(k, batch_size, generator)
            yield Task(x, y, torch.eye(3)[k], 300, 1.0)

    def test_contexts(self, data):
        return [(f"inputs {self.relevant[k]}", torch.eye(3)[k], None) for k in range(3)]


def _regression_model():
    torch.manual_seed(1)
    return BayesianNetwork(nn.Linear(6, 1, bias=False), InputOutputNormalJeffreys(), likelihood=GaussianLikelihood(0.1))


#: relevant inputs' log dropout rates settle near -10, irrelevant ones' above -3 (the prior's KL is nearly flat there)
CRITERION = ScaleLogAlphaThreshold(-4.0)


def _kept_inputs(result):
    return result.masks["0"].any(0).nonzero().flatten().tolist()


def test_each_context_keeps_its_own_inputs_where_one_posterior_keeps_the_union():
    pyro.clear_param_store()
    context = Relevance()
    model = _regression_model()
    guide = AutoConditionalGuide(model, context, heads=Heads(weights=FullHead))
    dummy = torch.utils.data.TensorDataset(torch.zeros(300, 6), torch.zeros(300, 1))
    fit_conditional(model, guide, dummy, epochs=240, lr=2e-2, batch_size=50, progress=False)
    wrong = 0
    for k in range(3):
        result = compress(model, guide, torch.zeros(1, 6), context=torch.eye(3)[k], criterion=CRITERION)
        wrong += len(set(_kept_inputs(result)) ^ set(context.relevant[k]))
    assert wrong <= 1  # of 18 input decisions
    # one posterior for the three contexts' pooled data must keep every input
    pyro.clear_param_store()
    pooled = [context.data(k, 100, torch.Generator().manual_seed(k)) for k in range(3)]
    x, y = torch.cat([p[0] for p in pooled]), torch.cat([p[1] for p in pooled])
    model = _regression_model()
    unconditional = AutoCompressionGuide(model)
    fit(model, unconditional, (x, y), epochs=240, lr=2e-2, batch_size=50, progress=False)
    assert _kept_inputs(compress(model, unconditional, x[:1], criterion=CRITERION)) == list(range(6))


def _elbo(model, guide, *args):
    elbo = TraceMeanField_ELBO(num_particles=200, vectorize_particles=True, max_plate_nesting=1)
    losses = torch.tensor([elbo.loss(model, guide, *args) for _ in range(20)])
    return -losses.mean().item(), losses.std().item() / math.sqrt(20)


def test_with_one_context_the_conditional_fit_reaches_the_unconditional_elbo():
    # one context: the hypernetwork's family is the unconditional one (theta + h(e) spans the same set), so from
    # the same start and the same steps both fits must reach the same ELBO, within Monte Carlo error
    g = torch.Generator().manual_seed(3)
    x = torch.randn(200, 6, generator=g)
    y = 2.0 * x[:, :2].sum(1, keepdim=True) + 0.1 * torch.randn(200, 1, generator=g)
    data = torch.utils.data.TensorDataset(x, y)
    pyro.clear_param_store()
    model = _regression_model()
    unconditional = AutoCompressionGuide(model)
    fit(model, unconditional, data, epochs=300, lr=1e-2, batch_size=200, progress=False)
    start = _elbo(model, unconditional, x, y)[0]
    one = CompressionLevel((1.0,))
    conditional = AutoConditionalGuide(model, one, heads=Heads(weights=FullHead), unconditional=unconditional)
    assert _elbo(model, conditional, x, y, one.context_of(0))[0] == pytest.approx(start, abs=1.0)
    fit(model, unconditional, data, epochs=300, lr=2e-3, batch_size=200, progress=False)
    fit_conditional(model, conditional, data, epochs=300, lr=2e-3, batch_size=200, progress=False)
    elbo_u, se_u = _elbo(model, unconditional, x, y)
    elbo_c, se_c = _elbo(model, conditional, x, y, one.context_of(0))
    assert elbo_u > start - 1.0
    assert abs(elbo_c - elbo_u) < 4 * math.hypot(se_u, se_c) + 1.0


def test_a_class_subset_network_predicts_its_classes_alone():
    pyro.clear_param_store()
    data = load_dataset("digits")
    model = _digits_model()
    context = ClassSubset(10)
    guide = AutoConditionalGuide(model, context)
    fit_conditional(model, guide, data.train, epochs=3, lr=1e-2, batch_size=64, progress=False)
    x, y = data.test.tensors
    c = context.context_of([3, 7])
    result = compress(model, guide, x[:32], context=c)
    assert result.outputs == [3, 7] and result.network[-1].out_features == 2
    assert result.report.layers[-1].out_kept == 2
    # the same weights without the class restriction: the kept classes' logits are unchanged
    with guide.given(c):
        full = compress(model, guide, x[:32])
    rows = (y == 3) | (y == 7)
    logits = result.network(x[rows])
    # hidden units read only by removed classes are gone, so compare through the masked dense network
    assert logits.shape == (int(rows.sum()), 2)
    predicted = torch.tensor([3, 7])[logits.argmax(-1)]
    assert context_error(result.network, (x[rows], y[rows]), [3, 7]) == pytest.approx(
        (predicted != y[rows]).float().mean().item())
    assert context_error(full.network, (x[rows], y[rows]), [3, 7]) == pytest.approx(
        (torch.tensor([3, 7])[full.network(x[rows])[:, [3, 7]].argmax(-1)] != y[rows]).float().mean().item())
    results = compress_contexts(model, guide, context.test_contexts(data.test), x[:32], data=data.test)
    assert [r.label for r in results] == [f"classes {k}+{(k + 1) % 10}" for k in range(10)]
    assert all(r.error is not None and r.milliseconds > 0 and len(r.compression.outputs) == 2 for r in results)
