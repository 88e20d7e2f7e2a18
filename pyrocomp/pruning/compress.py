from dataclasses import dataclass
from typing import Dict

import torch
from torch import nn

from .bits import bit_precision
from .clusters import weight_clusters
from .criteria import PruningCriterion
from .default_criteria import default_criterion
from .export import prune_
from .layer_posterior import LayerPosterior, summarize
from .report import CompressionReport, LayerReport


@dataclass
class Compression:
    """
    The result of :func:`compress`.

    :ivar network: the physically pruned plain network (posterior means × masks).
    :ivar masks: ``{layer path: bool mask}`` in the original weight shapes.
    :ivar posteriors: ``{layer path: LayerPosterior}``.
    :ivar report: the :class:`CompressionReport` (``error`` unset until evaluated).
    """

    network: nn.Module
    masks: Dict[str, torch.Tensor]
    posteriors: Dict[str, LayerPosterior]
    report: CompressionReport


@torch.no_grad()
def compress(model, guide, example_input, criterion=None, num_samples=256, seed=0, posteriors=None, elbo=None):
    """
    Read a smaller deterministic network off the posterior: masks from the pruning criterion
    (each layer's registered default after a fit with ``elbo`` unless given,
    :func:`~pyrocomp.pruning.default_criterion`), weights at the posterior means (paper 003
    eq. (4)), disconnected units physically removed, bit precision per layer from the
    posterior variance.

    :param model: the fitted :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide`.
    :param torch.Tensor example_input: a batch of inputs (spatial sizes, folded constants).
    :param criterion: a :class:`~pyrocomp.pruning.PruningCriterion` or ``None``.
    :param elbo: the ELBO the posterior was fitted with (it picks the default criteria).
    :param int num_samples: draws for the marginal posterior moments.
    :param dict posteriors: the output of :func:`~pyrocomp.pruning.summarize` for ``model`` and
        ``guide``, when already at hand (``num_samples`` and ``seed`` are then unused).
    :rtype: Compression
    """
    if criterion is not None and not isinstance(criterion, PruningCriterion):
        raise TypeError(f"Expected criterion to be a PruningCriterion but got {criterion!r}")
    if posteriors is None:
        posteriors = summarize(model, guide, num_samples=num_samples, seed=seed)
    layers = dict(model.bayesian_layers())
    masks, weights = {}, {}
    for path, post in posteriors.items():
        rule = criterion if criterion is not None else default_criterion(layers[path].prior, elbo)
        masks[path] = rule.keep(post).expand(post.weight_mean.shape)
        weights[path] = post.weight_mean * masks[path]
    network = model.to_plain(weights)
    network.eval()
    structure = {s.name: s for s in prune_(network, example_input)}
    rows = []
    for path, post in posteriors.items():
        s = structure[path]
        bits = bit_precision(post.weight_mean, post.weight_variance, masks[path] & (weights[path] != 0))
        rows.append(LayerReport(s.name, s.kind, s.weights, s.weights_kept, s.in_units, s.in_kept, s.out_units,
                                s.out_kept, bits if s.weights_kept else 0, s.macs, s.macs_kept, s.width,
                                weight_clusters(masks[path] & (weights[path] != 0))))
    return Compression(network=network, masks=masks, posteriors=posteriors, report=CompressionReport(rows))
