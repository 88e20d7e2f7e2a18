import itertools
import math

import pytest
import torch

from pyrocomp.mrf import (
    BernoulliSupport,
    IsingSupport,
    MarkovChainSupport,
    PairwisePotentials,
    SupportCanvas,
    from_grid,
    loopy_belief_propagation,
    to_grid,
)


def exact_marginals(unary, horizontal, vertical):
    """P(s = 1) of every node by enumerating all 2^(R C) configurations."""
    R, C = unary.shape
    states = torch.tensor(list(itertools.product([0, 1], repeat=R * C)), dtype=unary.dtype).reshape(-1, R, C)
    logp = (states * unary).sum((1, 2))
    for p, a, b in ((horizontal, states[:, :, :-1], states[:, :, 1:]), (vertical, states[:, :-1], states[:, 1:])):
        if p is None:
            continue
        f = ((1 - a) * (1 - b) * p.f00 + (1 - a) * b * p.f01 + a * (1 - b) * p.f10 + a * b * p.f11) * p.mask
        logp = logp + f.sum((1, 2))
    w = torch.softmax(logp, 0)
    return (w[:, None, None] * states).sum(0)


def random_potentials(shape, generator, mask_p=1.0):
    f = [torch.randn(shape, generator=generator, dtype=torch.float64) for _ in range(4)]
    mask = torch.rand(shape, generator=generator, dtype=torch.float64) < mask_p
    return PairwisePotentials(*f, mask=mask)


@pytest.mark.parametrize("length", [1, 2, 7, 12])
def test_chain_equals_enumeration(length):
    g = torch.Generator().manual_seed(length)
    unary = 2 * torch.randn(1, length, generator=g, dtype=torch.float64)
    h = random_potentials((1, length - 1), g)
    result = loopy_belief_propagation(unary, h, None, max_iterations=100, tolerance=1e-12)
    assert result.converged and result.iterations <= length + 1
    assert torch.allclose(torch.sigmoid(result.log_odds), exact_marginals(unary, h, None), atol=1e-10)


def test_tree_equals_enumeration():
    # a comb: every row a chain, joined through the first column only; a tree of 12 nodes
    g = torch.Generator().manual_seed(1)
    unary = 2 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    h = random_potentials((3, 3), g)
    v = random_potentials((2, 4), g)
    v.mask = torch.zeros(2, 4, dtype=torch.bool)
    v.mask[:, 0] = True
    result = loopy_belief_propagation(unary, h, v, max_iterations=100, tolerance=1e-12)
    assert result.converged
    assert torch.allclose(torch.sigmoid(result.log_odds), exact_marginals(unary, h, v), atol=1e-10)


def test_vertical_chain_equals_enumeration():
    g = torch.Generator().manual_seed(2)
    unary = torch.randn(6, 1, generator=g, dtype=torch.float64)
    v = random_potentials((5, 1), g)
    result = loopy_belief_propagation(unary, None, v, tolerance=1e-12)
    assert torch.allclose(torch.sigmoid(result.log_odds), exact_marginals(unary, None, v), atol=1e-10)


@pytest.mark.parametrize("support", [IsingSupport(0.1, 0.3), IsingSupport(0.3, 0.3, 0.2, 0.4)])
def test_loopy_grid_close_to_enumeration(support):
    # 3 x 4 Ising support prior with random evidence: loopy BP is approximate; on this weakly
    # coupled grid its marginals are within 0.03 of the exact ones
    g = torch.Generator().manual_seed(3)
    like = torch.zeros((), dtype=torch.float64)
    prior_unary, h, v = support.potentials(3, 4, like)
    evidence = 1.5 * torch.randn(3, 4, generator=g, dtype=torch.float64)
    result = loopy_belief_propagation(prior_unary + evidence, h, v, damping=0.2, max_iterations=500, tolerance=1e-10)
    exact = exact_marginals(prior_unary + evidence, h, v)
    assert result.converged
    error = (torch.sigmoid(result.log_odds) - exact).abs().max()
    assert error < 0.03
    assert error > 1e-6  # the grid has loops: BP is not exact there


def test_chain_support_is_exact_per_row():
    g = torch.Generator().manual_seed(4)
    like = torch.zeros((), dtype=torch.float64)
    prior_unary, h, v = MarkovChainSupport(0.05, 0.2).potentials(3, 5, like)
    assert v is None
    evidence = 2 * torch.randn(3, 5, generator=g, dtype=torch.float64)
    result = loopy_belief_propagation(prior_unary + evidence, h, v, tolerance=1e-12)
    assert torch.allclose(torch.sigmoid(result.log_odds), exact_marginals(prior_unary + evidence, h, v), atol=1e-10)


