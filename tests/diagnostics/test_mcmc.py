"""The variational posterior against NUTS: agreement on a conjugate model, and the mean-field family's known
under-estimate of variance where the posterior is correlated."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.diagnostics import compare_posteriors, nuts_inference_data, plot_posteriors, to_inference_data
from pyrocomp.nn import GaussianLikelihood
from pyrocomp.priors import Prior


class FixedGaussian(Prior):
    """w ~ N(0, s0^2): conjugate to a Gaussian likelihood."""

    def __init__(self, s0):
        self.s0 = s0

    def __call__(self, name, layer):
        shape = layer.weight_shape
        return pyro.sample(f"{name}.weight", dist.Normal(layer.full(shape, 0.0), layer.full(shape, self.s0))
                           .to_event(2))


def _both(correlation, n=100, noise=0.5, steps=1500):
    torch.manual_seed(0)
    pyro.clear_param_store()
    z = torch.randn(n, 2)
    x = torch.stack([z[:, 0], correlation * z[:, 0] + (1 - correlation ** 2) ** 0.5 * z[:, 1]], 1)
    y = x @ torch.tensor([[1.0], [-1.0]]) + noise * torch.randn(n, 1)
    model = BayesianNetwork(nn.Linear(2, 1, bias=False), FixedGaussian(1.0), likelihood=GaussianLikelihood(noise),
                            dataset_size=n)
    guide = AutoCompressionGuide(model, init_scale=0.1)
    svi = SVI(model, guide, pyro.optim.ClippedAdam({"lr": 0.03, "lrd": 0.998}), TraceMeanField_ELBO())
    for _ in range(steps):
        svi.step(x, y)
    vi = to_inference_data(model, guide, num_samples=2000, weights=["0"])
    nuts = nuts_inference_data(model, (x, y), num_samples=400, warmup_steps=200, num_chains=2)
    return vi, nuts


@pytest.mark.slow
def test_on_a_conjugate_model_with_independent_inputs_vi_and_nuts_agree():
    vi, nuts = _both(correlation=0.0)
    rows = compare_posteriors(vi, nuts, var_names=["0.weight"])
    assert [r["variable"] for r in rows] == ["0.weight[0, 0]", "0.weight[0, 1]"]
    for r in rows:  # means within a few Monte-Carlo errors of NUTS's 800 draws, spreads within 15 %
        assert abs(r["vi_mean"] - r["reference_mean"]) < 4 * r["reference_sd"] / 800 ** 0.5 + 5e-3
        assert 0.85 < r["sd_ratio"] < 1.15


@pytest.mark.slow
def test_with_correlated_inputs_mean_field_vi_is_too_narrow_and_the_comparison_shows_it(tmp_path):
    vi, nuts = _both(correlation=0.95)
    rows = compare_posteriors(vi, nuts, var_names=["0.weight"])
    # the posterior correlation is about -0.95: mean-field variances are 1 - 0.95^2 ~ 0.1 of the marginal ones
    assert all(r["sd_ratio"] < 0.6 for r in rows)
    assert all(abs(r["vi_mean"] - r["reference_mean"]) < 0.5 * r["reference_sd"] for r in rows)
    path = plot_posteriors(vi, nuts, tmp_path / "vi_vs_nuts.png", var_names=["0.weight"])
    assert path.stat().st_size > 1000


def test_posteriors_without_shared_variables_are_refused():
    az = pytest.importorskip("arviz")
    only_norms = az.from_dict(posterior={"0.norm_in": torch.zeros(1, 5, 2).numpy()})
    only_weights = az.from_dict(posterior={"0.weight": torch.zeros(1, 5, 2).numpy()})
    with pytest.raises(ValueError, match="share no variable"):
        compare_posteriors(only_norms, only_weights)
    with pytest.raises(ValueError, match="positive ints"):
        nuts_inference_data(None, None, num_samples=0)


def test_nuts_draws_carry_weights_norms_and_the_pointwise_likelihood_of_held_out_data():
    from pyrocomp.nn import BernoulliLikelihood
    from pyrocomp.priors import AutomaticRelevanceDetermination

    torch.manual_seed(0)
    x = torch.randn(40, 3)
    y = (x[:, 0] > 0).long()
    test = (torch.randn(7, 3), torch.tensor([0, 1, 1, 0, 1, 0, 0]))
    model = BayesianNetwork(nn.Linear(3, 1), AutomaticRelevanceDetermination(a=1.0, b=1.0, group="in"),
                            likelihood=BernoulliLikelihood(), dataset_size=len(x))
    nuts = nuts_inference_data(model, (x, y), num_samples=15, warmup_steps=15, num_chains=2, test=test,
                               max_tree_depth=4)
    post = nuts.posterior
    # the weights come back under their own name from the non-centred draws, with their unit norms
    assert post["0.weight"].dims == ("chain", "draw", "0_out", "0_in") and post["0.weight"].shape == (2, 15, 1, 3)
    assert post["0.precision"].dims == ("chain", "draw", "0_out", "0_in")  # one output: its dim stays
    assert not any(name.endswith("_decentered") for name in post.data_vars)
    w = post["0.weight"].values
    assert np.allclose(post["0.norm_in"].values, np.abs(w[:, :, 0, :]), rtol=1e-5)
    assert np.allclose(post["0.norm_out"].values[..., 0], np.sqrt((w ** 2).sum(-1))[..., 0], rtol=1e-5)
    # pointwise log-likelihood by hand: log Bernoulli(y | sigmoid(x w + b)) at every draw
    bias = model.net[0].bias
    logits = np.einsum("cdoi,ni->cdn", w, test[0].numpy()) + bias.detach().numpy()
    expected = dist.Bernoulli(logits=torch.from_numpy(logits)).log_prob(test[1].double()).numpy()
    assert nuts.log_likelihood["obs"].dims == ("chain", "draw", "example")
    assert np.allclose(nuts.log_likelihood["obs"].values, expected, atol=1e-5)
    assert set(np.unique(nuts.posterior_predictive["obs"].values)) <= {0.0, 1.0}
    assert nuts.sample_stats["diverging"].shape == (2, 15)
    # two chains, two seeds: not the same draws
    assert not np.allclose(w[0], w[1])
