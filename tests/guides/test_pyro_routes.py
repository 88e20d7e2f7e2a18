"""Every Pyro route a user takes with a fitted guide, tried from the user's side: the param store, state_dict,
torch.save, Predictive, model.to, module-local parameters, median and quantiles, and plain SVI."""
import contextlib
import io

import pyro
import pytest
import scipy.stats
import torch
from pyro.infer import SVI, Predictive, TraceMeanField_ELBO
from torch import nn

import pyrocomp.guides as guides
from pyrocomp import AutoCompressionGuide, BayesianNetwork
from pyrocomp.guides import posterior_quantiles
from pyrocomp.infer import fit, predict
from pyrocomp.priors import GroupNormalJeffreys, LogUniformPrior, MixturePrior, TurboPrior
from pyrocomp.pruning import compress

PRIORS = {"group-nj": GroupNormalJeffreys, "vd": LogUniformPrior, "mixture": MixturePrior}


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(60, 6, generator=g)
    return x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()


def _net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _fitted(prior="group-nj", epochs=3):
    x, y = _data()
    model = BayesianNetwork(_net(), PRIORS[prior](), dataset_size=len(x))
    guide = AutoCompressionGuide(model)
    fit(model, guide, (x, y), epochs=epochs, batch_size=20, lr=1e-2, progress=False)
    return model, guide


def _mean_weights(model, guide):
    means = guide.mean()
    return {path: means[layer.weight_site] for path, layer in model.bayesian_layers()}


def _assert_same_means(a, b):
    ma, mb = a.mean(), b.mean()
    assert ma.keys() == mb.keys()
    for name in ma:
        assert torch.equal(ma[name], mb[name]), name


def test_param_store_save_and_load_restore_a_fit_into_a_fresh_model_and_guide(tmp_path):
    model, guide = _fitted()
    x, _ = _data()
    before = compress(model, guide, x).report.weights_kept
    pyro.get_param_store().save(tmp_path / "params.pt")
    pyro.clear_param_store()

    fresh = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
    fresh_guide = AutoCompressionGuide(fresh)
    pyro.get_param_store().load(tmp_path / "params.pt")
    _assert_same_means(guide, fresh_guide)
    assert torch.equal(fresh.to_plain(_mean_weights(fresh, fresh_guide))[0].bias,
                       model.to_plain(_mean_weights(model, guide))[0].bias)
    assert compress(fresh, fresh_guide, x).report.weights_kept == before


