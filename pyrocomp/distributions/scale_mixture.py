r"""
Distributions of a Gaussian scale :math:`z` (:math:`w \mid z \sim \mathcal{N}(0, z^2)`) for the
mixture priors of paper 000: the components, their auxiliary-variable form and their finite mixture.
"""
import math

import torch
from pyro.distributions import Categorical, Exponential, TorchDistribution, TransformedDistribution, constraints
from torch.distributions.transforms import PowerTransform


class Rayleigh(TransformedDistribution):
    r"""
    :math:`p(z) = z/\sigma^2 \, e^{-z^2 / 2\sigma^2}`: the scale whose variance :math:`z^2` is
    :math:`\mathrm{Exponential}(1 / 2\sigma^2)`, so that :math:`w \mid z \sim \mathcal{N}(0, z^2)` is
    marginally Laplace with scale :math:`\sigma` (the Laplace member of the scale mixtures of normals).
    """

    arg_constraints = {"scale": constraints.positive}
    support = constraints.positive

    def __init__(self, scale, validate_args=None):
        self.scale = torch.as_tensor(scale)
        super().__init__(Exponential(0.5 / self.scale.pow(2)), [PowerTransform(torch.tensor(0.5, dtype=self.scale.dtype,
                                                                                             device=self.scale.device))],
                         validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Rayleigh, _instance)
        new.scale = self.scale.expand(batch_shape)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return self.scale * math.sqrt(math.pi / 2)

    @property
    def variance(self):
        return self.scale.pow(2) * (2 - math.pi / 2)


def component_log_probs(components, value):
    """:math:`\\ln p_k(z)` of every component, last dimension the components; ``-inf`` off a support."""
    out = []
    for c in components:  # every value scored at a point of the support, then masked: no host sync on the device
        inside = c.support.check(value)
        support = c.support
        point = (support.lower_bound + support.upper_bound) / 2 if hasattr(support, "upper_bound") else 1.0
        per_value = inside.reshape(inside.shape + (1,) * (value.dim() - inside.dim()))  # across an event's values
        safe = torch.where(per_value, value, torch.as_tensor(point, dtype=value.dtype, device=value.device))
        out.append(torch.where(inside, c.log_prob(safe), -math.inf))
    return torch.stack(out, dim=-1)


