import math

import torch


def bit_precision(mean, variance, mask):
    r"""
    Bits per weight of a layer from its posterior (after Bayesian Compression §5: the
    posterior uncertainty tells how finely a weight needs to be represented).

    Weights are stored as floats with one sign bit, a significand fine enough that no kept
    weight is rounded by more than its posterior standard deviation,

    .. math:: t = \max\Big(0, \Big\lceil \log_2 \max_{ij} \frac{|\mu_{ij}|}{\sigma_{ij}} \Big\rceil\Big),

    and an exponent wide enough to span the kept magnitudes,

    .. math:: e = \big\lceil \log_2 (\lfloor\log_2 \max|\mu|\rfloor - \lfloor\log_2 \min|\mu|\rfloor + 1) \big\rceil,

    which, unlike an exponent counted from :math:`\log_2 \max|\mu|` alone, stays defined when
    :math:`\max|\mu| \le 0.5`. The significand never exceeds the weights' own dtype's (23 bits for float32),
    which a zero (or underflowed) variance asks for; an infinite variance asks for none.

    :returns: ``1 + t + e`` (0 when nothing is kept).
    :rtype: int
    :raises ValueError: when a kept weight's mean or variance is NaN.
    """
    significand = significand_bits(mean, variance, mask)
    if significand is None:
        return 0
    return 1 + significand + exponent_bits(mean[mask & (mean != 0)])


def significand_bits(mean, variance, mask):
    """
    The significand bits :math:`t` of :func:`bit_precision`: enough that no kept weight is rounded by more than
    its posterior standard deviation, at most the weights' dtype's.

    :returns: ``t``, or ``None`` when no nonzero weight is kept.
    :raises ValueError: when a kept weight's mean or variance is NaN.
    """
    kept = mean.detach()[mask].double()
    var = variance.detach().expand_as(mean)[mask].double()
    if bool(torch.isnan(kept).any() | torch.isnan(var).any()):
        raise ValueError("Expected the kept weights' posterior means and variances to be numbers but some are NaN")
    nonzero = kept != 0
    mu, sigma = kept[nonzero].abs(), var[nonzero].clamp_min(0).sqrt()
    if mu.numel() == 0:
        return None
    digits = round(-math.log2(torch.finfo(mean.dtype).eps))  # the dtype's significand bits
    ratio = float((mu / sigma).max())  # inf where a variance is 0
    return 0 if ratio <= 1 else digits if math.isinf(ratio) else min(digits, math.ceil(math.log2(ratio)))


def exponent_bits(weights):
    r"""
    The exponent bits :math:`e` of :func:`bit_precision` that span the binary exponents of ``weights`` (nonzero):
    :math:`\lceil \log_2 (\lfloor\log_2 \max|w|\rfloor - \lfloor\log_2 \min|w|\rfloor + 1) \rceil`.
    """
    low, high = exponent_range(weights)
    return math.ceil(math.log2(high - low + 1))


def exponent_range(weights):
    r"""The smallest and largest binary exponent :math:`\lfloor \log_2 |w| \rfloor` of nonzero ``weights``."""
    magnitude = weights.detach().abs().double()
    return math.floor(math.log2(float(magnitude.min()))), math.floor(math.log2(float(magnitude.max())))
