"""
The variational posterior against the true one: NUTS (``pyro.infer.MCMC``) on the same Pyro model, packaged with
the same names and dimensions as :func:`~pyrocomp.diagnostics.to_inference_data`, and a side-by-side table and
picture of the two. Feasible on small models — a Bayesian logistic regression, a tiny network — where it tells
how far the mean-field family is from the posterior (its variances, which groups it shrinks).
"""
import numpy as np
import pyro
import torch
from pyro.infer import MCMC, NUTS

from pyrocomp.util import require

from .inference_data import named_posterior


def nuts_inference_data(model, data, num_samples=500, warmup_steps=300, num_chains=1, seed=0, progress=False,
                        **nuts_options):
    """
    Sample the model's posterior with NUTS and package it for ArviZ, named as
    :func:`~pyrocomp.diagnostics.to_inference_data` names the variational one. The model's point-estimate
    parameters (biases) stay at their values.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork` (small: NUTS takes a gradient per leapfrog step).
    :param tuple data: ``(x, y)``.
    :param int num_chains: chains, run one after the other.
    :param nuts_options: options of :class:`pyro.infer.NUTS` (``max_tree_depth``, ``target_accept_prob``, ...).
    :rtype: arviz.InferenceData
    """
    az = require("arviz", "diagnostics")
    if not all(isinstance(n, int) and n > 0 for n in (num_samples, warmup_steps, num_chains)):
        raise ValueError(f"Expected positive ints num_samples, warmup_steps and num_chains but got "
                         f"{num_samples!r}, {warmup_steps!r}, {num_chains!r}")
    chains = []
    with torch.random.fork_rng():
        for chain in range(num_chains):
            pyro.set_rng_seed(seed + chain)
            mcmc = MCMC(NUTS(model, max_plate_nesting=1, **nuts_options), num_samples=num_samples,
                        warmup_steps=warmup_steps,
                        disable_progbar=not progress)
            mcmc.run(*data)
            chains.append({k: v.detach().cpu().numpy() for k, v in mcmc.get_samples().items()})
    posterior, dims = named_posterior({name: np.stack([c[name] for c in chains]) for name in chains[0]},
                                      dict(model.bayesian_layers()))
    return az.from_dict(posterior=posterior, dims=dims)


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
