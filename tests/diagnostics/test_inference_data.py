"""The compression posterior as ArviZ InferenceData: groups, dims and coords, ArviZ's functions on it, the
pointwise log-likelihood by hand, and several fits as chains."""
import warnings

import arviz as az
import matplotlib
import numpy as np
import pyro
import pytest
import torch
from torch import nn

from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.diagnostics import pruning_stability, stack_fits, to_inference_data
from pyrocomp.infer import fit
from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior
from pyrocomp.pruning import compress

matplotlib.use("Agg")


def _data(seed=0, n=120):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=generator)
    return x, (x[:, 0] - x[:, 1] > 0).long()  # inputs 2..5 do not matter


def _fit(prior, seed=0, epochs=15):
    torch.manual_seed(seed)
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    x, y = _data()
    model = BayesianNetwork(nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)), prior, dataset_size=len(x))
    guide = AutoCompressionGuide(model)
    history = fit(model, guide, (x, y), epochs=epochs, batch_size=40, lr=1e-2, progress=False)
    return model, guide, history, compress(model, guide, x[:20])


@pytest.fixture(scope="module")
def group_fit():
    return _fit(GroupNormalJeffreys())


def test_every_group_has_named_dims_and_coords(group_fit):
    model, guide, history, compression = group_fit
    test = _data(seed=1, n=30)
    idata = to_inference_data(model, guide, test, history, compression, num_samples=40, num_chains=2, seed=3,
                              run="unit test")
    assert set(idata.groups()) == {"posterior", "log_likelihood", "posterior_predictive", "observed_data",
                                   "sample_stats", "constant_data"}
    post = idata.posterior
    assert post["0.scale"].dims == ("chain", "draw", "0_in") and post["0.scale"].shape == (2, 40, 6)
    assert post["0.norm_out"].dims == ("chain", "draw", "0_out") and post.sizes["2_in"] == 8
    assert list(post["0_in"].values) == list(range(6))
    assert idata.log_likelihood["obs"].shape == (2, 40, 30)
    assert idata.posterior_predictive["obs"].dims == ("chain", "draw", "example")
    assert set(np.unique(idata.posterior_predictive["obs"].values)) <= {0, 1}
    assert np.array_equal(idata.observed_data["obs"].values, test[1].numpy())
    stats = idata.sample_stats
    assert stats["loss"].dims == ("chain", "epoch") and list(stats["epoch"].values) == list(range(1, 16))
    assert np.allclose(stats["loss"].values[0], [h["loss"] for h in history])
    assert np.allclose(stats["loss"], stats["nll"] + stats["kl_scale"] * stats["kl"], rtol=1e-5)
    assert {"lr", "seconds"} <= set(stats.data_vars)
    const = idata.constant_data
    assert const["0.mask"].dims == ("0_out", "0_in") and const["0.group_log_alpha_in"].dims == ("0_in",)
    assert np.array_equal(const["0.kept_in"].values, compression.masks["0"].any(0).numpy())
    assert list(const["bits"].values) == [row.bits for row in compression.report.layers]
    assert idata.attrs["run"] == "unit test" and "GroupNormalJeffreys" in idata.attrs["prior_0"]
    assert {"torch_version", "pyro-ppl_version", "arviz_version", "seed"} <= set(idata.attrs)


