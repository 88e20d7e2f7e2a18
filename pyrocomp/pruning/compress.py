import copy
import warnings
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

import torch
from torch import nn

from pyrocomp.nn import BayesianLayer

from .bits import bit_precision, significand_bits
from .clusters import weight_clusters
from .criteria import PruningCriterion
from .default_criteria import default_criterion
from .export import prune_, select_outputs_
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
    :ivar outputs: the classes the network's outputs predict, in order (``None``: every class).
    """

    network: nn.Module
    masks: Dict[str, torch.Tensor]
    posteriors: Dict[str, LayerPosterior]
    report: CompressionReport
    outputs: Optional[List[int]] = None


@torch.no_grad()
def compress(model, guide, example_input, criterion=None, num_samples=256, seed=0, posteriors=None, elbo=None,
             prune_outputs=False, context=None, vectorize_particles=False):
    """
    Read a smaller deterministic network off the posterior: masks from the pruning criterion
    (each layer's registered default after a fit with ``elbo`` unless given,
    :func:`~pyrocomp.pruning.default_criterion`), weights at the posterior means (paper 003
    eq. (4)), disconnected units physically removed, bit precision per layer from the
    posterior variance. The report lists every ``Linear`` and ``Conv2d`` layer, those without a prior
    at 32 bits.

    A classifier's classes are never removed unless ``prune_outputs``: with a categorical likelihood, an
    output unit of the last layer whose every weight the criterion drops keeps its weights, with a warning.

    With a ``context``, ``guide`` is an :class:`~pyrocomp.guides.AutoConditionalGuide` and the network is the
    context's (paper 003, BHC); when the context names the classes it needs
    (:meth:`~pyrocomp.guides.Context.output_classes`), the network keeps those output units alone, in
    order (:attr:`Compression.outputs`).

    :param model: the fitted :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide`.
    :param torch.Tensor example_input: a batch of inputs (spatial sizes, folded constants).
    :param criterion: a :class:`~pyrocomp.pruning.PruningCriterion` or ``None``.
    :param elbo: the ELBO the posterior was fitted with (it picks the default criteria).
    :param int num_samples: draws for the marginal posterior moments.
    :param bool prune_outputs: let the criterion remove whole output units of a classifier.
    :param dict posteriors: the output of :func:`~pyrocomp.pruning.summarize` for ``model`` and
        ``guide``, when already at hand (``num_samples`` and ``seed`` are then unused).
    :param torch.Tensor context: a context of a conditional guide.
    :param bool vectorize_particles: batch the posterior draws (:func:`~pyrocomp.pruning.summarize`).
    :rtype: Compression
    """
    if criterion is not None and not isinstance(criterion, PruningCriterion):
        raise TypeError(f"Expected criterion to be a PruningCriterion but got {criterion!r}")
    if posteriors is None and context is None:
        posteriors = summarize(model, guide, num_samples, seed, vectorize_particles)
    if context is None:
        return _compress(model, guide, example_input, criterion, posteriors, elbo, prune_outputs)
    if not hasattr(guide, "given"):
        raise TypeError(f"A context needs a conditional guide (AutoConditionalGuide) but got {type(guide).__name__}")
    with guide.given(context):
        outputs = guide.context.output_classes(context)
        posteriors = summarize(model, guide, num_samples, seed, vectorize_particles) if posteriors is None else posteriors
        return _compress(model, guide, example_input, criterion, posteriors, elbo, prune_outputs, outputs)


def _compress(model, guide, example_input, criterion, posteriors, elbo, prune_outputs, outputs=None):
    layers = dict(model.bayesian_layers())
    masks = {}
    for path, post in posteriors.items():
        rule = criterion if criterion is not None else default_criterion(layers[path].prior, elbo)
        masks[path] = rule.keep(post).expand(post.weight_mean.shape)
    output = _output_layer(model) if getattr(model.likelihood, "keeps_output_units", False) else None
    if output in masks and outputs is not None:  # the context's classes alone
        keep = torch.zeros(masks[output].shape[0], dtype=torch.bool, device=masks[output].device)
        keep[list(outputs)] = True
        keep = keep.reshape(-1, *[1] * (masks[output].dim() - 1))
        masks[output] = masks[output] & keep
        if not prune_outputs:
            masks[output] = _keep_output_units(output, masks[output] | ~keep) & keep
    elif output in masks and not prune_outputs:
        masks[output] = _keep_output_units(output, masks[output])
    weights = {path: post.weight_mean * masks[path] for path, post in posteriors.items()}
    network = model.to_plain(weights)
    network.eval()
    rows = []
    for s in prune_(network, example_input):
        post = posteriors.get(s.name)
        bits, clusters, significand = 32, [], None
        if post is not None:
            alive = masks[s.name] & (weights[s.name] != 0)
            bits, clusters = bit_precision(post.weight_mean, post.weight_variance, alive), weight_clusters(alive)
            significand = significand_bits(post.weight_mean, post.weight_variance, alive)
        rows.append(LayerReport(s.name, s.kind, s.weights, s.weights_kept, s.in_units, s.in_kept, s.out_units,
                                s.out_kept, bits if s.weights_kept else 0, s.macs, s.macs_kept, s.width, clusters,
                                s.kernel, significand))
    result = Compression(network=network, masks=masks, posteriors=posteriors, report=CompressionReport(rows))
    return result if outputs is None else _select_outputs(result, outputs)


@torch.no_grad()
def compress_masked(network, masks, example_input):
    """
    The same accounting for a network pruned without a posterior (magnitude pruning, SNIP, ...): a copy of
    ``network`` with ``masks`` applied, its disconnected units physically removed (:func:`prune_`), and a
    :class:`CompressionReport` at 32 bits per kept weight.

    :param torch.nn.Module network: a plain network.
    :param dict masks: ``{module path: bool mask}`` of the weights of its ``Linear`` / ``Conv2d`` layers.
    :rtype: Compression
    :raises ValueError: a mask for a module that is not one of its layers, or of another shape.
    """
    network = copy.deepcopy(network).eval()
    modules = dict(network.named_modules())
    for path, mask in masks.items():
        module = modules.get(path)
        if not isinstance(module, (nn.Linear, nn.Conv2d)) or tuple(mask.shape) != tuple(module.weight.shape):
            shape = None if module is None or not hasattr(module, "weight") else tuple(module.weight.shape)
            raise ValueError(f"Expected masks of the network's Linear/Conv2d weights but got {path!r} of shape "
                             f"{tuple(mask.shape)} (module weight: {shape})")
        module.weight.mul_(mask.to(module.weight.device, module.weight.dtype))
    rows = [LayerReport(s.name, s.kind, s.weights, s.weights_kept, s.in_units, s.in_kept, s.out_units, s.out_kept,
                        32 if s.weights_kept else 0, s.macs, s.macs_kept, s.width, [], s.kernel, None)
            for s in prune_(network, example_input)]
    return Compression(network=network, masks=dict(masks), posteriors={}, report=CompressionReport(rows))


def _select_outputs(result, outputs):
    # the network predicts the context's classes alone: the other output units go, with their weights and MACs
    path = select_outputs_(result.network, outputs)
    rows = []
    for row in result.report.layers:
        if row.name == path:
            layer = result.network.get_submodule(path)
            kept = len(outputs) if row.out_kept else 0
            macs_kept = row.macs_kept * kept // row.out_kept if row.out_kept else 0
            row = replace(row, out_kept=kept, weights_kept=int(layer.weight.ne(0).sum()), macs_kept=macs_kept)
        rows.append(row)
    return replace(result, report=CompressionReport(rows), outputs=list(outputs))


def _output_layer(model):
    """The path of the network's last ``Linear`` / ``Conv2d`` layer when it is Bayesian, else ``None``."""
    last = None
    for path, module in model.net.named_modules():
        if isinstance(module, (BayesianLayer, nn.Linear, nn.Conv2d)):
            last = path if isinstance(module, BayesianLayer) else None
    return last


def _keep_output_units(path, mask):
    dead = ~mask.reshape(mask.shape[0], -1).any(1)
    if bool(dead.any()):
        warnings.warn(f"The criterion drops every weight of output units {dead.nonzero().flatten().tolist()} of "
                      f"layer {path!r}, the network's outputs; they keep their weights (pass prune_outputs=True to "
                      "remove them)", stacklevel=3)
        mask = mask | dead.reshape(-1, *[1] * (mask.dim() - 1))
    return mask
