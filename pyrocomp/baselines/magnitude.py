"""Magnitude pruning with retraining (Han et al., NeurIPS 2015; the pruning stage of Deep Compression)."""
import torch
from torch import nn

from pyrocomp.infer import train


def prunable_weights(network):
    """``{module path: weight}`` of the ``Linear`` and ``Conv2d`` layers of ``network``, in module order."""
    return {path: m.weight for path, m in network.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


def check_keep_fraction(value):
    """``value`` as a float after checking it is a fraction of weights to keep, in (0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Expected keep_fraction to be a number in (0, 1] but got {value!r}")
    if not 0.0 < value <= 1.0:
        raise ValueError(f"Expected keep_fraction in (0, 1] but got {value}")
    return float(value)


def top_masks(scores, keep_fraction):
    """Masks keeping the ``round(keep_fraction · total)`` largest ``scores`` over all layers together (ties go to the
    earlier weight)."""
    keep_fraction = check_keep_fraction(keep_fraction)
    flat = torch.cat([s.detach().flatten() for s in scores.values()])
    keep = round(keep_fraction * flat.numel())
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    chosen[torch.sort(flat, descending=True, stable=True).indices[:keep]] = True
    masks, start = {}, 0
    for path, s in scores.items():
        masks[path] = chosen[start:start + s.numel()].reshape(s.shape)
        start += s.numel()
    return masks


@torch.no_grad()
def apply_masks_(network, masks):
    """Zero the weights of ``network``'s ``Linear`` / ``Conv2d`` layers that ``masks`` (``{module path: bool mask}``)
    drop, in place."""
    for path, weight in prunable_weights(network).items():
        weight.mul_(masks[path])


def magnitude_masks(network, keep_fraction):
    r"""
    Keep the ``keep_fraction`` of all ``Linear`` / ``Conv2d`` weights with the largest :math:`|w|`, one threshold
    for the whole network.

    :returns: ``{module path: bool mask}``.
    """
    return top_masks({path: w.abs() for path, w in prunable_weights(network).items()}, keep_fraction)


def iterative_magnitude_pruning(network, data, keep_fraction, *, rounds=3, retrain_epochs=2, lr=1e-4,
                                batch_size=100, device=None, seed=0, progress=False):
    r"""
    Iterative magnitude pruning: ``rounds`` times, prune the smallest weights down to the round's share of the
    schedule :math:`k_r = k^{r/R}` (:math:`k` = ``keep_fraction``), then retrain the rest with their zeros kept.
    ``network`` is changed in place.

    :param data: the training data (a loader, a dataset or an ``(x, y)`` pair).
    :returns: the final masks ``{module path: bool mask}``.
    """
    if not (isinstance(rounds, int) and rounds > 0):
        raise ValueError(f"Expected rounds to be a positive int but got {rounds!r}")
    keep_fraction = check_keep_fraction(keep_fraction)
    masks = {}
    for r in range(1, rounds + 1):
        masks = magnitude_masks(network, keep_fraction ** (r / rounds))
        apply_masks_(network, masks)
        train(network, data, epochs=retrain_epochs, lr=lr, batch_size=batch_size, device=device, seed=seed + r,
              keep_zeros=True, progress=progress, desc=f"magnitude round {r}")
    return masks
