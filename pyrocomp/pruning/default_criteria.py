r"""
Which :class:`~pyrocomp.pruning.PruningCriterion` reads a layer off its posterior when none is given:
a registry keyed by the layer's prior type and the type of the ELBO the posterior was fitted with.

The ELBO matters: under :class:`~pyrocomp.infer.TaylorMeanField_ELBO` the weight variances follow
the prior (:math:`\sigma^2 = 1/E_q[\rho]`), so log dropout rates carry no information from the data
and the posterior precision decides instead. Register a rule for a prior of your own with
:func:`register_criterion`::

    @register_criterion(GroupStudentT)
    def _(prior):
        return GroupLogAlphaThreshold(prior.threshold)
"""
import math

from pyrocomp.infer import TaylorMeanField_ELBO
from pyrocomp.priors import (AutomaticRelevanceDetermination, GroupNormalJeffreys, InputOutputNormalJeffreys,
                             TurboPrior)

from .criteria import AllOf, LogAlphaThreshold, PriorPrecisionThreshold, PruningCriterion, ScaleLogAlphaThreshold, \
    SupportThreshold

_RULES = {}


def register_criterion(prior_type, elbo_type=None, *, override=False):
    """
    Decorator registering ``rule(prior) -> PruningCriterion`` as the default criterion of layers whose
    prior is a ``prior_type`` (any callable prior: ``object``), after a fit with an ELBO of
    ``elbo_type`` (``None``: any ELBO).

    :raises ValueError: when a rule is registered for the pair already, unless ``override=True``.
    """
    if not isinstance(prior_type, type) or not (elbo_type is None or isinstance(elbo_type, type)):
        raise TypeError(f"Expected types but got prior_type={prior_type!r}, elbo_type={elbo_type!r}")

    def decorator(rule):
        if not callable(rule):
            raise TypeError(f"Expected a callable rule but got {rule!r}")
        if (prior_type, elbo_type) in _RULES and not override:
            raise ValueError(f"A criterion rule for ({prior_type.__name__}, {getattr(elbo_type, '__name__', None)}) "
                             "is registered already; pass override=True to replace it")
        _RULES[prior_type, elbo_type] = rule
        return rule

    return decorator


def default_criterion(prior, elbo=None):
    """
    The registered criterion of ``prior`` after a fit with ``elbo`` (an ELBO instance or ``None``):
    rules for the ELBO's type (or a base of it) come first, from the most specific prior type to
    ``object``; then the rules for any ELBO, in the same order.

    :rtype: PruningCriterion
    """
    elbo_types = type(elbo).__mro__ if elbo is not None else ()
    for elbo_type in (*elbo_types, None):
        for prior_type in type(prior).__mro__:
            rule = _RULES.get((prior_type, elbo_type))
            if rule is not None:
                criterion = rule(prior)
                if not isinstance(criterion, PruningCriterion):
                    raise TypeError(f"The criterion rule for {type(prior).__name__} returned {criterion!r}, "
                                    "expected a PruningCriterion")
                return criterion
    raise LookupError(f"No criterion is registered for {type(prior).__name__}")  # object's rule covers every prior


@register_criterion(object)
def _log_alpha(prior):
    """Per-weight log dropout rate, at the prior's ``threshold`` when it has one (3 by default)."""
    return LogAlphaThreshold(getattr(prior, "threshold", 3.0))


@register_criterion(object, TaylorMeanField_ELBO)
def _precision(prior):
    """After a Taylor fit: the posterior precision."""
    return PriorPrecisionThreshold(-3.0)


@register_criterion(GroupNormalJeffreys)
@register_criterion(InputOutputNormalJeffreys)
def _group_and_weight(prior):
    """Bayesian Compression's rule: the group's scale and the weight itself."""
    return AllOf(ScaleLogAlphaThreshold(prior.threshold), LogAlphaThreshold(3.0))


@register_criterion(AutomaticRelevanceDetermination, TaylorMeanField_ELBO)
def _ard_precision(prior):
    r"""After a Taylor fit: keep a weight when :math:`\ln(\mu^2 E[\rho])` is above :math:`\ln(2a) - 3`,
    three nats below the level where relevant weights settle."""
    return PriorPrecisionThreshold(math.log(2 * prior.a) - 3.0)


@register_criterion(TurboPrior)
@register_criterion(TurboPrior, TaylorMeanField_ELBO)
def _support(prior):
    r"""Paper 001: a weight survives where :math:`q(s = 1) >` ``threshold``."""
    return SupportThreshold(prior.threshold)
