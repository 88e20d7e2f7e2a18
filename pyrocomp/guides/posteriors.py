r"""
Posterior families of :class:`~pyrocomp.guides.AutoCompressionGuide`, one per site, chosen
from the site's prior through a registry:

- a **Gaussian prior** :math:`\mathcal{N}(m, s^2)` (whose :math:`m, s` may depend on upstream
  scales) gets the multiplicative, non-centred posterior of Bayesian Compression,
  :math:`q(w \mid z) = \mathcal{N}(m + s\tilde\mu, s^2\tilde\sigma^2)` (paper 003 §3.2);
- other priors on the **real line** (e.g. :class:`~pyrocomp.distributions.LogUniform`) get a
  mean-field :math:`\mathcal{N}(\mu, \sigma^2)`;
- priors on the **positive reals** (precisions, variances, scales) get a log-normal;
- **binary supports** get a Bernoulli and the spike-and-slab precisions of paper 001 a Gamma,
  both updated in closed form (:class:`ClosedFormPosterior`).

Register another family with :func:`register_posterior`.
"""
import torch
from pyro.distributions import Bernoulli, Dirichlet, Gamma, LogNormal, Normal, constraints
from pyro.nn import PyroModule, PyroParam

from pyrocomp.distributions import GroupNormalMixture, SpikeSlabGamma
from pyrocomp.util import unwrap_independent

_BY_TYPE = {}
_BY_SUPPORT = []


def register_posterior(prior_type=None, support=None):
    """
    Class decorator registering a :class:`Posterior` family for priors of type
    ``prior_type`` (checked first, by ``isinstance`` on the prior with ``Independent``
    removed), or for priors whose support is ``support``.
    """
    if (prior_type is None) == (support is None):
        raise ValueError("Expected exactly one of prior_type and support")

    def decorator(cls):
        if prior_type is not None:
            _BY_TYPE[prior_type] = cls
        else:
            _BY_SUPPORT.append((support, cls))
        return cls

    return decorator



def posterior_family(name, prior):
    """The registered :class:`Posterior` class for the site ``name`` with ``prior``."""
    base = unwrap_independent(prior)
    for prior_type, cls in _BY_TYPE.items():
        if isinstance(base, prior_type):
            return cls
    for support, cls in _BY_SUPPORT:
        if base.support is support or str(base.support) == str(support):
            return cls
    raise TypeError(
        f"No posterior family is registered for site {name!r} with prior {type(base).__name__} "
        f"on support {base.support}; register one with pyrocomp.guides.register_posterior"
    )


class Posterior(PyroModule):
    """
    Base class of posterior families: holds the variational parameters of one site (as
    :class:`~pyro.nn.PyroParam` s, so that Pyro's param store or module-local parameters hold them)
    and returns its posterior given the site's prior (conditioned on upstream samples).

    :param prior: the site's prior at set-up.
    :param torch.Tensor init: initial value (the posterior starts centred there).
    :param float init_scale: initial (relative) posterior scale.
    """

    def __init__(self, prior, init, init_scale):
        super().__init__()
        self.event_dim = prior.event_dim

    def forward(self, prior):
        raise NotImplementedError


