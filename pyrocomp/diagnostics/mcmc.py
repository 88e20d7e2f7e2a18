"""
The variational posterior against the true one: NUTS (``pyro.infer.MCMC``) on the same Pyro model, packaged with
the same names and dimensions as :func:`~pyrocomp.diagnostics.to_inference_data`, and a side-by-side table and
picture of the two. Feasible on small models — a Bayesian logistic regression, a tiny network — where it tells
how far the mean-field family is from the posterior (its variances, which groups it shrinks).
"""
import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import MCMC, NUTS, Predictive
from pyro.infer.reparam import LocScaleReparam

from pyrocomp.util import require, unwrap_independent

from .inference_data import named_posterior, observe, observed_groups, unit_norms, whole_draws


def nuts_inference_data(model, data, num_samples=500, warmup_steps=300, num_chains=1, seed=0, progress=False,
                        non_centred=True, test=None, **nuts_options):
    """
    Sample the model's posterior with NUTS and package it for ArviZ, named as
    :func:`~pyrocomp.diagnostics.to_inference_data` names the variational one (every latent site, each layer's
    weights and unit norms ``{layer}.norm_in``, ``{layer}.norm_out``). The model's point-estimate parameters
    (biases) stay at their values.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork` (small: NUTS takes a gradient per leapfrog step).
    :param tuple data: ``(x, y)``, the data the posterior conditions on.
    :param int num_chains: chains, run one after the other, each seeded ``seed + chain``.
    :param bool non_centred: sample every Gaussian weight site non-centred, :math:`w = \\sigma \\epsilon` with
        :math:`\\epsilon \\sim \\mathcal N(0, 1)` (:class:`~pyro.infer.reparam.LocScaleReparam` with ``centered=0``):
        the same posterior without the funnel between a scale-mixture prior's scales and its weights, in which
        NUTS diverges or stalls.
    :param tuple test: ``(x, y)`` held-out data: adds ``log_likelihood``, ``posterior_predictive`` and
        ``observed_data``, as :func:`~pyrocomp.diagnostics.to_inference_data` does.
    :param nuts_options: options of :class:`pyro.infer.NUTS` (``max_tree_depth``, ``target_accept_prob``, ...).
    :returns: an ``arviz.InferenceData`` whose ``sample_stats`` has ``diverging`` per draw.
    """
    az = require("arviz", "diagnostics")
    if not all(isinstance(n, int) and n > 0 for n in (num_samples, warmup_steps, num_chains)):
        raise ValueError(f"Expected positive ints num_samples, warmup_steps and num_chains but got "
                         f"{num_samples!r}, {warmup_steps!r}, {num_chains!r}")
    layers = dict(model.bayesian_layers())
    shapes = {layer.weight_site: tuple(layer.weight_shape) for layer in layers.values()}
    sampled = _non_centred(model, shapes) if non_centred else model
    chains, diverging = [], []
    with torch.random.fork_rng():
        for chain in range(num_chains):
            pyro.set_rng_seed(seed + chain)
            mcmc = MCMC(NUTS(sampled, max_plate_nesting=1, **nuts_options), num_samples=num_samples,
                        warmup_steps=warmup_steps, disable_progbar=not progress)
            mcmc.run(*data)
            chains.append(_with_weights(sampled, mcmc.get_samples(), shapes, data[0], num_samples))
            diverging.append(_divergences(mcmc, num_samples))
    draws = {name: torch.stack([c[name] for c in chains]) for name in chains[0]}
    for path, layer in layers.items():
        for side, norm in unit_norms(draws[layer.weight_site], batch_dims=2).items():
            draws[f"{path}.norm_{side}"] = norm.float()
    posterior, dims = named_posterior({k: v.cpu().numpy() for k, v in draws.items()}, layers)
    groups = {"posterior": posterior, "sample_stats": {"diverging": np.stack(diverging)}}
    if test is not None:
        groups.update(_observed(model, draws, test, (num_chains, num_samples), dims))
    return az.from_dict(**groups, dims=dims)