def test_arviz_summarises_compares_and_draws_without_complaining_of_missing_groups(group_fit):
    model, guide, _, _ = group_fit
    test = _data(seed=1, n=30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        grouped = to_inference_data(model, guide, test, num_samples=60, num_chains=2)
        summary = az.summary(grouped, var_names=["0.scale"])
        vd_model, vd_guide, _, _ = _fit(LogUniformPrior(), epochs=3)
        plain = to_inference_data(vd_model, vd_guide, test, num_samples=60, num_chains=2)
        loo = az.loo(grouped)
        table = az.compare({"group-nj": grouped, "vd": plain})
        az.plot_forest(grouped, var_names=["0.scale"])
    assert list(summary.index) == [f"0.scale[{i}]" for i in range(6)]
    assert np.isfinite(loo.elpd_loo) and set(table.index) == {"group-nj", "vd"}
    assert not [w for w in caught if "group" in str(w.message).lower()]
    # the prior with no site but its weights still has a posterior: the unit norms
    assert set(plain.posterior.data_vars) == {"0.norm_in", "0.norm_out", "2.norm_in", "2.norm_out"}


def test_the_pointwise_log_likelihood_is_the_networks_at_its_weights():
    torch.manual_seed(0)
    pyro.clear_param_store()
    x, y = _data(n=12)
    model = BayesianNetwork(nn.Sequential(nn.Linear(6, 2)), LogUniformPrior(), dataset_size=12)
    guide = AutoCompressionGuide(model)
    with torch.no_grad():
        guide.posteriors["0/weight"].log_scale.fill_(-30.0)  # every draw is the mean
    idata = to_inference_data(model, guide, (x, y), num_samples=3)
    weight = guide.posteriors["0/weight"].loc.detach()
    logits = x @ weight.T + model.net[0].bias.detach()
    by_hand = torch.log_softmax(logits, -1)[torch.arange(12), y].numpy()
    assert np.allclose(idata.log_likelihood["obs"].values, by_hand[None, None], atol=1e-5)


def test_rhat_is_near_one_for_identical_fits_and_large_for_fits_that_disagree(group_fit):
    model, guide, _, _ = group_fit
    same = stack_fits([to_inference_data(model, guide, num_samples=300, seed=s) for s in (0, 1)])
    assert same.posterior.sizes["chain"] == 2 and "fit" in same.constant_data.dims
    assert float(az.rhat(same)["0.scale"].max()) < 1.05
    first = to_inference_data(model, guide, num_samples=300)
    scale = guide.posteriors["0/scale"]
    before = scale.loc.detach().clone()
    with torch.no_grad():  # a fit that disagrees: the scales of inputs 0 and 1 far from the first fit's
        scale.loc[..., :2] = -5.0
    try:
        disagree = stack_fits([first, to_inference_data(model, guide, num_samples=300)])
    finally:
        with torch.no_grad():
            scale.loc.copy_(before)
    rhat = az.rhat(disagree)["0.scale"].values
    assert (rhat[:2] > 1.5).all() and (rhat[2:] < 1.05).all()


def test_pruning_stability_counts_units_pruned_by_all_some_and_none():
    full = torch.ones(3, 4, dtype=torch.bool)
    a, b = full.clone(), full.clone()
    a[:, 0] = b[:, 0] = False  # input 0: pruned by both
    a[:, 2] = False  # input 2: by one
    a[1] = False  # output 1: by one
    rows = {(r["layer"], r["side"]): r for r in pruning_stability([{"0": a}, {"0": b}])}
    assert (rows["0", "in"]["all"], rows["0", "in"]["some"], rows["0", "in"]["none"]) == (1, 1, 2)
    assert rows["0", "in"]["some_units"] == [2] and rows["0", "out"]["some_units"] == [1]
    with pytest.raises(ValueError, match="at least two"):
        pruning_stability([{"0": a}])


def test_bad_arguments(group_fit):
    model, guide, _, _ = group_fit
    with pytest.raises(ValueError, match="positive ints"):
        to_inference_data(model, guide, num_samples=0)
    with pytest.raises(ValueError, match="Unknown sites"):
        to_inference_data(model, guide, num_samples=2, sites=["nope"])
    with pytest.raises(ValueError, match="Unknown layers"):
        to_inference_data(model, guide, num_samples=2, weights=["7"])
    assert "0.weight" in to_inference_data(model, guide, num_samples=2, weights=["0"]).posterior
    with pytest.raises(ValueError, match="at least two fits"):
        stack_fits([to_inference_data(model, guide, num_samples=2)])
