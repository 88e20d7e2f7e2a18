"""Choosing a pruning threshold on held-out data."""
import copy
from dataclasses import dataclass, field
from typing import List

import torch

from .compress import Compression, compress
from .criteria import PruningCriterion
from .layer_posterior import summarize


@dataclass
class Calibration:
    """
    The result of :func:`calibrate`.

    :ivar criterion: the chosen criterion.
    :ivar compression: the :class:`~pyrocomp.pruning.Compression` it gives.
    :ivar float reference_error: the held-out error the tolerance is measured from.
    :ivar list table: one dict per candidate: ``criterion``, ``error`` (held out),
        ``smoothed_error`` (the monotone fit the choice reads, or ``error`` without smoothing),
        ``weights_kept``, ``cr_prune``, ``chosen``.
    """

    criterion: PruningCriterion
    compression: Compression
    reference_error: float
    table: List[dict] = field(default_factory=list)

    @property
    def chosen(self):
        """The table row of the chosen candidate."""
        return next(row for row in self.table if row["chosen"])

    @property
    def at_edge(self):
        """Whether the chosen candidate is the first or last one tried: the best threshold may lie
        beyond the grid."""
        return len(self.table) > 1 and (self.table[0]["chosen"] or self.table[-1]["chosen"])


class _KeepAll(PruningCriterion):
    def keep(self, posterior):
        return torch.ones_like(posterior.weight_mean, dtype=torch.bool)


def monotone_errors(weights_kept, errors):
    r"""
    The least-squares fit to held-out ``errors`` that does not rise as more weights are kept
    (isotonic regression, pool-adjacent-violators; equal counts share one value). A pruned
    network that keeps a superset of another's weights is not expected to be worse, so a sparse
    candidate that happens to do better than denser ones on a few hundred examples is pooled with
    them instead of being believed.

    :param weights_kept: number of weights each candidate keeps.
    :param errors: their held-out errors.
    :rtype: list
    """
    from sklearn.isotonic import IsotonicRegression

    if len(weights_kept) != len(errors):
        raise ValueError(f"Expected as many errors as counts but got {len(errors)} and {len(weights_kept)}")
    if not len(errors):
        return []
    fitted = IsotonicRegression(increasing=False).fit_transform([float(k) for k in weights_kept], [float(e) for e in errors])
    return [float(e) for e in fitted]


def choose_sparsest(table, reference_error, tolerance, smooth=True, reference_kept=None):
    r"""
    The rule of :func:`calibrate`, for any table of candidates: the row that keeps the fewest weights
    among those whose held-out error is within ``tolerance`` of ``reference_error``; when none is,
    the most accurate (the sparsest among equals). With ``smooth`` the errors are first replaced by
    :func:`monotone_errors`; a measured reference joins that fit when ``reference_kept`` (its number
    of weights) is given, and its smoothed value becomes the reference. Sets each row's
    ``smoothed_error`` and ``chosen``.

    :param list table: dicts with ``weights_kept`` and ``error``.
    :returns: ``(index of the chosen row, reference error used)``.
    """
    if not table:
        raise ValueError("Expected at least one candidate row but got none")
    if not tolerance >= 0:
        raise ValueError(f"Expected tolerance >= 0 but got {tolerance}")
    kept, errors = [row["weights_kept"] for row in table], [row["error"] for row in table]
    if smooth:
        if reference_kept is not None:
            *errors, reference_error = monotone_errors(kept + [reference_kept], errors + [reference_error])
        else:
            errors = monotone_errors(kept, errors)
    for row, error in zip(table, errors):
        row["smoothed_error"], row["chosen"] = error, False
    admissible = [i for i, row in enumerate(table) if row["smoothed_error"] <= reference_error + tolerance + 1e-12]
    if admissible:
        index = min(admissible, key=lambda i: table[i]["weights_kept"])
    else:  # nothing within tolerance: the most accurate candidate
        index = min(range(len(table)), key=lambda i: (table[i]["smoothed_error"], table[i]["weights_kept"]))
    table[index]["chosen"] = True
    return index, reference_error