def _with_weights(sampled, samples, shapes, x, num_samples):
    """A chain's draws with every weight under its own site name (computed from the standardised draws when the
    weights were sampled non-centred)."""
    missing = [name for name in shapes if name not in samples]
    if missing:
        with torch.no_grad():
            weights = Predictive(sampled, posterior_samples=samples, return_sites=missing, parallel=False)(x)
        samples = {**samples, **{k: v.reshape(num_samples, *shapes[k]) for k, v in weights.items()}}
    return {k: v.detach() for k, v in samples.items() if not k.endswith("_decentered")}


def _observed(model, draws, test, shape, dims):
    """The pointwise log-likelihood of ``test`` and a predictive draw, per draw of the latent sites."""
    flat = {k: v.reshape(-1, *v.shape[2:]) for k, v in draws.items() if ".norm_" not in k}
    scored = []
    with whole_draws(model), torch.no_grad():
        for i in range(shape[0] * shape[1]):
            scored.append(observe(model, test, lambda m: poutine.condition(m, data={k: v[i] for k, v in
                                                                                   flat.items()})))
    groups, dims["obs"] = observed_groups([s[0] for s in scored], [s[1] for s in scored], test[1], shape)
    return groups


def _non_centred(model, weight_sites):
    """The model with its Gaussian weight sites non-centred (other weight sites, mixtures say, as they are)."""
    def config(msg):
        if msg["name"] in weight_sites and isinstance(unwrap_independent(msg["fn"]), dist.Normal):
            return LocScaleReparam(centered=0.0)
        return None

    return poutine.reparam(model, config=config)


def _divergences(mcmc, num_samples):
    """Which of a chain's draws after warm-up ended in a divergent transition."""
    diverging = np.zeros(num_samples, dtype=bool)
    steps = mcmc.diagnostics().get("divergences", {}).get("chain 0", [])
    diverging[[i for i in steps if i < num_samples]] = True
    return diverging


def compare_posteriors(variational, reference, var_names=None, hdi_prob=0.9):
    """
    Each variable's elements side by side: mean, standard deviation and central interval under the variational
    posterior and under the reference (NUTS), and the ratio of standard deviations (below 1: the variational
    posterior is too narrow, as a mean-field family is where the posterior is correlated).

    :returns: one dict per element.
    """
    az = require("arviz", "diagnostics")
    names = var_names or [v for v in variational.posterior.data_vars if v in reference.posterior.data_vars]
    if not names:
        raise ValueError("The two posteriors share no variable; expected draws of the same sites")
    tables = [az.summary(idata, var_names=names, kind="stats", hdi_prob=hdi_prob) for idata in (variational,
                                                                                                 reference)]
    low, high = tables[0].columns[2], tables[0].columns[3]
    rows = []
    for element in tables[0].index:
        if element not in tables[1].index:
            raise ValueError(f"{element!r} is in the variational posterior but not in the reference")
        q, p = tables[0].loc[element], tables[1].loc[element]
        rows.append({"variable": element, "vi_mean": float(q["mean"]), "vi_sd": float(q["sd"]),
                     "reference_mean": float(p["mean"]), "reference_sd": float(p["sd"]),
                     "vi_low": float(q[low]), "vi_high": float(q[high]), "reference_low": float(p[low]),
                     "reference_high": float(p[high]), "sd_ratio": float(q["sd"] / p["sd"]) if p["sd"] else
                     float("inf")})
    return rows


def plot_posteriors(variational, reference, path, var_names=None, names=("VI", "NUTS")):
    """One forest picture of both posteriors' intervals, variable by variable, written to ``path`` (PNG)."""
    az = require("arviz", "diagnostics")
    plt = require("matplotlib.pyplot", "plots")
    axes = az.plot_forest([variational, reference], model_names=list(names), var_names=var_names, combined=True,
                          hdi_prob=0.9, figsize=(7, 1 + 0.3 * sum(variational.posterior[v].size //
                                                                     variational.posterior[v].shape[0] //
                                                                     variational.posterior[v].shape[1]
                                                                     for v in (var_names or
                                                                               variational.posterior.data_vars))))
    figure = np.ravel(axes)[0].figure
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