def test_chain_prior_marginal_is_stationary():
    # no evidence: every node of a chain started in its stationary law has that law
    support = MarkovChainSupport(0.05, 0.2)
    unary, h, _ = support.potentials(2, 9, torch.zeros((), dtype=torch.float64))
    result = loopy_belief_propagation(unary, h, None, tolerance=1e-12)
    assert torch.allclose(torch.sigmoid(result.log_odds), torch.full((2, 9), 0.2, dtype=torch.float64), atol=1e-10)


def test_damping_keeps_fixed_point():
    g = torch.Generator().manual_seed(5)
    unary = torch.randn(1, 6, generator=g, dtype=torch.float64)
    h = random_potentials((1, 5), g)
    plain = loopy_belief_propagation(unary, h, None, tolerance=1e-12)
    damped = loopy_belief_propagation(unary, h, None, damping=0.5, max_iterations=1000, tolerance=1e-12)
    assert torch.allclose(plain.log_odds, damped.log_odds, atol=1e-9)
    assert damped.iterations > plain.iterations


def test_warm_start_converges_at_once():
    g = torch.Generator().manual_seed(6)
    unary = torch.randn(4, 5, generator=g, dtype=torch.float64)
    h, v = random_potentials((4, 4), g), random_potentials((3, 5), g)
    first = loopy_belief_propagation(unary, h, v, damping=0.3, max_iterations=500, tolerance=1e-10)
    again = loopy_belief_propagation(unary, h, v, first.messages, damping=0.3, max_iterations=500, tolerance=1e-10)
    assert again.iterations == 1 and torch.allclose(first.log_odds, again.log_odds, atol=1e-9)


def test_extreme_but_legal_values_stay_finite():
    support = IsingSupport(1e-4, 1e-4)
    unary, h, v = support.potentials(30, 40, torch.zeros(()))
    evidence = torch.linspace(-1e6, 1e6, 1200).reshape(30, 40)
    result = loopy_belief_propagation(unary + evidence, h, v, max_iterations=50)
    assert torch.isfinite(result.log_odds).all()


@pytest.mark.parametrize("bad", [dict(damping=1.0), dict(damping=-0.1), dict(max_iterations=0), dict(tolerance=0.0)])
def test_bad_options(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        loopy_belief_propagation(torch.zeros(2, 2), **bad)


@pytest.mark.parametrize("kwargs", [dict(p01_row=0.0), dict(p01_row=1.0), dict(p10_row=1.5), dict(p01_col=-0.2)])
def test_bad_transition_probabilities(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        IsingSupport(**kwargs)


def test_bernoulli_support_has_no_edges():
    unary, h, v = BernoulliSupport(0.3).potentials(2, 3, torch.zeros(()))
    assert h is None and v is None
    assert torch.allclose(torch.sigmoid(unary), torch.full((2, 3), 0.3))


@pytest.mark.parametrize("shape", [(7, 5), (4, 3, 5, 5), (6, 2, 3, 1), (5,)])
def test_layout_round_trip(shape):
    w = torch.randn(shape)
    assert torch.equal(from_grid(to_grid(w), shape), w)


def test_conv_layout_keeps_kernels_contiguous():
    w = torch.arange(2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
    grid = to_grid(w)
    assert grid.shape == (10, 15)
    assert torch.equal(grid[5:10, 10:15], w[1, 2])  # kernel (out 1, in 2) is one 5x5 tile


def test_canvas_is_disjoint_union_of_layers():
    # BP on the packed canvas equals BP on each layer's grid alone
    g = torch.Generator().manual_seed(7)
    like = torch.zeros((), dtype=torch.float64)
    layers = [("a", (3, 4), IsingSupport(0.1, 0.3)), ("b", (2, 1, 3, 3), MarkovChainSupport(0.2, 0.1)),
              ("c", (5, 2), BernoulliSupport(0.4))]
    canvas = SupportCanvas(layers, like)
    evidence = {name: torch.randn(shape, generator=g, dtype=torch.float64) for name, shape, _ in layers}
    out, result = canvas.extrinsic(evidence, tolerance=1e-12, max_iterations=500)
    for name, shape, support in layers:
        unary, h, v = support.potentials(*to_grid(evidence[name]).shape, like)
        alone = loopy_belief_propagation(unary + to_grid(evidence[name]), h, v, tolerance=1e-12, max_iterations=500)
        assert torch.allclose(to_grid(out[name]), alone.log_odds - to_grid(evidence[name]), atol=1e-9), name
    # the Bernoulli layer's extrinsic message is its prior
    assert torch.allclose(out["c"], torch.full((5, 2), math.log(0.4 / 0.6), dtype=torch.float64))