def test_svi_after_loading_the_param_store_moves_the_guide(tmp_path):
    model, guide = _fitted()
    pyro.get_param_store().save(tmp_path / "params.pt")
    pyro.clear_param_store()
    fresh = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
    fresh_guide = AutoCompressionGuide(fresh)
    pyro.get_param_store().load(tmp_path / "params.pt")
    x, y = _data()
    loaded = fresh_guide.mean()["0.weight"]
    assert torch.equal(loaded, guide.mean()["0.weight"])
    svi = SVI(fresh, fresh_guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    svi.step(x, y)
    stored = pyro.get_param_store()["AutoCompressionGuide.posteriors.0/weight.loc"]
    assert stored is fresh_guide.posterior("0.weight").loc  # one tensor, in the store and in the guide
    assert not torch.equal(fresh_guide.mean()["0.weight"], loaded)


def test_state_dict_round_trip():
    model, guide = _fitted()
    fresh = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
    fresh_guide = AutoCompressionGuide(fresh)
    fresh_guide.load_state_dict(guide.state_dict())
    _assert_same_means(guide, fresh_guide)


def test_torch_save_of_the_guide_keeps_its_model():
    model, guide = _fitted()
    buffer = io.BytesIO()
    torch.save(guide, buffer)
    assert guide.model is model  # saving leaves the guide as it was
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    _assert_same_means(guide, loaded)


@pytest.mark.parametrize("prior", ["group-nj", "vd", "mixture"])
def test_predictive_draws_every_site_from_the_guide(prior):
    model, guide = _fitted(prior, epochs=1)
    x, _ = _data()
    with pytest.warns(RuntimeWarning, match="improper") if prior != "mixture" else contextlib.nullcontext():
        draws = Predictive(model, guide=guide, num_samples=4)(x)
    assert draws["obs"].shape == (4, 60) and bool(((draws["obs"] >= 0) & (draws["obs"] < 3)).all())
    assert draws["0.weight"].shape == (4, 1, 8, 6)
    trace_sites = {name for name, site in guide.trace().nodes.items() if site["type"] == "sample"}
    assert trace_sites <= set(draws)


def test_guide_follows_its_model_to_another_dtype():
    model, guide = _fitted(epochs=1)
    x, y = _data()
    model.to(torch.float64)
    values = guide(x)
    assert all(v.dtype == torch.float64 for v in values.values())
    loss = TraceMeanField_ELBO().differentiable_loss(model, guide, x.double(), y)
    assert loss.dtype == torch.float64 and torch.isfinite(loss)


def test_module_local_parameters_leave_the_param_store_empty():
    x, y = _data()
    with pyro.settings.context(module_local_params=True):
        model = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
        guide = AutoCompressionGuide(model)
        start = guide.mean()["0.weight"].clone()
        elbo = TraceMeanField_ELBO()
        optim = torch.optim.Adam(list(model.parameters()) + list(guide.parameters()), lr=1e-2)
        loss = elbo.differentiable_loss(model, guide, x, y)
        loss.backward()
        optim.step()
        assert len(pyro.get_param_store()) == 0
        assert not torch.equal(guide.mean()["0.weight"], start)


def test_median_and_quantiles_are_the_families_exact_quantiles():
    model, guide = _fitted(epochs=1)
    q = torch.tensor([0.1, 0.5, 0.9])
    quantiles, median = guide.quantiles(q), guide.median()
    scale = guide.posterior("0.scale")  # mean-field Normal, no upstream site
    expected = scale.loc + scale.log_scale.exp() * torch.distributions.Normal(0, 1).icdf(q)[:, None, None]
    assert torch.allclose(quantiles["0.scale"], expected, rtol=1e-5)
    assert torch.allclose(median["0.scale"], scale.loc, rtol=1e-6)
    # the weight's non-centred posterior, conditioned on the scale at its median
    w = guide.posterior("0.weight")
    z = median["0.scale"].abs()
    expected = z * w.loc + z * w.log_scale.exp() * torch.distributions.Normal(0, 1).icdf(q)[:, None, None]
    assert torch.allclose(quantiles["0.weight"], expected, rtol=1e-5, atol=1e-7)
    assert torch.allclose(median["0.weight"], quantiles["0.weight"][1])


def test_quantile_rules_against_scipy():
    q = torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)
    a, b = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64), torch.tensor([1.0, 3.0, 0.5], dtype=torch.float64)
    gamma = posterior_quantiles(pyro.distributions.Gamma(a, b).to_event(1), q)
    expected = scipy.stats.gamma.ppf(q.numpy()[:, None], a.numpy(), scale=1 / b.numpy())
    assert torch.allclose(gamma, torch.as_tensor(expected), rtol=1e-8)
    loc, scale = torch.tensor([0.3, -1.0], dtype=torch.float64), torch.tensor([0.5, 2.0], dtype=torch.float64)
    lognormal = posterior_quantiles(pyro.distributions.LogNormal(loc, scale), q)
    expected = scipy.stats.lognorm.ppf(q.numpy()[:, None], scale.numpy(), scale=loc.exp().numpy())
    assert torch.allclose(lognormal, torch.as_tensor(expected), rtol=1e-8)
    bern = posterior_quantiles(pyro.distributions.Bernoulli(torch.tensor([0.2, 0.7])), [0.5])
    assert torch.equal(bern, torch.tensor([[0.0, 1.0]]))
    # no exact rule: a Dirichlet's coordinates are Beta(alpha_k, sum - alpha_k), estimated by Monte Carlo
    alpha = torch.tensor([2.0, 3.0, 5.0], dtype=torch.float64)
    mc = posterior_quantiles(pyro.distributions.Dirichlet(alpha), q, num_samples=20000)
    expected = scipy.stats.beta.ppf(q.numpy()[:, None], alpha.numpy(), (alpha.sum() - alpha).numpy())
    assert torch.allclose(mc, torch.as_tensor(expected), atol=0.01)
    with pytest.raises(ValueError, match="quantiles"):
        posterior_quantiles(pyro.distributions.Gamma(a, b), [0.0, 0.5])


