import arviz as az
import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.diagnostics import to_inference_data
from pyrocomp.priors import GroupNormalJeffreys


def test_arviz_summary_matches_the_posterior_moments():
    guide = AutoCompressionGuide(BayesianNetwork(nn.Sequential(nn.Linear(4, 3)), GroupNormalJeffreys()), init_scale=0.2)
    idata = to_inference_data(guide, num_samples=2000, num_chains=2)
    assert list(idata.posterior.data_vars) == ["0.scale"]
    assert idata.posterior["0.scale"].shape == (2, 2000, 1, 4)
    summary = az.summary(idata, kind="stats")
    mean, var = guide.moments(num_samples=1)["0.scale"]
    assert torch.allclose(torch.tensor(summary["mean"].values, dtype=torch.float32), mean.flatten(), atol=0.02)
    assert torch.allclose(torch.tensor(summary["sd"].values, dtype=torch.float32), var.sqrt().flatten(), rtol=0.1)


def test_site_selection_and_errors():
    guide = AutoCompressionGuide(BayesianNetwork(nn.Sequential(nn.Linear(4, 3)), GroupNormalJeffreys()))
    assert list(to_inference_data(guide, num_samples=3, sites=["0.weight"]).posterior.data_vars) == ["0.weight"]
    with pytest.raises(ValueError, match="Unknown sites"):
        to_inference_data(guide, num_samples=3, sites=["nope"])
    with pytest.raises(ValueError, match="positive ints"):
        to_inference_data(guide, num_samples=0)
