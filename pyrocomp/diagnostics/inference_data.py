"""
A fitted compression posterior as an ArviZ ``InferenceData``: posterior draws with named dimensions, the pointwise
log-likelihood and posterior predictive of data, the fit's history, and what pruning reads off the posterior.
"""
from contextlib import contextmanager
from importlib import metadata

import numpy as np
import pyro
import torch
from pyro import poutine

from pyrocomp.pruning import group_log_alpha, kept_units, summarize
from pyrocomp.util import require

#: names of a weight's dimensions: output units, input units, kernel rows and columns
UNIT_NAMES = ("out", "in", "kh", "kw")


def _layer_dims(path, shape, weight_shape):
    """Dimension names of a site of ``shape`` at layer ``path``: the weight's unit names where the site runs along
    them; ``None`` where it does not line up with the weight (its own names, then), and the singleton
    dimensions to squeeze."""
    prefix = path.replace(".", "_")
    if len(shape) != len(weight_shape) or any(s not in (1, w) for s, w in zip(shape, weight_shape)):
        return None, ()
    squeeze = tuple(i for i, s in enumerate(shape) if s == 1 and weight_shape[i] != 1)
    dims = [f"{prefix}_{UNIT_NAMES[i]}" for i in range(len(shape)) if i not in squeeze]
    return dims, squeeze


def _layer_of(name, layers):
    """The layer path a site belongs to (the longest path prefixing its name), or ``None``."""
    return max((p for p in layers if name.startswith(f"{p}.")), key=len, default=None)


def named_posterior(draws, layers):
    """
    Draws ``{site: array (chain, draw, *shape)}`` with the singleton dimensions a site has beside its layer's weight
    dropped, and the dimension names of each (``{site: [names]}``; ArviZ's own where a site does not line up).
    """
    posterior, dims = {}, {}
    for name, value in draws.items():
        path = _layer_of(name, layers)
        site_dims, squeeze = (None, ()) if path is None else _layer_dims(path, value.shape[2:],
                                                                         tuple(layers[path].weight_shape))
        side = name.rpartition(".norm_")[2] if ".norm_" in name else None
        if side in ("in", "out") and path is not None:
            site_dims, squeeze = [f"{path.replace('.', '_')}_{side}"], ()
        posterior[name] = value.squeeze(tuple(2 + i for i in squeeze)) if squeeze else value
        if site_dims is not None:
            dims[name] = site_dims
    return posterior, dims


def unit_norms(weight, batch_dims=0):
    """
    The L2 norm of the weights of each input unit and of each output unit: ``{"in": ..., "out": ...}``, for a
    weight ``(out, in, ...)`` behind ``batch_dims`` dimensions of draws.
    """
    w = weight.detach().double().pow(2)
    b = batch_dims
    return {"in": w.transpose(b, b + 1).flatten(b + 1).sum(-1).sqrt(), "out": w.flatten(b + 1).sum(-1).sqrt()}


def observe(model, data, handler):
    """The pointwise log-likelihood of ``data = (x, y)`` and a predictive draw under ``handler(model)`` (a model
    replayed or conditioned at one draw of the latent sites)."""
    obs = poutine.trace(handler(model)).get_trace(*data).nodes["obs"]
    return obs["fn"].log_prob(obs["value"]).detach().cpu().numpy(), obs["fn"].sample().detach().cpu().numpy()


@contextmanager
def whole_draws(model):
    """Within: every layer draws whole weights (local reparameterisation off), so that a draw is one network and
    each example sees the same."""
    bayesian = [layer for _, layer in model.bayesian_layers()]
    reparam = [layer.local_reparam for layer in bayesian]
    try:
        for layer in bayesian:
            layer.local_reparam = False
        yield
    finally:
        for layer, flag in zip(bayesian, reparam):
            layer.local_reparam = flag


def observed_groups(log_likelihood, predictive, y, shape):
    """The ``log_likelihood``, ``posterior_predictive`` and ``observed_data`` groups and the dims of ``obs``, from
    per-draw lists, reshaped to ``shape = (chains, draws)``."""
    groups = {"log_likelihood": {"obs": np.stack(log_likelihood).reshape(*shape, len(y))},
              "posterior_predictive": {"obs": np.stack(predictive).reshape(*shape, *y.shape)},
              "observed_data": {"obs": y.detach().cpu().numpy()}}
    return groups, ["example", *[f"obs_dim_{i}" for i in range(y.dim() - 1)]]