def test_predict_averages_the_posterior_predictive():
    model, guide = _fitted(epochs=1)
    x, _ = _data()
    probs = predict(model, guide, x, num_samples=16)
    assert probs.shape == (60, 3) and torch.allclose(probs.sum(-1), torch.ones(60))
    # with the posterior variances near zero every draw is the mean network
    with torch.no_grad():
        for _, post in guide.posteriors.items():
            post.log_scale.fill_(-30.0)
    plain = model.to_plain(_mean_weights(model, guide))
    assert torch.allclose(predict(model, guide, x, num_samples=2), torch.softmax(plain(x), -1), atol=1e-5)
    with pytest.raises(ValueError, match="num_samples"):
        predict(model, guide, x, num_samples=0)


def test_plain_svi_loop_fits_with_pyros_own_optimiser():
    x, y = _data()
    model = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
    guide = AutoCompressionGuide(model)
    svi = SVI(model, guide, pyro.optim.Adam({"lr": 1e-2}), TraceMeanField_ELBO())
    losses = [svi.step(x, y) for _ in range(30)]
    assert sum(losses[-5:]) < sum(losses[:5])


def test_a_site_name_reused_across_layers_is_named():
    def shared_names(name, layer):
        return pyro.sample("weight", pyro.distributions.Normal(0.0, 1.0).expand(layer.weight_shape).to_event(2))

    model = BayesianNetwork(_net(), shared_names)
    with pytest.raises(ValueError, match="'weight' is sampled twice"):
        AutoCompressionGuide(model)


def test_a_plain_callable_is_a_prior():
    def gaussian(name, layer):
        return pyro.sample(f"{name}.weight", pyro.distributions.Normal(0.0, 1.0).expand(layer.weight_shape).to_event(2))

    x, y = _data()
    model = BayesianNetwork(_net(), gaussian, dataset_size=60)
    guide = AutoCompressionGuide(model)
    assert TraceMeanField_ELBO().loss(model, guide, x, y) > 0


def test_turbo_guide_runs_under_predictive():
    model = BayesianNetwork(_net(), TurboPrior(), dataset_size=60)
    guide = AutoCompressionGuide(model, posterior_family=guides.mean_field_weights)
    x, _ = _data()
    draws = Predictive(model, guide=guide, num_samples=2)(x)
    assert draws["0.support"].shape == (2, 1, 8, 6)


def test_a_new_guide_starts_where_it_is_built_not_at_a_previous_fit():
    model, guide = _fitted()
    fitted = guide.mean()["0.weight"].clone()
    fresh = BayesianNetwork(_net(), GroupNormalJeffreys(), dataset_size=60)
    fresh_guide = AutoCompressionGuide(fresh)
    x, y = _data()
    fresh_guide(x)
    start = fresh_guide.mean()["0.weight"]
    assert torch.allclose(start, fresh.pretrained()["0.weight"], atol=1e-6)
    assert not torch.allclose(start, fitted)


# traps a researcher meets when declaring a prior: each gets one clear message at set-up

