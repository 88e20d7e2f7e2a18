r"""
Closed-form KL divergences between pyrocomp's posterior families and its priors.

Registered with :func:`torch.distributions.kl.register_kl`, so that
:class:`~pyro.infer.TraceMeanField_ELBO` finds them.
"""
import math

import torch
import torch.nn.functional as F
from pyro.distributions import Bernoulli, Exponential, Gamma, InverseGamma, LogNormal, Normal
from torch.distributions import Independent, kl_divergence, register_kl

from pyrocomp.util import compact

from .group_normal_mixture import GroupNormalMixture
from .log_uniform import LogUniform
from .spike_slab_gamma import SpikeSlabGamma
from .support_indicator import SupportIndicator

#: Molchanov, Ashukha, Vetrov (2017), eq. (14); quoted in paper 003 §4.3.
K1, K2, K3 = 0.63576, 1.87320, 1.48695


def log_dropout_rate(loc, scale):
    r"""
    The log dropout rate :math:`\log\alpha = \log\sigma^2 - \log\mu^2` of a Gaussian
    :math:`\mathcal{N}(\mu, \sigma^2)`; :math:`+\infty` where :math:`\mu = 0`.
    """
    tiny = torch.finfo(loc.dtype).tiny
    return 2 * scale.log() - loc.pow(2).clamp_min(tiny).log()


def molchanov_kl(log_alpha):
    r"""
    Molchanov's approximation of :math:`\mathrm{KL}(\mathcal{N}(\mu, \alpha\mu^2) \,\|\, p(w) \propto 1/|w|)`
    up to an additive constant chosen so that it vanishes as :math:`\alpha \to \infty`:

    .. math::

        \mathrm{KL} \approx k_1 - k_1 \sigma(k_2 + k_3 \log\alpha) + \tfrac12 \log(1 + \alpha^{-1}).

    Paper 003 §4.3 (the negative of its bracketed sum).
    """
    return K1 - K1 * torch.sigmoid(K2 + K3 * log_alpha) + 0.5 * F.softplus(-log_alpha)


@register_kl(Normal, LogUniform)
def _kl_normal_loguniform(q, p):
    kl = molchanov_kl(log_dropout_rate(q.loc, q.scale))
    return kl.expand(torch.broadcast_shapes(kl.shape, p.batch_shape))



def _gamma_constant(a, b):
    # a log b - lgamma(a), computed once per distinct value of expanded hyper-parameters
    a, b = compact(a), compact(b)
    return a * b.log() - torch.lgamma(a)


def _lognormal_params(q):
    base = q.base_dist
    return base.loc, base.scale


def _lognormal_neg_entropy(m, s):
    # E_q[log q(x)] for x ~ LogNormal(m, s): -(m + 1/2 + log s + log(2 pi)/2)
    return -(m + 0.5 + s.log() + 0.5 * math.log(2 * math.pi))


@register_kl(LogNormal, Gamma)
def _kl_lognormal_gamma(q, p):
    r"""
    :math:`\mathrm{KL}(\log\mathcal{N}(m, s^2) \,\|\, \mathrm{Gamma}(a, b))`, with
    :math:`E[\log x] = m` and :math:`E[x] = e^{m + s^2/2}`.
    """
    m, s = _lognormal_params(q)
    a, b = p.concentration, p.rate
    expected_log_p = _gamma_constant(a, b) + (a - 1) * m - b * torch.exp(m + 0.5 * s**2)
    return _lognormal_neg_entropy(m, s) - expected_log_p


@register_kl(LogNormal, Exponential)
def _kl_lognormal_exponential(q, p):
    return _kl_lognormal_gamma(q, Gamma(torch.ones((), dtype=p.rate.dtype, device=p.rate.device).expand(p.rate.shape), p.rate))


@register_kl(LogNormal, InverseGamma)
def _kl_lognormal_inversegamma(q, p):
    r"""
    :math:`\mathrm{KL}(\log\mathcal{N}(m, s^2) \,\|\, \mathrm{InvGamma}(a, b))`, with
    :math:`E[1/x] = e^{-m + s^2/2}`.
    """
    m, s = _lognormal_params(q)
    a, b = p.concentration, p.rate
    expected_log_p = _gamma_constant(a, b) - (a + 1) * m - b * torch.exp(-m + 0.5 * s**2)
    return _lognormal_neg_entropy(m, s) - expected_log_p


@register_kl(LogNormal, LogNormal)
def _kl_lognormal_lognormal(q, p):
    return kl_divergence(q.base_dist, p.base_dist)


