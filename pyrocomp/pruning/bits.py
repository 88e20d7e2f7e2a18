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
    :math:`\max|\mu| \le 0.5`.

    :returns: ``1 + t + e`` (0 when nothing is kept).
    :rtype: int
    """
    mu = mean[mask].abs()
    mu = mu[mu > 0]
    if mu.numel() == 0:
        return 0
    sigma = variance[mask].sqrt()[mean[mask].abs() > 0].clamp_min(torch.finfo(mu.dtype).tiny)
    significand = max(0, math.ceil(math.log2(float((mu / sigma).max()))))
    exponent_range = math.floor(math.log2(float(mu.max()))) - math.floor(math.log2(float(mu.min())))
    exponent = math.ceil(math.log2(exponent_range + 1))
    return 1 + significand + exponent
