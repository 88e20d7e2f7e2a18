r"""
Support priors :math:`p(\mathbf{s})` of the Turbo-VBI prior (paper 001 §II-C), one per layer,
on the layer's support grid (:mod:`pyrocomp.mrf.layout`). Each gives the log-potentials of its
factor graph for :func:`~pyrocomp.mrf.loopy_belief_propagation`:

- :class:`IsingSupport`: every row and every column a Markov chain (eqs. (2)-(3)), the 2-D
  Ising-type MRF that makes surviving weights gather in blocks; loopy.
- :class:`MarkovChainSupport`: the rows only; a set of chains, on which BP is exact.
- :class:`BernoulliSupport`: independent supports; the three-layer prior reduces to a
  two-layer spike-and-slab on the precisions.

Add another with :func:`register_support`.
"""
import math
from abc import ABC, abstractmethod

import torch

from pyrocomp.util import probability

from .belief_propagation import PairwisePotentials

#: support-prior name -> its class; fill with :func:`register_support`
SUPPORT_PRIORS = {}


def register_support(name):
    """Class decorator registering a :class:`SupportPrior` under a command-line name."""

    def decorator(cls):
        cls.name = name
        SUPPORT_PRIORS[name] = cls
        return cls

    return decorator


def get_support(name, **kwargs):
    """Instantiate the registered support prior ``name``."""
    if name not in SUPPORT_PRIORS:
        raise ValueError(f"Unknown support prior {name!r}; expected one of {sorted(SUPPORT_PRIORS)}")
    return SUPPORT_PRIORS[name](**kwargs)



class SupportPrior(ABC):
    """Base class: the factor graph of :math:`p(\\mathbf{s})` on one layer's support grid."""

    name = None

    @abstractmethod
    def potentials(self, rows, cols, like):
        """
        :returns: ``(unary, horizontal, vertical)``: the prior's own unary log-odds ``(rows, cols)``
            and its :class:`~pyrocomp.mrf.PairwisePotentials` (or ``None``), as tensors like ``like``.
        """
        raise NotImplementedError

    @property
    @abstractmethod
    def marginal(self):
        """The prior probability that a support is active, away from the grid's edges."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


def _chain(p01, p10, shape, like, axis):
    r"""Transition log-potentials :math:`\ln p(s_{next} = j \mid s = i)` of a Markov chain."""
    f = [math.log1p(-p01), math.log(p01), math.log(p10), math.log1p(-p10)]
    rows, cols = shape
    edges = (rows, cols - 1) if axis == 1 else (rows - 1, cols)
    full = [torch.full(edges, value, dtype=like.dtype, device=like.device) for value in f]
    return PairwisePotentials(*full, mask=torch.ones(edges, dtype=torch.bool, device=like.device))


def _start(p01, p10):
    """Log-odds of the chain's stationary distribution, :math:`p_{01} / (p_{01} + p_{10})`."""
    return math.log(p01) - math.log(p10)


@register_support("ising")
class IsingSupport(SupportPrior):
    r"""
    Row and column Markov chains (001 eqs. (2)-(3)):
    :math:`p(\mathbf{s}) \propto \prod_{rows} p(s_{r,1}) \prod_c p(s_{r,c+1} \mid s_{r,c})
    \prod_{cols} p(s_{1,c}) \prod_r p(s_{r+1,c} \mid s_{r,c})`, each chain started in its
    stationary distribution. A smaller ``p01`` gives longer gaps between clusters, a smaller
    ``p10`` larger clusters.

    :param float p01_row: :math:`p(s_{r,c+1} = 1 \mid s_{r,c} = 0)`.
    :param float p10_row: :math:`p(s_{r,c+1} = 0 \mid s_{r,c} = 1)`.
    :param float p01_col: the same down columns (default: the row value).
    :param float p10_col: the same down columns (default: the row value).
    """

    def __init__(self, p01_row=0.05, p10_row=0.2, p01_col=None, p10_col=None):
        self.p01_row = probability("p01_row", p01_row)
        self.p10_row = probability("p10_row", p10_row)
        self.p01_col = probability("p01_col", p01_row if p01_col is None else p01_col)
        self.p10_col = probability("p10_col", p10_row if p10_col is None else p10_col)

    def potentials(self, rows, cols, like):
        unary = torch.zeros(rows, cols, dtype=like.dtype, device=like.device)
        unary[:, 0] += _start(self.p01_row, self.p10_row)
        unary[0, :] += _start(self.p01_col, self.p10_col)
        return (unary, _chain(self.p01_row, self.p10_row, (rows, cols), like, 1),
                _chain(self.p01_col, self.p10_col, (rows, cols), like, 0))

    @property
    def marginal(self):
        return self.p01_row / (self.p01_row + self.p10_row)


@register_support("chain")
class MarkovChainSupport(SupportPrior):
    r"""
    Each row of the grid a Markov chain (001 eq. (2)), rows independent: a tree, so belief
    propagation is exact.

    :param float p01: :math:`p(s_{r,c+1} = 1 \mid s_{r,c} = 0)`.
    :param float p10: :math:`p(s_{r,c+1} = 0 \mid s_{r,c} = 1)`.
    """

    def __init__(self, p01=0.05, p10=0.2):
        self.p01 = probability("p01", p01)
        self.p10 = probability("p10", p10)

    def potentials(self, rows, cols, like):
        unary = torch.zeros(rows, cols, dtype=like.dtype, device=like.device)
        unary[:, 0] = _start(self.p01, self.p10)
        return unary, _chain(self.p01, self.p10, (rows, cols), like, 1), None

    @property
    def marginal(self):
        return self.p01 / (self.p01 + self.p10)


@register_support("bernoulli")
class BernoulliSupport(SupportPrior):
    """Independent supports, :math:`s \\sim \\mathrm{Bernoulli}(p)`.

    :param float p: prior probability of an active weight.
    """

    def __init__(self, p=0.2):
        self.p = probability("p", p)

    def potentials(self, rows, cols, like):
        unary = torch.full((rows, cols), math.log(self.p) - math.log1p(-self.p), dtype=like.dtype, device=like.device)
        return unary, None, None

    @property
    def marginal(self):
        return self.p