@register_kl(Gamma, SpikeSlabGamma)
@register_kl(LogNormal, SpikeSlabGamma)
def _kl_spike_slab_gamma(q, p):
    r"""
    :math:`E_{q(s)}\,\mathrm{KL}(q(\rho) \,\|\, p(\rho \mid s))
    = \tilde\pi\, \mathrm{KL}(q \,\|\, \mathrm{Gamma}(a, b)) + (1 - \tilde\pi)\, \mathrm{KL}(q \,\|\, \mathrm{Gamma}(\bar a, \bar b))`
    (linear in the support, so exact for a support at its posterior mean).
    """
    s = p.indicator
    return s * kl_divergence(q, p.active) + (1 - s) * kl_divergence(q, p.inactive)


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(q, p):
    r"""
    :math:`\mathrm{KL}(\mathrm{Gamma}(a_q, b_q) \,\|\, \mathrm{Gamma}(a_p, b_p))
    = (a_q - a_p)\psi(a_q) - \ln\Gamma(a_q) + \ln\Gamma(a_p) + a_p(\ln b_q - \ln b_p) + a_q (b_p - b_q)/b_q`,
    with the special functions evaluated once per distinct value of shape parameters that are
    broadcast constants (stride 0), as conjugate updates leave them.
    """
    aq, ap = compact(q.concentration), compact(p.concentration)
    shape_terms = (aq - ap) * torch.digamma(aq) - torch.lgamma(aq) + torch.lgamma(ap)
    ratio = compact(p.rate) / compact(q.rate)  # b_p / b_q: one logarithm per element
    return shape_terms - ap * ratio.log() + aq * (ratio - 1)


@register_kl(Bernoulli, SupportIndicator)
def _kl_bernoulli_support(q, p):
    r"""
    :math:`\mathrm{KL}(q \| p) = \sum_{s \in \{0, 1\}} q(s) (\ln q(s) - \ln p(s))` from the logits through
    ``logsigmoid``, finite in float32 at any finite logits, and a term whose :math:`q(s)` is 0 contributes 0 (torch's
    rule overflows to infinity when both logits are large, e.g. a support sure under the posterior and excluded by a
    sharp MRF prior).
    """
    a, b = q.logits, p.logits
    one = torch.sigmoid(a) * (F.logsigmoid(a) - F.logsigmoid(b))
    zero = torch.sigmoid(-a) * (F.logsigmoid(-a) - F.logsigmoid(-b))
    return torch.where(torch.sigmoid(a) > 0, one, 0.0) + torch.where(torch.sigmoid(-a) > 0, zero, 0.0)


@register_kl(Independent, GroupNormalMixture)
def _kl_normal_group_normal_mixture(q, p):
    r"""
    An upper bound on :math:`\mathrm{KL}(\mathcal N(\boldsymbol\mu, \operatorname{diag}\boldsymbol\sigma^2)
    \,\|\, p(\mathbf w \mid \mathbf z, \boldsymbol\pi))` for the mixture of
    :class:`~pyrocomp.distributions.GroupNormalMixture`, exact given each group's component: with the
    component's mean-field posterior at its optimum, :math:`q(c_g = k) \propto \pi_{gk}\exp e_{gk}`,

    .. math::

        \mathrm{KL} \le -H(q) - \sum_g \ln \sum_k \pi_{gk} \exp e_{gk}, \qquad
        e_{gk} = o_{gk} + \sum_{i \in g} \Big(-\tfrac12 \ln 2\pi z_{k,i}^2 - \frac{\mu_i^2 + \sigma_i^2}{2 z_{k,i}^2}\Big),

    Jensen's inequality over the discrete component only (the Gaussian cross-entropies are closed form);
    :math:`o_{gk}` are the mixture's ``offsets`` (0 without).

    With offsets (each component's scale evidence, :class:`~pyrocomp.infer.MixtureMeanField_ELBO`) the
    gradient in a component's own parts (its scales :math:`z_k` and, through :math:`o_{gk}`, their
    posterior) is that of :math:`e_{gk}`, not :math:`q(c_g = k)\, \nabla e_{gk}`: the value and the
    stationary points are the bound's, since a component's own parts enter no other term, but a component
    that few groups choose keeps fitting its scales, and is weighed at its fit rather than where it was
    left (without this, the component ahead early takes every group). The global scale and :math:`q(\mathbf w)`
    get the bound's gradient.
    """
    base = q.base_dist
    if not isinstance(base, Normal) or q.event_shape != p.event_shape or q.batch_shape or p.batch_shape:
        raise NotImplementedError  # the bound is written for one event; batches get Monte Carlo
    second_moment = base.loc.pow(2) + base.scale.pow(2)

    def cross(scales, m2):
        log_var = 2 * scales.log()
        return -0.5 * (math.log(2 * math.pi) + log_var + m2 * torch.exp(-log_var))

    kl = -base.entropy().sum() - p.group_log_prob(cross(p.scales, second_moment))
    if p.offsets is not None and torch.is_grad_enabled():
        own = p.local_scales if p.global_scale is None else p.global_scale.detach() * p.local_scales
        evidence = p.group_sum(cross(own, second_moment.detach())) + p.offsets
        r = torch.softmax(p.log_mixing_weights() + evidence, 0).detach()
        kl = kl - ((1 - r) * (evidence - evidence.detach())).sum()
    return kl