def test_a_plain_bernoulli_site_is_refused_with_the_fix():
    def spike_and_slab(name, layer):
        s = pyro.sample(f"{name}.on", pyro.distributions.Bernoulli(0.5 * torch.ones(layer.weight_shape)).to_event(2),
                        infer={"init": 0.5})
        return pyro.sample(f"{name}.weight", pyro.distributions.Normal(0.0, 1e-3 + s).to_event(2))

    with pytest.raises(TypeError, match=r"'0\.on'.*discrete site has no trained family.*SupportIndicator"):
        AutoCompressionGuide(BayesianNetwork(_net(), spike_and_slab))


def test_registering_a_family_twice_needs_override():
    from pyro.distributions import constraints

    from pyrocomp.guides import MeanFieldNormal, register_posterior
    with pytest.raises(ValueError, match="override=True"):
        register_posterior(support=constraints.real)(MeanFieldNormal)
    families = guides.posterior_family.child()
    families.register(support=constraints.real)(MeanFieldNormal)
    with pytest.raises(ValueError, match="already"):
        families.register(support=constraints.real)(MeanFieldNormal)
    families.register(support=constraints.real, override=True)(MeanFieldNormal)
    with pytest.raises(TypeError, match="Posterior subclass"):
        families.register(support=constraints.positive)(nn.Linear)


def test_a_family_without_mean_or_variance_is_refused_at_set_up():
    from pyro.distributions import constraints

    class PositiveHalfCauchy(guides.Posterior):  # a family whose distribution has an infinite mean
        def forward(self, prior):
            return pyro.distributions.HalfCauchy(torch.ones(prior.shape())).to_event(prior.event_dim)

    class ExpNormal(guides.Posterior):  # a family whose distribution does not define its mean
        def forward(self, prior):
            base = pyro.distributions.Normal(torch.zeros(prior.shape()), 1.0)
            return pyro.distributions.TransformedDistribution(base, [torch.distributions.ExpTransform()]).to_event(
                prior.event_dim)

    for family in (PositiveHalfCauchy, ExpNormal):
        families = guides.posterior_family.child()
        families.register(support=constraints.positive)(family)
        model = BayesianNetwork(_net(), MixturePrior())
        with pytest.raises(TypeError, match=f"{family.__name__} of site '0.scale'.*has no finite mean"):
            AutoCompressionGuide(model, posterior_family=families)


def test_leaving_out_the_dataset_size_warns():
    model = BayesianNetwork(_net(), GroupNormalJeffreys())
    guide = AutoCompressionGuide(model)
    x, y = _data()
    with pytest.warns(RuntimeWarning, match="dataset_size is not set"):
        TraceMeanField_ELBO().loss(model, guide, x, y)


def test_a_group_criterion_never_removes_the_classifiers_outputs():
    from pyrocomp.pruning import GroupLogAlphaThreshold

    model, guide = _fitted()
    x, _ = _data()
    with torch.no_grad():  # class 2's weights are pure noise
        guide.posterior("2.weight").loc[2] = 0.0
    with pytest.warns(UserWarning, match=r"output units \[2\] of layer '2'"):
        kept = compress(model, guide, x, criterion=GroupLogAlphaThreshold(0.0, "out"))
    assert bool(kept.masks["2"][2].all())
    assert [layer.name for layer in kept.report.layers] == ["0", "2"]
    removed = compress(model, guide, x, criterion=GroupLogAlphaThreshold(0.0, "out"), prune_outputs=True)
    assert not bool(removed.masks["2"][2].any())


def test_the_report_lists_layers_without_a_prior():
    x, y = _data()
    model = BayesianNetwork(_net(), {"0": GroupNormalJeffreys()}, dataset_size=60)
    guide = AutoCompressionGuide(model)
    report = compress(model, guide, x).report
    assert [(layer.name, layer.bits) for layer in report.layers][1] == ("2", 32)
    assert report.weights == 6 * 8 + 8 * 3