@register_posterior(prior_type=Normal)
class NonCenteredNormal(Posterior):
    r""":math:`q(x \mid \cdot) = \mathcal{N}(m + s\tilde\mu,\ s^2\tilde\sigma^2)` for a prior :math:`\mathcal{N}(m, s^2)`."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        loc, scale = self._prior_loc_scale(prior)
        if not bool((scale > 0).all()):
            raise ValueError("Expected a positive prior scale at initialisation")
        self.loc = PyroParam(((init - loc) / scale).detach().clone())
        self.log_scale = PyroParam(torch.full_like(self.loc, float(init_scale)).log())

    @staticmethod
    def _prior_loc_scale(prior):
        base = unwrap_independent(prior)
        shape = prior.shape()
        return base.loc.expand(shape), base.scale.expand(shape)

    def forward(self, prior):
        loc, scale = self._prior_loc_scale(prior)
        return Normal(loc + scale * self.loc, scale * self.log_scale.exp()).to_event(self.event_dim)


@register_posterior(prior_type=GroupNormalMixture)
@register_posterior(support=constraints.real)
class MeanFieldNormal(Posterior):
    r""":math:`q(x) = \mathcal{N}(\mu, \sigma^2)`, independent of upstream sites (also for the weights of
    :class:`~pyrocomp.distributions.GroupNormalMixture`, whose components' scales do not all describe them)."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        self.loc = PyroParam(init.detach().clone())
        self.log_scale = PyroParam(torch.full_like(self.loc, float(init_scale)).log())

    def forward(self, prior):
        return Normal(self.loc, self.log_scale.exp()).to_event(self.event_dim)


@register_posterior(support=constraints.positive)
@register_posterior(support=constraints.nonnegative)
@register_posterior(support=constraints.independent(constraints.positive, 1))
class LogNormalPosterior(Posterior):
    r"""
    :math:`q(x) = \log\mathcal{N}(m, s^2)`, independent over the elements, for positive sites
    (also vectors of positive values such as the auxiliary pairs of
    :class:`~pyrocomp.distributions.ProductScale`); starts with median at ``init``.
    """

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        if not bool((init > 0).all()):
            raise ValueError("Expected a positive initial value for a positive site")
        self.loc = PyroParam(init.detach().log().clone())
        self.log_scale = PyroParam(torch.full_like(self.loc, float(init_scale)).log())

    def forward(self, prior):
        return LogNormal(self.loc, self.log_scale.exp()).to_event(self.event_dim)


class ClosedFormPosterior(Posterior):
    """
    Base class of posteriors without SVI parameters: their parameters are buffers, set by
    closed-form coordinate updates (e.g. :class:`~pyrocomp.infer.SparseVBI`) between gradient
    steps, and gradient steps leave them alone.
    """


@register_posterior(support=constraints.boolean)
class ClosedFormBernoulli(ClosedFormPosterior):
    r""":math:`q(s) = \mathrm{Bernoulli}(\tilde\pi)` (paper 001 eq. (27)); starts at the prior."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        self.register_buffer("logits", unwrap_independent(prior).logits.detach().expand(prior.shape()).clone())

    def forward(self, prior):
        return Bernoulli(logits=self.logits).to_event(self.event_dim)


@register_posterior(prior_type=SpikeSlabGamma)
class ClosedFormGamma(ClosedFormPosterior):
    r"""
    :math:`q(\rho) = \mathrm{Gamma}(\tilde a, \tilde b)` for a Gamma or spike-and-slab Gamma
    precision (paper 001 eq. (24)); starts with mean ``init``.
    """

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        if not bool((init > 0).all()):
            raise ValueError("Expected a positive initial precision")
        base = unwrap_independent(prior)
        if isinstance(base, SpikeSlabGamma):
            s = base.support_value
            concentration = s * base.concentration + (1 - s) * base.inactive_concentration + 0.5
        else:
            concentration = base.concentration + 0.5
        concentration = concentration.expand(prior.shape())
        self.register_buffer("concentration", concentration.detach().clone())
        self.register_buffer("rate", (concentration / init).detach().clone())

    def forward(self, prior):
        return Gamma(self.concentration, self.rate).to_event(self.event_dim)


@register_posterior(support=constraints.simplex)
class DirichletPosterior(Posterior):
    r""":math:`q(\boldsymbol\pi) = \mathrm{Dir}(\tilde{\boldsymbol\alpha})` for mixing weights; starts at the prior's concentration."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        base = unwrap_independent(prior)
        self.log_concentration = PyroParam(base.concentration.detach().log().clone())

    def forward(self, prior):
        q = Dirichlet(self.log_concentration.exp())
        return q.to_event(self.event_dim - 1) if self.event_dim > 1 else q


class TaylorNormal(ClosedFormPosterior):
    r"""
    :math:`q(w) = \mathcal{N}(\mu, \sigma^2)` for :class:`~pyrocomp.infer.TaylorMeanField_ELBO`:
    :math:`\mu` is an SVI parameter, :math:`\sigma` a buffer. With the likelihood at the mean,
    eq. (35) of paper 001 depends on :math:`\sigma` through the KL alone, whose exact minimiser
    is the prior's variance :math:`\sigma^2 = 1/E_q[\rho]`; the closed-form hooks
    (:class:`~pyrocomp.infer.ConjugatePrecision`, :class:`~pyrocomp.infer.SparseVBI`) set it,
    and SVI then optimises as many parameters as plain training.
    """

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        self.loc = PyroParam(init.detach().clone())
        self.register_buffer("scale", torch.full_like(init, float(init_scale)))

    def forward(self, prior):
        return Normal(self.loc, self.scale).to_event(self.event_dim)


def taylor_posterior_family(name, prior):
    r"""
    The ``posterior_family`` for fits with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`:
    weight sites (``*.weight``) get :class:`TaylorNormal`, Gamma precisions
    :class:`ClosedFormGamma` (conjugate, updated in closed form), the rest the registry's choice.
    """
    if name.endswith(".weight"):
        return TaylorNormal
    if isinstance(unwrap_independent(prior), Gamma):
        return ClosedFormGamma
    return posterior_family(name, prior)
