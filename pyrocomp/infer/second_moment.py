r"""
:math:`\langle w^2 \rangle` under :math:`q(w) = \mathcal{N}(\mu, \sigma^2)` in the closed-form updates of
:class:`~pyrocomp.infer.SparseVBI` and :class:`~pyrocomp.infer.ConjugatePrecision`: a small strategy
object, so that a new rule is a subclass, not a string.
"""
from abc import ABC, abstractmethod


class SecondMoment(ABC):
    r"""Base class of the :math:`\langle w^2 \rangle` rules."""

    @abstractmethod
    def __call__(self, loc, variance):
        r""":math:`\langle w^2 \rangle` given the posterior mean and variance."""
        raise NotImplementedError

    @abstractmethod
    def conjugate_rate(self, b, half_sum_sq, a, concentration):
        r"""
        The rate of :math:`q(\rho_g)` in :class:`~pyrocomp.infer.ConjugatePrecision`, given the prior's
        :math:`a, b`, :math:`\tfrac12\sum_{i \in g}\mu_i^2` and the posterior shape :math:`a + n_g/2`,
        when :math:`\sigma_i^2 = 1/E_q[\rho_g]` is set with it.
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class FirstOrderSecondMoment(SecondMoment):
    r"""
    :math:`\langle w^2 \rangle \approx \mu^2`, paper 001 eq. (34)'s first-order approximation
    :math:`E_\xi\, g(\mu + \xi\sigma) \approx g(\mu)` applied to :math:`g(w) = w^2`. The right rule under
    :class:`~pyrocomp.infer.TaylorMeanField_ELBO`, where :math:`\sigma^2` carries no information from the
    data (its optimum in eq. (35) is the prior variance :math:`1/\langle\rho\rangle`). Then
    :math:`q(\rho_g) = \mathrm{Gamma}(a + \tfrac{n_g}{2}, b + \tfrac12\sum_{i \in g}\mu_i^2)`.
    """

    def __call__(self, loc, variance):
        return loc.pow(2)

    def conjugate_rate(self, b, half_sum_sq, a, concentration):
        return b + half_sum_sq


class ExactSecondMoment(SecondMoment):
    r"""
    :math:`\langle w^2 \rangle = \mu^2 + \sigma^2`. In :class:`~pyrocomp.infer.ConjugatePrecision`, where
    :math:`\sigma^2 = 1/E_q[\rho_g]` is set from the same update, the two are solved jointly: their fixed
    point is :math:`E_q[\rho_g] = a / (b + \tfrac12\sum_{i \in g}\mu_i^2)`, so the means feel the penalty
    :math:`a \log(b + \frac12\sum_{i \in g}\mu_i^2)` rather than :math:`(a + \frac{n_g}{2}) \log(\cdot)`: a
    small shape :math:`a` then gives a weak prior, as under the exact ELBO.
    """

    def __call__(self, loc, variance):
        return loc.pow(2) + variance

    def conjugate_rate(self, b, half_sum_sq, a, concentration):
        # fixed point of rate = b + (sum_sq + count * rate / concentration) / 2
        return (b + half_sum_sq) * concentration / a


#: command-line names of the rules
SECOND_MOMENTS = {"taylor": FirstOrderSecondMoment, "exact": ExactSecondMoment}
