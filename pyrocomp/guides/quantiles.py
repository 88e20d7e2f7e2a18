r"""
Marginal quantiles of the posterior families, for :meth:`AutoCompressionGuide.quantiles` and
:meth:`~AutoCompressionGuide.median`: exact where the distribution has an inverse CDF (Normal,
log-normal), a Gamma through the inverse regularised incomplete Gamma function, a Bernoulli as a step;
other families (e.g. a Dirichlet's coordinates) by Monte Carlo. Register another exact rule with
:func:`register_quantile`.
"""
import torch
from pyro.distributions import Bernoulli, Gamma
from scipy import special

from pyrocomp.util import unwrap_independent

_RULES = {}


def register_quantile(distribution_type):
    """Decorator registering ``rule(distribution, q) -> tensor`` (``q`` a 1-D tensor of probabilities, the
    result with a leading dimension of ``len(q)``) as the exact quantile of ``distribution_type``."""

    def decorator(rule):
        _RULES[distribution_type] = rule
        return rule

    return decorator


@register_quantile(Gamma)
def _gamma(fn, q):
    a, b = torch.broadcast_tensors(fn.concentration, fn.rate)
    x = special.gammaincinv(a.detach().cpu().double().numpy()[None], q.cpu().double().numpy().reshape(-1, *[1] * a.dim()))
    return torch.as_tensor(x).to(a) / b


@register_quantile(Bernoulli)
def _bernoulli(fn, q):
    return (q.reshape(-1, *[1] * fn.probs.dim()) > 1 - fn.probs).to(fn.probs)


def posterior_quantiles(fn, quantiles, num_samples=1000, seed=0):
    """
    Elementwise marginal quantiles of the distribution ``fn`` (``Independent`` wrappers removed).

    :param quantiles: probabilities in (0, 1).
    :param int num_samples: draws for families without an exact rule (under a fixed ``seed``, the
        global random state untouched).
    :returns: a tensor of shape ``(len(quantiles),) + fn.shape()``.
    """
    base = unwrap_independent(fn)
    like = base.mean
    q = torch.as_tensor(quantiles, dtype=like.dtype, device=like.device).reshape(-1)
    if not bool(((q > 0) & (q < 1)).all()):
        raise ValueError(f"Expected quantiles in (0, 1) but got {quantiles!r}")
    rule = next((_RULES[t] for t in type(base).__mro__ if t in _RULES), None)
    if rule is not None:
        return rule(base, q)
    try:
        return base.icdf(q.reshape(-1, *[1] * len(base.batch_shape)))
    except NotImplementedError:
        pass
    with torch.random.fork_rng(devices=[like.device] if like.device.type == "cuda" else []):
        torch.manual_seed(seed)
        draws = base.sample((num_samples,)).to(like.dtype)
    return torch.quantile(draws, q, dim=0)