@torch.no_grad()
def _draws(model, guide, data, num_draws, sites, weights):
    """Posterior draws of the guide's sites and of each layer's unit norms, and per draw the pointwise
    log-likelihood and a predictive draw."""
    draws, log_likelihood, predictive = {}, [], []
    weight_sites = {layer.weight_site: path for path, layer in model.bayesian_layers()}
    for _ in range(num_draws):
        guide_trace = poutine.trace(guide).get_trace(*(() if data is None else data))
        for name, site in guide_trace.nodes.items():
            if site["type"] == "sample" and name in weight_sites and sites is None:
                for side, norm in unit_norms(site["value"]).items():
                    draws.setdefault(f"{weight_sites[name]}.norm_{side}", []).append(norm.float().cpu().numpy())
            if site["type"] != "sample" or (sites is not None and name not in sites):
                continue
            if sites is None and name.endswith(".weight") and name.rsplit(".", 1)[0] not in weights:
                continue
            draws.setdefault(name, []).append(site["value"].detach().cpu().numpy())
        if data is not None:
            values = observe(model, data, lambda m: poutine.replay(m, trace=guide_trace))
            log_likelihood.append(values[0])
            predictive.append(values[1])
    return draws, log_likelihood, predictive


def to_inference_data(model, guide, data=None, history=None, compression=None, num_samples=200, num_chains=1,
                      sites=None, weights=(), seed=0, masks=None, bits=None, **attrs):
    """
    Draw from a fitted guide and package the posterior for ArviZ.

    Groups of the result:

    - ``posterior``: draws of every scale, precision, support and mixing-weight site (weights of the layers named
      in ``weights`` too) and of each layer's unit norms (``{layer}.norm_in``, ``{layer}.norm_out``: the L2 norm
      of the weights each input and output unit carries, for every prior, even one with no other site), with
      dimensions named after the layer and the unit they run along (``0_in``, ``features_3_out``, ...) and
      singleton dimensions dropped;
    - with ``data = (x, y)``: ``log_likelihood`` (``obs``, one value per draw and example, each draw one network
      whose weights are drawn from the guide, for ``az.loo``,
      ``az.waic``, ``az.compare``), ``posterior_predictive`` (``obs``, a label or value drawn per draw and
      example, for ``az.plot_ppc``) and ``observed_data``;
    - with ``history`` (:func:`~pyrocomp.infer.fit`'s): ``sample_stats`` per ``epoch``: the loss (negative ELBO
      per example), the KL weight, seconds, and every number a hook recorded (Turbo-VBI's message change, ...);
    - ``constant_data``: per layer, the group log dropout rates of input and output units (what
      :class:`~pyrocomp.pruning.GroupLogAlphaThreshold` thresholds) and, with a
      :class:`~pyrocomp.pruning.Compression`, its masks, bits per weight and kept units;
    - ``attrs``: each layer's prior, the seed, the versions of pyrocomp, torch, Pyro and ArviZ, and ``attrs``.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its fitted guide.
    :param tuple data: ``(x, y)`` held-out data for the pointwise log-likelihood and the predictive.
    :param list history: the fit's per-epoch history.
    :param compression: a :class:`~pyrocomp.pruning.Compression` of this posterior; or, from a saved run,
        ``masks`` (``{layer: bool mask}``) and ``bits`` (``{layer: bits per weight}``).
    :param int num_samples: draws per chain.
    :param int num_chains: chains of independent draws (stack several fits with :func:`stack_fits`).
    :param sites: names of the sites to keep (default all but the weights).
    :param weights: layer paths whose weight draws to keep.
    :param int seed: seed of the draws (the global random state is left as it was).
    :rtype: arviz.InferenceData
    :raises ValueError: bad counts or unknown sites.
    """
    az = require("arviz", "diagnostics")
    if not (isinstance(num_samples, int) and num_samples > 0 and isinstance(num_chains, int) and num_chains > 0):
        raise ValueError(f"Expected positive ints num_samples and num_chains but got {num_samples!r}, {num_chains!r}")
    layers = dict(model.bayesian_layers())
    unknown = sorted(set(weights) - set(layers))
    if unknown:
        raise ValueError(f"Unknown layers {unknown} in weights; expected some of {sorted(layers)}")
    if data is not None:
        data = tuple(t.to(next(model.parameters()).device) if torch.is_tensor(t) else t for t in data)
    with whole_draws(model), torch.random.fork_rng(), pyro.validation_enabled(False):
        torch.manual_seed(seed)
        draws, log_likelihood, predictive = _draws(model, guide, data, num_samples * num_chains, sites, set(weights))
    if sites is not None and set(sites) - set(draws):
        raise ValueError(f"Unknown sites {sorted(set(sites) - set(draws))}; expected some of the guide's sites")

    posterior, dims = named_posterior({name: np.stack(values).reshape(num_chains, num_samples, *values[0].shape)
                                       for name, values in draws.items()}, layers)
    groups = dict(posterior=posterior)
    if data is not None:
        observed, dims["obs"] = observed_groups(log_likelihood, predictive, data[1], (num_chains, num_samples))
        groups.update(observed)
    if compression is not None:
        masks, bits = compression.masks, {row.name: row.bits for row in compression.report.layers}
    posteriors = compression.posteriors if compression is not None else summarize(model, guide, seed=seed)
    constant, constant_dims = _constant_data(posteriors, masks, bits)
    dims.update(constant_dims)
    groups["constant_data"] = constant
    idata = az.from_dict(**groups, dims=dims)
    if history:
        idata.add_groups(sample_stats=_history(history, num_chains, az))
    idata.attrs.update(_attrs(model, seed, attrs))
    return idata


