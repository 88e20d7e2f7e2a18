"""
Error–compression frontiers: what one fitted posterior gives at every threshold of its pruning criterion, the Pareto
front of several fits, and how two methods' fronts compare: the area between them and whether one dominates.
"""
import copy
import math

import torch

from pyrocomp.infer import classification_error

from .compress import compress
from .default_criteria import default_criterion
from .layer_posterior import summarize
from .sparse_execution import measure


@torch.no_grad()
def sweep_thresholds(model, guide, data, example_input, criterion=None, thresholds=None, elbo=None, finetune=None,
                     posteriors=None, latency_input=None, progress=False):
    r"""
    The error–compression curve of one fitted posterior: its pruning criterion at every threshold, without fitting
    again. The posterior's moments are drawn once; each threshold gives masks, the physically pruned network and its
    test error (after ``finetune`` when given, on a copy).

    :param model: the fitted :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its guide.
    :param data: the data the error is measured on (a loader, a dataset or an ``(x, y)`` pair).
    :param torch.Tensor example_input: a batch of inputs for :func:`~pyrocomp.pruning.compress`.
    :param criterion: a :class:`~pyrocomp.pruning.PruningCriterion` (default: the prior's, after ``elbo``).
    :param thresholds: the thresholds (default: the criterion's :attr:`~pyrocomp.pruning.PruningCriterion.grid`).
    :param finetune: ``finetune(network)`` trains a pruned network in place, keeping its zeros.
    :param dict posteriors: :func:`~pyrocomp.pruning.summarize`'s output, when at hand.
    :param torch.Tensor latency_input: when given, each network's median seconds on it
        (:func:`~pyrocomp.pruning.measure`).
    :returns: one dict per threshold, in the given order: ``threshold, error, weights_kept, kept_percent``
        (:math:`|w \ne 0| / |w|` in %), ``cr_prune, cr_bits, macs_kept, macs, macs_ratio`` (``macs / macs_kept``, the
        compression in multiply-accumulates, to give :func:`pareto_front` as ``x``), ``flops_reduction_percent,
        architecture``, ``network`` (the pruned network the error was measured on, to evaluate further or deploy)
        and ``seconds`` (with ``latency_input``).
    """
    if criterion is None:
        criterion = default_criterion(next(layer for _, layer in model.bayesian_layers()).prior, elbo)
    if thresholds is None:
        candidates = criterion.sweep()
        thresholds = list(criterion.grid)
    else:
        thresholds = list(thresholds)
        if not thresholds:
            raise ValueError("Expected at least one threshold")
        candidates = [criterion.with_threshold(t) for t in thresholds]
    posteriors = summarize(model, guide) if posteriors is None else posteriors
    points = []
    for threshold, candidate in zip(thresholds, candidates):
        result = compress(model, guide, example_input, criterion=candidate, posteriors=posteriors, elbo=elbo)
        network = result.network
        if finetune is not None:
            network = copy.deepcopy(network)
            with torch.enable_grad():
                finetune(network)
        report = result.report
        point = dict(threshold=threshold, error=classification_error(network, data), weights_kept=report.weights_kept,
                     kept_percent=report.wr_percent, cr_prune=report.cr_prune, cr_bits=report.cr_bits,
                     macs_kept=report.macs_kept, macs=report.macs, macs_ratio=report.macs / max(report.macs_kept, 1),
                     flops_reduction_percent=report.flops_reduction_percent, architecture=report.architecture,
                     network=network)
        if latency_input is not None:
            point["seconds"] = measure(network.eval(), latency_input)
        points.append(point)
    return points


def pareto_front(points, x="cr_prune", y="error"):
    """
    The points no other point beats: none with a larger or equal ``x`` (compression) and a smaller or equal ``y``
    (error), one of them strictly. Several fits' curves (KL weights, seeds) of one method pooled give the method's
    front.

    :param points: dicts with the keys ``x`` and ``y``.
    :returns: the front, by increasing ``y``.
    """
    ordered = sorted(points, key=lambda p: (p[y], -p[x]))
    front, best = [], -math.inf
    for p in ordered:
        if p[x] > best:
            front.append(p)
            best = p[x]
    return front


def best_compression(front, error, x="cr_prune", y="error"):
    """The largest ``x`` of a point of ``front`` whose ``y`` is at most ``error`` (1 when none is: no compression)."""
    return max([p[x] for p in front if p[y] <= error], default=1.0)


def area_between_fronts(front_a, front_b, errors, x="cr_prune", y="error"):
    r"""
    How much more method A compresses than method B over a range of errors: the mean over errors
    :math:`e \in [e_0, e_1]` of :math:`\log_{10} C_A(e) - \log_{10} C_B(e)`, where :math:`C(e)` is the best
    compression a front reaches at error :math:`e` or below (:func:`best_compression`, a step function, so the
    integral is exact). Positive: A's front lies above B's; 1 means ten times the compression on average.

    :param tuple errors: ``(e0, e1)``, as fractions like the fronts' errors.
    """
    e0, e1 = errors
    if not e0 < e1:
        raise ValueError(f"Expected an error range (e0, e1) with e0 < e1 but got {errors!r}")
    steps = sorted({e0, e1, *[p[y] for p in [*front_a, *front_b] if e0 < p[y] < e1]})
    area = sum((right - left) * (math.log10(best_compression(front_a, left, x, y))
                                 - math.log10(best_compression(front_b, left, x, y)))
               for left, right in zip(steps, steps[1:]))
    return area / (e1 - e0)


def dominates(front_a, front_b, errors, x="cr_prune", y="error"):
    r"""
    Whether front A lies on or above front B over a range of errors: :math:`C_A(e) \ge C_B(e)` at every
    :math:`e \in [e_0, e_1]`, with :math:`C` the best compression at error :math:`e` or below
    (:func:`best_compression`). Both are step functions that rise only at their points' errors, so it is enough to
    compare them at :math:`e_0` and at each point of B inside the range.

    :param tuple errors: ``(e0, e1)``, as fractions like the fronts' errors, ``e0 <= e1``.
    """
    e0, e1 = errors
    if not e0 <= e1:
        raise ValueError(f"Expected an error range (e0, e1) with e0 <= e1 but got {errors!r}")
    checks = [e0, *[p[y] for p in front_b if e0 < p[y] <= e1]]
    return all(best_compression(front_a, e, x, y) >= best_compression(front_b, e, x, y) for e in checks)
