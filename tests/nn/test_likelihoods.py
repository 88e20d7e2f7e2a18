import pyro
import pytest
import torch
from pyro import poutine
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.infer import fit
from pyrocomp.nn import BernoulliLikelihood
from pyrocomp.priors import GroupNormalJeffreys
from pyrocomp.pruning import GroupLogAlphaThreshold, compress


def test_bernoulli_likelihood_scores_one_logit_by_hand():
    logits = torch.tensor([[0.3], [-2.0], [4.0]], dtype=torch.float64)
    y = torch.tensor([1, 0, 0])
    trace = poutine.trace(lambda: BernoulliLikelihood()(logits, y)).get_trace()
    expected = (y * torch.nn.functional.logsigmoid(logits[:, 0])
                + (1 - y) * torch.nn.functional.logsigmoid(-logits[:, 0]))
    assert torch.allclose(trace.nodes["obs"]["fn"].log_prob(trace.nodes["obs"]["value"]), expected)
    drawn = BernoulliLikelihood()(logits, None)
    assert drawn.shape == (3,) and set(drawn.tolist()) <= {0.0, 1.0}


def test_bernoulli_likelihood_refuses_more_than_one_logit():
    with pytest.raises(ValueError, match=r"one output.*\(4, 2\)"):
        BernoulliLikelihood()(torch.zeros(4, 2), torch.zeros(4))


def test_a_logistic_regression_keeps_its_one_logit_when_every_weight_is_pruned():
    pyro.clear_param_store()
    torch.manual_seed(0)
    x = torch.randn(50, 4)
    y = (x[:, 0] > 0).long()
    model = BayesianNetwork(nn.Linear(4, 1), GroupNormalJeffreys(), likelihood=BernoulliLikelihood())
    guide = AutoCompressionGuide(model)
    history = fit(model, guide, (x, y), epochs=30, batch_size=25, lr=3e-2, progress=False)
    assert history[-1]["nll"] < history[0]["nll"]
    with pytest.warns(UserWarning, match="output units"):
        result = compress(model, guide, x[:5], criterion=GroupLogAlphaThreshold(-100.0))  # drops every group
    assert result.masks["0"].any()