@torch.no_grad()
def calibrate(model, guide, validation, example_input, candidates, tolerance=0.005, reference_error=None,
              finetune=None, num_samples=256, seed=0, smooth=True):
    r"""
    Among ``candidates`` (pruning criteria, usually one criterion at a grid of thresholds, see
    :meth:`~pyrocomp.pruning.PruningCriterion.with_threshold`), choose the one that keeps the fewest
    weights while the pruned network's error on held-out ``validation`` data stays within
    ``tolerance`` of ``reference_error``:

    .. math:: c^* = \arg\min_c |w \neq 0|_c \quad \text{s.t.} \quad \text{err}_c \le \text{err}_\text{ref} + \text{tolerance}.

    The posterior is summarised once; each candidate costs one pruning and one pass over
    ``validation``. Held-out data keep the test set out of the choice. When the pruned network
    will be fine-tuned, pass the fine-tuning as ``finetune``: candidates (and the reference) are
    then judged after it, on a copy — what fine-tuning recovers differs between thresholds.

    With ``smooth`` the choice reads :func:`monotone_errors` of the candidates' errors, the
    unpruned network's among them when it is the reference (its smoothed value is then the
    reference): on a few hundred held-out examples one error is a handful of mistakes, and the
    sparsest raw error within tolerance is the luckiest, not the best.

    :param model: the fitted :class:`~pyrocomp.nn.BayesianNetwork`.
    :param guide: its :class:`~pyrocomp.guides.AutoCompressionGuide`.
    :param validation: held-out data: a loader, a dataset or an ``(x, y)`` pair.
    :param torch.Tensor example_input: a batch of inputs for :func:`~pyrocomp.pruning.compress`.
    :param candidates: an iterable of :class:`~pyrocomp.pruning.PruningCriterion`.
    :param float tolerance: allowed rise of the held-out error, as a fraction (0.005 = 0.5 points).
    :param float reference_error: default: the held-out error of the unpruned posterior-mean
        network (after ``finetune``). Pass one reference to compare several fits at one error.
    :param finetune: ``None`` or a callable ``finetune(network)`` training a pruned network in
        place (e.g. :func:`~pyrocomp.infer.train` with ``keep_zeros=True``); the returned
        compression is not fine-tuned.
    :param bool smooth: choose on the monotone fit of the errors (default) or on the raw errors.
    :raises ValueError: when ``candidates`` is empty or ``tolerance`` negative.
    :rtype: Calibration
    """
    from pyrocomp.infer.evaluation import classification_error

    candidates = list(candidates)
    if not candidates:
        raise ValueError("Expected at least one candidate criterion but got none")
    if not all(isinstance(c, PruningCriterion) for c in candidates):
        raise TypeError(f"Expected PruningCriterion candidates but got {candidates!r}")
    if not tolerance >= 0:
        raise ValueError(f"Expected tolerance >= 0 but got {tolerance}")
    posteriors = summarize(model, guide, num_samples=num_samples, seed=seed)
    device = example_input.device

    def evaluate(criterion):
        result = compress(model, guide, example_input, criterion=criterion, posteriors=posteriors)
        network = result.network
        if finetune is not None:
            network = copy.deepcopy(network)
            with torch.enable_grad():
                finetune(network)
        return result, classification_error(network, validation, device)

    reference = None
    if reference_error is None:
        reference, reference_error = evaluate(_KeepAll())
    results, table = [], []
    for criterion in candidates:
        result, error = evaluate(criterion)
        results.append(result)
        table.append(dict(criterion=repr(criterion), error=error, weights_kept=result.report.weights_kept,
                          cr_prune=result.report.cr_prune))
    index, reference_error = choose_sparsest(table, reference_error, tolerance, smooth=smooth,
                                             reference_kept=None if reference is None else reference.report.weights_kept)
    return Calibration(candidates[index], results[index], reference_error, table)
