r"""
Posterior families of :class:`~pyrocomp.guides.AutoCompressionGuide`, one per site, chosen
from the site's prior through a registry:

- a **Gaussian prior** :math:`\mathcal{N}(m, s^2)` (whose :math:`m, s` may depend on upstream
  scales) gets the multiplicative, non-centred posterior of Bayesian Compression,
  :math:`q(w \mid z) = \mathcal{N}(m + s\tilde\mu, s^2\tilde\sigma^2)` (paper 003 §3.2);
- other priors on the **real line** (e.g. :class:`~pyrocomp.distributions.LogUniform`) get a
  mean-field :math:`\mathcal{N}(\mu, \sigma^2)`;
- priors on the **positive reals** (precisions, variances, scales) get a log-normal;
- the **support indicators** of paper 001 (:class:`~pyrocomp.distributions.SupportIndicator`) get a
  Bernoulli and its spike-and-slab precisions a Gamma, both updated in closed form
  (:class:`ClosedFormPosterior`); other discrete sites have no family.

Register another family with :func:`register_posterior`.
"""
import torch
from pyro.distributions import Bernoulli, Dirichlet, Gamma, LogNormal, Normal, constraints
from pyro.nn import PyroModule, PyroParam

from pyrocomp.distributions import GroupNormalMixture, IndependentNormal, SpikeSlabGamma, SupportIndicator
from pyrocomp.util import unwrap_independent

class PosteriorFamilies:
    """
    A registry choosing each site's :class:`Posterior` class from its prior: by the prior's type (the most
    specific registered class of its ``Independent``-free base first), else by its support. A registry made
    with :meth:`child` consults its own entries first, then its parent's. Calling it with
    ``(site name, prior)`` returns the class; an :class:`~pyrocomp.guides.AutoCompressionGuide` takes one as
    ``posterior_family``.

    Example::

        families = posterior_family.child()
        families.register(prior_type=Normal)(MeanFieldNormal)  # weights independent of their scales
        guide = AutoCompressionGuide(model, posterior_family=families)
    """

    def __init__(self, parent=None):
        self.parent = parent
        self._by_type = {}
        self._by_support = []

    def child(self):
        """A registry whose own entries come before this one's."""
        return PosteriorFamilies(self)

    def register(self, prior_type=None, support=None, *, override=False):
        """
        Class decorator registering a :class:`Posterior` family for priors of type ``prior_type`` or
        for priors whose support is ``support``.

        :raises ValueError: when this registry has a family for that type or support already, unless
            ``override=True``.
        :raises TypeError: when the class is not a :class:`Posterior` subclass with its own ``forward``.
        """
        if (prior_type is None) == (support is None):
            raise ValueError("Expected exactly one of prior_type and support")

        def decorator(cls):
            if not (isinstance(cls, type) and issubclass(cls, Posterior)) or (
                    cls.forward is Posterior.forward and cls.distribution is Posterior.distribution):
                raise TypeError(f"Expected a Posterior subclass that implements distribution(prior, **params) (or "
                                f"forward(prior)) but got {cls!r}")
            if prior_type is not None:
                if prior_type in self._by_type and not override:
                    raise ValueError(f"{prior_type.__name__} has the posterior family "
                                     f"{self._by_type[prior_type].__name__} already; pass override=True to replace it")
                self._by_type[prior_type] = cls
            else:
                known = [i for i, (s, _) in enumerate(self._by_support) if _same_support(s, support)]
                if known and not override:
                    raise ValueError(f"Support {support} has the posterior family "
                                     f"{self._by_support[known[0]][1].__name__} already; pass override=True to replace it")
                self._by_support = [entry for i, entry in enumerate(self._by_support) if i not in known]
                self._by_support.append((support, cls))
            return cls

        return decorator

    def lookup(self, prior):
        """The registered class for ``prior``, or ``None``."""
        base = unwrap_independent(prior)
        cls = next((self._by_type[t] for t in type(base).__mro__ if t in self._by_type), None)
        cls = cls or next((c for support, c in self._by_support if _same_support(base.support, support)), None)
        return cls if cls is not None or self.parent is None else self.parent.lookup(prior)

    def __call__(self, name, prior):
        cls = self.lookup(prior)
        if cls is None:
            base = unwrap_independent(prior)
            hint = ("; a discrete site has no trained family: marginalise it in the prior (as MixturePrior does "
                    "with its components), or declare a support as pyrocomp.distributions.SupportIndicator and fit "
                    "it in closed form (TurboPrior)") if base.support.is_discrete else ""
            raise TypeError(
                f"No posterior family is registered for site {name!r} with prior {type(base).__name__} "
                f"on support {base.support}; register one with pyrocomp.guides.register_posterior{hint}"
            )
        return cls


def _same_support(a, b):
    return a is b or str(a) == str(b)


