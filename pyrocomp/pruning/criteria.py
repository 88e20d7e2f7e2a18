import copy
from abc import ABC, abstractmethod

import torch

from pyrocomp.nn import UNIT_DIMS, check_group
from pyrocomp.util import finite


class PruningCriterion(ABC):
    """Base class: one method turning a layer's posterior summary into a keep-mask."""

    @abstractmethod
    def keep(self, posterior):
        """
        :param posterior: a :class:`~pyrocomp.pruning.LayerPosterior`.
        :returns: boolean mask of the weight's shape, ``True`` where the weight survives.
        """
        raise NotImplementedError

    #: thresholds :func:`~pyrocomp.pruning.calibrate` tries by default (empty: none to tune)
    grid = ()

    def sweep(self):
        """
        This criterion at every threshold of :attr:`grid`.

        :raises TypeError: when the criterion has no grid of thresholds.
        """
        if not self.grid:
            raise TypeError(f"{type(self).__name__} has no grid of thresholds to sweep; pass candidates to calibrate")
        return [self.with_threshold(t) for t in self.grid]

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def with_threshold(self, threshold):
        """
        A copy of this criterion at another ``threshold`` (for :func:`~pyrocomp.pruning.calibrate`),
        built by calling the constructor again with the instance's attributes as keyword arguments,
        so that its checks run: a criterion of your own gets it by storing its arguments under
        their own names, one of them ``threshold``.

        :raises TypeError: when the criterion has no threshold.
        """
        if not hasattr(self, "threshold"):
            raise TypeError(f"{type(self).__name__} has no threshold to set")
        other = copy.copy(self)
        other.__init__(**{**vars(self), "threshold": threshold})
        return other


class LogAlphaThreshold(PruningCriterion):
    r"""
    Keep a weight when its log dropout rate :math:`\log\alpha = \log\sigma^2 - \log\mu^2` is
    below ``threshold`` (3 for sparse variational dropout, Molchanov et al. 2017).
    """

    grid = tuple(x / 2 for x in range(-16, 9))  # log alpha from -8 to 4

    def __init__(self, threshold=3.0):
        self.threshold = finite("threshold", threshold)

    def keep(self, posterior):
        return posterior.log_alpha < self.threshold


class ScaleLogAlphaThreshold(PruningCriterion):
    r"""
    Keep the weights whose prior scale (a group scale: input neuron, output filter) has a
    log dropout rate below ``threshold`` — group pruning of Bayesian Compression. Falls back
    to the per-weight rate for priors that are not Gaussian scale mixtures.
    """

    grid = LogAlphaThreshold.grid

    def __init__(self, threshold=-1.0):
        self.threshold = finite("threshold", threshold)

    def keep(self, posterior):
        log_alpha = posterior.log_alpha if posterior.scale_log_alpha is None else posterior.scale_log_alpha
        return log_alpha < self.threshold


class ScaleSitesLogAlphaThreshold(PruningCriterion):
    r"""
    Keep the weights whose every scale site has a log dropout rate :math:`\log\sigma^2 - \log\mu^2` of its own
    posterior below ``threshold``: with the input and output scales of the ``io-nj`` prior, the masks
    :math:`m_z m_s^\top` of paper 003 eq. (4), :math:`m_z = I(\log\alpha < \tau)`,
    :math:`m_s = I(\log\beta < \tau)`. It reads the sites' posterior moments, which are exact for scales
    without upstream sites whatever the number of draws, so it is the criterion of a fast per-context
    compression (:func:`~pyrocomp.pruning.compress_contexts`).
    """

    grid = LogAlphaThreshold.grid

    def __init__(self, threshold=-1.0):
        self.threshold = finite("threshold", threshold)

    def keep(self, posterior):
        weight = f"{posterior.name}.weight"
        keep = torch.ones_like(posterior.weight_mean, dtype=torch.bool)
        for name, (mean, var) in posterior.sites.items():
            if name != weight:
                tiny = torch.finfo(mean.dtype).tiny
                keep = keep & (var.clamp_min(tiny).log() - mean.pow(2).clamp_min(tiny).log() < self.threshold)
        return keep