def _constant_data(posteriors, masks, bits):
    constant, dims = {}, {}
    for path, post in posteriors.items():
        prefix = path.replace(".", "_")
        for group in ("in", "out"):
            log_alpha = group_log_alpha(post.weight_mean, post.weight_variance, group)
            constant[f"{path}.group_log_alpha_{group}"] = log_alpha.detach().cpu().numpy()
            dims[f"{path}.group_log_alpha_{group}"] = [f"{prefix}_{group}"]
        if masks is not None and path in masks:
            mask = masks[path]
            constant[f"{path}.mask"] = mask.detach().cpu().numpy()
            dims[f"{path}.mask"] = [f"{prefix}_{UNIT_NAMES[i]}" for i in range(mask.dim())]
            for group in ("in", "out"):
                constant[f"{path}.kept_{group}"] = kept_units(mask, group).cpu().numpy()
                dims[f"{path}.kept_{group}"] = [f"{prefix}_{group}"]
    if bits:
        constant["bits"] = np.array(list(bits.values()))
        dims["bits"] = ["layer"]
    return constant, dims


def _history(history, num_chains, az):
    """The fit's per-epoch numbers as ``(chain, epoch)`` arrays (every chain the same fit's history)."""
    import xarray

    keys = [k for k, v in history[0].items() if isinstance(v, (int, float)) and k != "epoch"]
    records = [{**h, **{f"{hook}.{k}": v for hook, rec in h.items() if isinstance(rec, dict)
                        for k, v in rec.items() if isinstance(v, (int, float))}} for h in history]
    keys += sorted({k for r in records for k in r if "." in k and isinstance(r[k], (int, float))})
    data = {k: (("chain", "epoch"), np.tile(np.array([r.get(k, np.nan) for r in records], dtype=float),
                                            (num_chains, 1))) for k in keys}
    return xarray.Dataset(data, coords={"chain": np.arange(num_chains),
                                        "epoch": np.array([h["epoch"] for h in history])})


def _attrs(model, seed, extra):
    versions = {}
    for package in ("pyrocomp", "torch", "pyro-ppl", "arviz"):
        try:
            versions[f"{package}_version"] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[f"{package}_version"] = "unknown"
    priors = {f"prior_{path}": repr(layer.prior) for path, layer in model.bayesian_layers()}
    return {"seed": seed, **versions, **priors, **{k: str(v) for k, v in extra.items()}}