#: the default registry of :class:`~pyrocomp.guides.AutoCompressionGuide`
posterior_family = PosteriorFamilies()
register_posterior = posterior_family.register


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

    def params(self):
        """The variational parameters, ``{name: value}`` of the family's :class:`~pyro.nn.PyroParam` s (unconstrained:
        every built-in family keeps its parameters on the real line)."""
        return {name: getattr(self, name) for name in self._pyro_params}

    def distribution(self, prior, **params):
        """
        The posterior given the site's prior and the variational parameters ``params`` (named as :meth:`params`
        names them). Families implement this; an amortised guide
        (:class:`~pyrocomp.guides.AutoConditionalGuide`) calls it with parameters that depend on a context.
        """
        raise NotImplementedError

    def forward(self, prior, shift=None):
        """
        The posterior given the prior, at the family's own parameters plus ``shift`` (``{name: tensor}``, the
        context-dependent part an amortised guide adds; default none).
        """
        params = self.params()
        if shift:
            params = {name: value + shift[name] if name in shift else value for name, value in params.items()}
        return self.distribution(prior, **params)


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

    def distribution(self, prior, loc, log_scale):
        prior_loc, prior_scale = self._prior_loc_scale(prior)
        return Normal(prior_loc + prior_scale * loc, prior_scale * log_scale.exp()).to_event(self.event_dim)


@register_posterior(prior_type=IndependentNormal)
@register_posterior(prior_type=GroupNormalMixture)
@register_posterior(support=constraints.real)
class MeanFieldNormal(Posterior):
    r""":math:`q(x) = \mathcal{N}(\mu, \sigma^2)`, independent of upstream sites (also for the weights of
    :class:`~pyrocomp.distributions.GroupNormalMixture`, whose components' scales do not all describe them)."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        self.loc = PyroParam(init.detach().clone())
        self.log_scale = PyroParam(torch.full_like(self.loc, float(init_scale)).log())

    def distribution(self, prior, loc, log_scale):
        return Normal(loc, log_scale.exp()).to_event(self.event_dim)


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

    def distribution(self, prior, loc, log_scale):
        return LogNormal(loc, log_scale.exp()).to_event(self.event_dim)


class ClosedFormPosterior(Posterior):
    """
    Base class of posteriors without SVI parameters: their parameters are buffers, set by
    closed-form coordinate updates (e.g. :class:`~pyrocomp.infer.SparseVBI`) between gradient
    steps, and gradient steps leave them alone.
    """


@register_posterior(prior_type=SupportIndicator)
class ClosedFormBernoulli(ClosedFormPosterior):
    r""":math:`q(s) = \mathrm{Bernoulli}(\tilde\pi)` (paper 001 eq. (27)); starts at the prior."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        self.register_buffer("logits", unwrap_independent(prior).logits.detach().expand(prior.shape()).clone())

    def distribution(self, prior):
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
            s = base.indicator
            concentration = s * base.concentration + (1 - s) * base.inactive_concentration + 0.5
        else:
            concentration = base.concentration + 0.5
        concentration = concentration.expand(prior.shape())
        self.register_buffer("concentration", concentration.detach().clone())
        self.register_buffer("rate", (concentration / init).detach().clone())

    def distribution(self, prior):
        return Gamma(self.concentration, self.rate).to_event(self.event_dim)


@register_posterior(support=constraints.simplex)
class DirichletPosterior(Posterior):
    r""":math:`q(\boldsymbol\pi) = \mathrm{Dir}(\tilde{\boldsymbol\alpha})` for mixing weights; starts at the prior's concentration."""

    def __init__(self, prior, init, init_scale):
        super().__init__(prior, init, init_scale)
        base = unwrap_independent(prior)
        self.log_concentration = PyroParam(base.concentration.detach().log().clone())

    def distribution(self, prior, log_concentration):
        q = Dirichlet(log_concentration.exp())
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

    def distribution(self, prior, loc):
        return Normal(loc, self.scale).to_event(self.event_dim)


#: paper 001's :math:`q(w)`: Gaussian (and mixture) weights get a mean-field :math:`\mathcal{N}(\mu, \sigma^2)`
#: independent of their scales — the family of :class:`~pyrocomp.infer.TaylorMeanField_ELBO`, whose Taylor point
#: is then exactly :math:`E_q[w] = \mu` — and every other site the default registry's family
mean_field_weights = posterior_family.child()
mean_field_weights.register(prior_type=Normal)(MeanFieldNormal)

#: the family of fits with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`: Gaussian (and mixture) weights get
#: :class:`TaylorNormal` (:math:`\sigma` in closed form), Gamma precisions :class:`ClosedFormGamma` (conjugate,
#: updated in closed form), every other site the default registry's family
taylor_posterior_family = posterior_family.child()
taylor_posterior_family.register(prior_type=Normal)(TaylorNormal)
taylor_posterior_family.register(prior_type=GroupNormalMixture)(TaylorNormal)
taylor_posterior_family.register(prior_type=Gamma)(ClosedFormGamma)