class AllOf(PruningCriterion):
    """Keep a weight only when every criterion keeps it. Its threshold, which
    :func:`~pyrocomp.pruning.calibrate` tunes, is the first criterion's; the others stay as given."""

    def __init__(self, *criteria):
        if not criteria or not all(isinstance(c, PruningCriterion) for c in criteria):
            raise TypeError(f"Expected one or more PruningCriterion but got {criteria!r}")
        self.criteria = criteria

    @property
    def grid(self):
        return self.criteria[0].grid

    def with_threshold(self, threshold):
        return AllOf(self.criteria[0].with_threshold(threshold), *self.criteria[1:])

    def keep(self, posterior):
        masks = [c.keep(posterior) for c in self.criteria]
        return torch.stack(torch.broadcast_tensors(*masks)).all(0)


class GroupLogAlphaThreshold(PruningCriterion):
    r"""
    Keep the weights of an input unit (``group="in"``) or output unit (``"out"``) when the
    group's log dropout rate of the marginal weight posterior,

    .. math:: \log\alpha_g = \log \sum_{ij \in g} \sigma_{ij}^2 - \log \sum_{ij \in g} \mu_{ij}^2,

    is below ``threshold``. It reduces to the per-weight rate for groups of one, and applies to
    any prior, including those whose scales have proper (log-normal) posteriors, where an
    irrelevant group shows as a small scale rather than an uncertain one.
    """

    grid = LogAlphaThreshold.grid

    def __init__(self, threshold=0.0, group="in"):
        self.threshold, self.group = finite("threshold", threshold), check_group(group, tuple(UNIT_DIMS))

    def keep(self, posterior):
        mean = posterior.weight_mean
        log_alpha = group_log_alpha(mean, posterior.weight_variance, self.group)
        shape = [1] * mean.dim()
        shape[UNIT_DIMS[self.group]] = -1
        return (log_alpha.reshape(shape) < self.threshold).expand(mean.shape)


def kept_units(mask, group):
    """Which input (``group="in"``) or output (``"out"``) units of a weight mask hold a kept weight."""
    dims = [d for d in range(mask.dim()) if d != UNIT_DIMS[group]]
    return mask.any(dims) if dims else mask.clone()


def group_log_alpha(mean, variance, group):
    r"""
    The log dropout rate of each input (``group="in"``) or output (``"out"``) unit's weights,
    :math:`\log \sum_{ij \in g} \sigma_{ij}^2 - \log \sum_{ij \in g} \mu_{ij}^2`, one value per unit.
    """
    dims = [d for d in range(mean.dim()) if d != UNIT_DIMS[group]]
    tiny = torch.finfo(mean.dtype).tiny
    return variance.expand_as(mean).sum(dims).clamp_min(tiny).log() - mean.pow(2).sum(dims).clamp_min(tiny).log()


class PriorPrecisionThreshold(PruningCriterion):
    r"""
    Keep a weight when its posterior mean is large against the prior's posterior precision
    :math:`E[\rho]` (paper 001: a weight is pruned when its precision is high),

    .. math:: \log\big(\mu^2 \, E_q[\rho]\big) > \text{threshold}.

    This is the criterion for fits with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`, where the
    likelihood at the mean leaves the posterior variance to the prior. Needs a Gaussian
    scale-mixture prior.
    """

    grid = tuple(float(x) for x in range(-12, 2))

    def __init__(self, threshold=-3.0):
        self.threshold = finite("threshold", threshold)

    def keep(self, posterior):
        if posterior.prior_precision is None:
            raise ValueError(f"Layer {posterior.name!r} has no Gaussian prior precision to threshold")
        tiny = torch.finfo(posterior.weight_mean.dtype).tiny
        score = posterior.weight_mean.pow(2).clamp_min(tiny).log() + posterior.prior_precision.clamp_min(tiny).log()
        return score > self.threshold


class SupportThreshold(PruningCriterion):
    r"""
    Keep a weight when the posterior probability of its support,
    :math:`\tilde\pi = q(s = 1)`, exceeds ``threshold`` (paper 001: the output
    :math:`\mathbf{s}^* = \arg\max q(\mathbf{s})` of Algorithm 1 at 0.5). Needs a prior with a
    ``{layer}.support`` site, e.g. :class:`~pyrocomp.priors.TurboPrior`.
    """

    grid = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)

    def __init__(self, threshold=0.5):
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"Expected threshold in (0, 1) but got {threshold}")
        self.threshold = finite("threshold", threshold)

    def keep(self, posterior):
        site = f"{posterior.name}.support"
        if site not in posterior.sites:
            raise ValueError(f"Layer {posterior.name!r} has no support site {site!r} to threshold")
        return posterior.sites[site][0] > self.threshold