class ProductScale(TorchDistribution):
    r"""
    A squared Gaussian scale written as a product of two positive auxiliary variables,
    :math:`z^2 = a\,b`, with

    .. math:: b \sim p(b), \qquad a \mid b \sim p(a \mid b),

    the value being the pair :math:`(a, b)` (last dimension, size 2). With log-normal posteriors on
    :math:`a` and :math:`b` this is the auxiliary form Bayesian Compression gives the half-Cauchy
    (Louizos et al. 2017, §3.2: :math:`a \sim \mathrm{Gamma}(\tfrac12, 1)`,
    :math:`b \sim \mathrm{InvGamma}(\tfrac12, 1)`); the generalised beta mixtures of Gaussians
    (Armagan, Dunson and Clyde, NIPS 2011) write the other scale mixtures the same way. See
    :data:`~pyrocomp.priors.mixture.AUXILIARY_COMPONENTS`.

    :param b: the distribution of :math:`b`.
    :param callable a_given_b: maps :math:`b` to the distribution of :math:`a` given :math:`b`.
    """

    arg_constraints = {}
    support = constraints.independent(constraints.positive, 1)
    has_rsample = False

    def __init__(self, b, a_given_b, validate_args=None):
        self.b, self.a_given_b = b, a_given_b
        super().__init__(b.batch_shape, torch.Size([2]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ProductScale, _instance)
        new.b, new.a_given_b = self.b.expand(batch_shape), self.a_given_b
        super(ProductScale, new).__init__(torch.Size(batch_shape), self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        a, b = value[..., 0], value[..., 1]
        return self.b.log_prob(b) + self.a_given_b(b).log_prob(a)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            b = self.b.sample(sample_shape)
            return torch.stack([self.a_given_b(b).expand(b.shape).sample(), b], -1)


def _positive(event_shape):
    return constraints.independent(constraints.positive, len(event_shape)) if len(event_shape) else constraints.positive


def _component_draws(components, sample_shape, shape, event_shape):
    # one draw of every component, stacked along a dimension before the event dimensions
    return torch.stack([c.sample(sample_shape).expand(shape + event_shape) for c in components], dim=len(shape))


def _select_component(stacked, k):
    """``stacked[..., k, *event]``: the draw of component ``k`` (integer tensor of the leading shape) from
    draws stacked along the dimension after ``k``'s."""
    dim = k.dim()
    index = k.reshape(k.shape + (1,) * (stacked.dim() - dim)).expand(k.shape + (1,) + stacked.shape[dim + 1:])
    return stacked.gather(dim, index).squeeze(dim)


class ScaleMixture(TorchDistribution):
    r"""
    A finite mixture of scale distributions (paper 000 §III-A),

    .. math:: p(z \mid \boldsymbol\pi) = \sum_k \pi_k\, p_k(z),

    the discrete component marginalised in closed form (``log_prob`` is a log-sum-exp over
    components). Components may be of different families; values outside a component's
    support get zero density from it. Components may have an event shape (all the same), e.g.
    the pairs of :class:`ProductScale`: the mixture is then over the joint density of the pair.

    :param torch.Tensor mixing_weights: :math:`\boldsymbol\pi`, last dimension the components.
    :param list components: distributions of the scale, all of the same batch shape.
    """

    arg_constraints = {"mixing_weights": constraints.simplex}
    has_rsample = False

    def __init__(self, mixing_weights, components, validate_args=None):
        if len(components) != mixing_weights.shape[-1]:
            raise ValueError(f"Expected {mixing_weights.shape[-1]} components but got {len(components)}")
        event_shapes = {tuple(c.event_shape) for c in components}
        if len(event_shapes) != 1:
            raise ValueError(f"Expected components of one event shape but got {sorted(event_shapes)}")
        self.mixing_weights = mixing_weights
        self.components = list(components)
        batch_shape = torch.broadcast_shapes(mixing_weights.shape[:-1], *(c.batch_shape for c in components))
        super().__init__(batch_shape, components[0].event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        return _positive(self.event_shape)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(ScaleMixture, _instance)
        shape = torch.Size(batch_shape)
        new.mixing_weights = self.mixing_weights.expand(shape + self.mixing_weights.shape[-1:])
        new.components = [c.expand(shape) for c in self.components]
        super(ScaleMixture, new).__init__(shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def component_log_prob(self, value):
        """:math:`\\ln p_k(z)` of every component (:func:`component_log_probs`)."""
        return component_log_probs(self.components, value)

    def log_prob(self, value):
        return torch.logsumexp(self.mixing_weights.clamp_min(torch.finfo(value.dtype).tiny).log()
                               + self.component_log_prob(value), dim=-1)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.batch_shape
            k = Categorical(self.mixing_weights.expand(shape + self.mixing_weights.shape[-1:])).sample()
            return _select_component(_component_draws(self.components, sample_shape, shape, self.event_shape), k)

    def _average(self, moments):
        stacked = torch.stack([m.expand(self.batch_shape + self.event_shape) for m in moments], len(self.batch_shape))
        weights = self.mixing_weights.expand(self.batch_shape + self.mixing_weights.shape[-1:])
        return (weights.reshape(weights.shape + (1,) * len(self.event_shape)) * stacked).sum(len(self.batch_shape))

    @property
    def mean(self):
        return self._average([c.mean for c in self.components])

    @property
    def variance(self):
        r""":math:`\sum_k \pi_k (\mathrm{Var}_k + m_k^2) - m^2`."""
        return self._average([c.variance + c.mean.pow(2) for c in self.components]) - self.mean.pow(2)
