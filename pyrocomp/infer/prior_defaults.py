"""
How each prior is fitted when the caller does not say: its default ELBO and the hooks
(:class:`~pyrocomp.infer.FitHook`) :func:`~pyrocomp.infer.fit` runs for it — two registries keyed by
prior type, looked up along the prior's class hierarchy — and the guide hooks
(:class:`~pyrocomp.guides.GuideHook`) of the closed-form updates: Turbo-VBI for
:class:`~pyrocomp.priors.TurboPrior` layers and :class:`~pyrocomp.infer.ConjugatePrecision` for conjugate
Gamma precisions.
"""
from pyrocomp.guides import register_guide_hook
from pyrocomp.priors import TurboPrior

from .conjugate_precision import ConjugatePrecision
from .taylor_mean_field_elbo import TaylorMeanField_ELBO
from .turbo_vbi import TurboVBI

_ELBOS = {}
_HOOKS = {}


def _register(table, prior_type, value, override):
    if not isinstance(prior_type, type):
        raise TypeError(f"Expected a prior type but got {prior_type!r}")
    if prior_type in table and not override:
        raise ValueError(f"{prior_type.__name__} has a registered entry already; pass override=True to replace it")
    table[prior_type] = value


def _lookup(table, prior):
    return next((table[t] for t in type(prior).__mro__ if t in table), None)


def register_default_elbo(prior_type, elbo_type, *, override=False):
    """Fit priors of ``prior_type`` with ``elbo_type()`` when no ELBO is given."""
    if not callable(elbo_type):
        raise TypeError(f"Expected an ELBO class but got {elbo_type!r}")
    _register(_ELBOS, prior_type, elbo_type, override)


def default_elbo(prior):
    """A new instance of the registered default ELBO of ``prior``, or ``None``."""
    elbo_type = _lookup(_ELBOS, prior)
    return None if elbo_type is None else elbo_type()


def register_fit_hook(prior_type, make_hook, *, override=False):
    """Run ``make_hook(prior, model, guide)`` (a :class:`~pyrocomp.infer.FitHook`) while fitting a model
    with layers under a ``prior_type``."""
    if not callable(make_hook):
        raise TypeError(f"Expected a callable (prior, model, guide) -> FitHook but got {make_hook!r}")
    _register(_HOOKS, prior_type, make_hook, override)


def fit_hooks(model, guide):
    """The hooks the model's priors ask for, one per prior type."""
    hooks, seen = [], set()
    for _, layer in model.bayesian_layers():
        make_hook = _lookup(_HOOKS, layer.prior)
        if make_hook is not None and make_hook not in seen:
            seen.add(make_hook)
            hooks.append(make_hook(layer.prior, model, guide))
    return hooks


register_default_elbo(TurboPrior, TaylorMeanField_ELBO)


@register_guide_hook
def _turbo_vbi(model, guide):
    """Turbo-VBI for the TurboPrior layers (the first one's schedule)."""
    prior = next((layer.prior for _, layer in model.bayesian_layers() if isinstance(layer.prior, TurboPrior)), None)
    return None if prior is None else TurboVBI(model, guide, prior.schedule)


@register_guide_hook
def _conjugate_precision(model, guide):
    """The conjugate Gamma precisions of a guide with the Taylor ELBO's family."""
    hook = ConjugatePrecision(model, guide)
    return hook if hook.layers else None
