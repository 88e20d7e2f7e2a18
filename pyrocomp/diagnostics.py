"""Posterior draws as an ArviZ ``InferenceData``, for ``arviz.summary``, ``plot_posterior``, ..."""
import numpy as np
import torch

from pyrocomp.util import require

az = require("arviz", "diagnostics")


@torch.no_grad()
def to_inference_data(guide, num_samples=200, sites=None, num_chains=1, seed=0):
    """
    Draw from the guide's posterior and package the draws for ArviZ.

    :param guide: an :class:`~pyrocomp.guides.AutoCompressionGuide` (or any callable whose
        :meth:`trace` gives a trace of posterior sites).
    :param int num_samples: draws per chain.
    :param sites: names of the sites to keep (default: all but the weights, which are large).
    :param int num_chains: independent chains of draws (ArviZ's ``chain`` dimension).
    :returns: :class:`arviz.InferenceData` with a ``posterior`` group.

    Example::

        idata = to_inference_data(guide, sites=["0.scale"])
        arviz.summary(idata)
    """
    if not (isinstance(num_samples, int) and num_samples > 0 and isinstance(num_chains, int) and num_chains > 0):
        raise ValueError(f"Expected positive ints num_samples and num_chains but got {num_samples!r}, {num_chains!r}")
    draws = {}
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for _ in range(num_samples * num_chains):
            for name, site in guide.trace().nodes.items():
                if site["type"] != "sample":
                    continue
                if (sites is None and name.endswith(".weight")) or (sites is not None and name not in sites):
                    continue
                draws.setdefault(name, []).append(site["value"].detach().cpu().numpy())
    if sites is not None and set(sites) - set(draws):
        raise ValueError(f"Unknown sites {sorted(set(sites) - set(draws))}; expected some of the guide's sites")
    posterior = {name: np.stack(values).reshape(num_chains, num_samples, *values[0].shape)
                 for name, values in draws.items()}
    return az.from_dict(posterior=posterior)
