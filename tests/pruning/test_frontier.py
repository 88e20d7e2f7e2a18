"""Frontiers against hand-built posteriors and fronts with known curves."""
import math

import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.priors import LogUniformPrior
from pyrocomp.pruning import (LayerPosterior, LogAlphaThreshold, area_between_fronts, best_compression, dominates,
                              pareto_front, sweep_thresholds)


def _hand_built():
    torch.manual_seed(0)
    model = BayesianNetwork(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), LogUniformPrior(),
                            dataset_size=20)
    guide = AutoCompressionGuide(model)
    w0 = torch.tensor([[2.0, -1.0, 0.5, 0.0], [0.3, 1.5, -2.0, 1.0], [-1.0, 0.2, 0.7, -0.4]])
    w2 = torch.tensor([[1.0, -1.0, 0.5], [-1.0, 1.0, 0.5]])
    # layer 0's log dropout rates, every hidden unit keeping a weight at each threshold; layer 2 always kept
    alpha0 = torch.tensor([[-2.0, 0.0, 2.0, 0.0], [0.0, -2.0, 0.0, 2.0], [2.0, 0.0, -2.0, 2.0]])
    posteriors = {"0": LayerPosterior("0", w0, alpha0.exp() * w0 ** 2, alpha0),
                  "2": LayerPosterior("2", w2, 1e-6 * w2 ** 2, torch.full((2, 3), -6.0))}
    return model, guide, posteriors, w0, w2


def test_the_sweep_gives_the_known_curve_of_a_hand_built_posterior():
    model, guide, posteriors, w0, w2 = _hand_built()
    x = torch.randn(30, 4)
    y = torch.randint(0, 2, (30,))
    bias0, bias2 = model.net[0].bias.detach(), model.net[2].bias.detach()
    points = sweep_thresholds(model, guide, (x, y), x[:5], criterion=LogAlphaThreshold(), thresholds=[-1, 1, 3],
                              posteriors=posteriors)
    assert [p["threshold"] for p in points] == [-1, 1, 3]
    for p, kept0 in zip(points, [3, 8, 12]):
        mask = posteriors["0"].log_alpha < p["threshold"]
        assert int(mask.sum()) == kept0
        # the error by hand: the masked network on the data
        hidden = torch.relu(x @ (w0 * mask).t() + bias0)
        error = ((hidden @ w2.t() + bias2).argmax(1) != y).float().mean().item()
        assert p["error"] == pytest.approx(error)
        nonzero = int((w0 * mask != 0).sum()) + 6  # the zero weight of w0 counts as pruned
        assert p["weights_kept"] == nonzero and p["cr_prune"] == pytest.approx(18 / nonzero)
        assert p["kept_percent"] == pytest.approx(100 * nonzero / 18)
        # the point's own network is the masked one
        assert torch.equal(p["network"][0].weight != 0, (w0 * mask != 0)[(w0 * mask != 0).any(1)])
        assert p["macs_ratio"] == pytest.approx(p["macs"] / p["macs_kept"])


def test_the_sweep_fine_tunes_a_copy_and_can_time_each_network():
    model, guide, posteriors, _, _ = _hand_built()
    x, y = torch.randn(30, 4), torch.randint(0, 2, (30,))
    tuned = []
    points = sweep_thresholds(model, guide, (x, y), x[:5], criterion=LogAlphaThreshold(), thresholds=[1],
                              posteriors=posteriors, finetune=lambda net: tuned.append(net), latency_input=x)
    assert len(tuned) == 1 and points[0]["seconds"] > 0
    with pytest.raises(ValueError, match="at least one threshold"):
        sweep_thresholds(model, guide, (x, y), x[:5], criterion=LogAlphaThreshold(), thresholds=[],
                         posteriors=posteriors)


def test_the_pareto_front_keeps_the_points_nothing_beats():
    points = [dict(cr_prune=10, error=0.02), dict(cr_prune=5, error=0.03), dict(cr_prune=20, error=0.05),
              dict(cr_prune=20, error=0.06), dict(cr_prune=2, error=0.01), dict(cr_prune=10, error=0.02)]
    front = pareto_front(points)
    assert [(p["cr_prune"], p["error"]) for p in front] == [(2, 0.01), (10, 0.02), (20, 0.05)]
    assert pareto_front([]) == []


def test_area_between_fronts_by_hand():
    a = [dict(cr_prune=10, error=0.01)]
    b = [dict(cr_prune=2, error=0.01), dict(cr_prune=10, error=0.03)]
    # over [0.01, 0.04]: A compresses 10x throughout; B 2x up to 0.03, then 10x
    expected = (1 - math.log10(2)) * 0.02 / 0.03
    assert area_between_fronts(a, b, (0.01, 0.04)) == pytest.approx(expected)
    assert area_between_fronts(b, a, (0.01, 0.04)) == pytest.approx(-expected)
    assert area_between_fronts(a, a, (0.0, 0.1)) == 0
    # below every point's error nothing compresses: CR 1
    assert best_compression(b, 0.005) == 1.0 and best_compression(b, 0.03) == 10
    assert area_between_fronts(a, b, (0.0, 0.01)) == 0
    with pytest.raises(ValueError, match="e0 < e1"):
        area_between_fronts(a, b, (0.04, 0.01))


def test_dominates_by_hand():
    a = [dict(cr_prune=4, error=0.01), dict(cr_prune=20, error=0.03)]
    b = [dict(cr_prune=2, error=0.01), dict(cr_prune=10, error=0.02), dict(cr_prune=30, error=0.05)]
    # over [0.01, 0.04] A gives 4, 4, 20 where B gives 2, 10, 10: B is above on [0.02, 0.03)
    assert not dominates(a, b, (0.01, 0.04))
    assert dominates(a, b, (0.01, 0.015)) and dominates(a, b, (0.03, 0.045))
    # B reaches 30 at 0.05, A stays at 20
    assert not dominates(a, b, (0.03, 0.05))
    assert dominates(b, a, (0.02, 0.025)) and not dominates(b, a, (0.03, 0.04))
    # macs in place of weights
    c = [dict(macs_ratio=3.0, error=0.01)]
    assert dominates(c, [dict(macs_ratio=2.0, error=0.015)], (0.0, 0.02), x="macs_ratio")
    assert not dominates(c, [dict(macs_ratio=2.0, error=0.005)], (0.0, 0.02), x="macs_ratio")
    assert dominates(a, a, (0.0, 1.0))
    with pytest.raises(ValueError, match="e0 <= e1"):
        dominates(a, b, (0.04, 0.01))
