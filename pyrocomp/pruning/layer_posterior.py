from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch

from pyro.distributions import Normal

from pyrocomp.util import unwrap_independent


@dataclass
class LayerPosterior:
    r"""
    What pruning reads off the posterior of one layer.

    :ivar str name: the layer path.
    :ivar torch.Tensor weight_mean: posterior mean with upstream scales at their means
        (paper 003 eq. (4)); the weights of the deterministic network.
    :ivar torch.Tensor weight_variance: marginal posterior variance (paper 003 §4.3).
    :ivar torch.Tensor log_alpha: per-weight log dropout rate
        :math:`\log\alpha = \log\sigma^2 - \log\mu^2` of the marginal posterior.
    :ivar scale_log_alpha: log dropout rate of the weight's prior scale (the group scale of
        Gaussian scale-mixture priors), broadcast to the weight's shape; ``None`` when the
        prior is not Gaussian.
    :ivar prior_precision: :math:`E_q[1/s^2]` of the weight's Gaussian prior scale :math:`s`
        (the posterior precision :math:`E[\rho]` of paper 001), ``None`` for other priors.
    :ivar dict sites: ``{site: (mean, variance)}`` of every latent site of the layer.
    """

    name: str
    weight_mean: torch.Tensor
    weight_variance: torch.Tensor
    log_alpha: torch.Tensor
    scale_log_alpha: Optional[torch.Tensor] = None
    prior_precision: Optional[torch.Tensor] = None
    sites: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


def _log_alpha(mean, second):
    tiny = torch.finfo(mean.dtype).tiny
    var = (second - mean.pow(2)).clamp_min(0)
    return var.clamp_min(tiny).log() - mean.pow(2).clamp_min(tiny).log()


def summarize(model, guide, num_samples=256, seed=0, vectorize_particles=False):
    """
    Summarise the posterior of every Bayesian layer of ``model``.

    :param model: a :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide`.
    :param int num_samples: draws of upstream scales for the marginal moments.
    :param bool vectorize_particles: batch the draws (faster; see
        :meth:`~pyrocomp.guides.AutoCompressionGuide.monte_carlo`).
    :returns: ``{layer path: LayerPosterior}`` in layer order.
    """
    weight_sites = {layer.weight_site: path for path, layer in model.bayesian_layers()}

    def statistic(trace):
        out = {}
        for name, site in trace.nodes.items():
            if site["type"] != "sample":
                continue
            mean = site["fn"].mean
            out[name, 1], out[name, 2] = mean, site["fn"].variance + mean.pow(2)
            prior = unwrap_independent(site["infer"].get("prior"))
            if name in weight_sites and isinstance(prior, Normal):
                scale = prior.scale.expand(mean.shape)
                out[name, "s1"], out[name, "s2"], out[name, "p"] = scale, scale.pow(2), scale.pow(-2)
        return out

    stats = guide.monte_carlo(statistic, num_samples, seed, vectorize_particles=vectorize_particles)
    means = guide.mean()
    result = {}
    for path, layer in model.bayesian_layers():
        w = layer.weight_site
        sites = {
            name: (stats[name, 1], (stats[name, 2] - stats[name, 1].pow(2)).clamp_min(0))
            for name, order in stats
            if order == 1 and name.rpartition(".")[0] == path
        }
        scale_log_alpha = _log_alpha(stats[w, "s1"], stats[w, "s2"]) if (w, "s1") in stats else None
        result[path] = LayerPosterior(
            name=path,
            weight_mean=means[w],
            weight_variance=sites[w][1],
            log_alpha=_log_alpha(stats[w, 1], stats[w, 2]),
            scale_log_alpha=scale_log_alpha,
            prior_precision=stats.get((w, "p")),
            sites=sites,
        )
    return result
