import torch
from pyro.distributions import Bernoulli, Gamma, TorchDistribution, constraints
from torch.distributions.utils import broadcast_all


class SpikeSlabGamma(TorchDistribution):
    r"""
    The precision prior of paper 001 eq. (4) given the support :math:`s`,

    .. math::

        p(\rho \mid s) = \mathrm{Gamma}(\rho; a, b)^{s}\, \mathrm{Gamma}(\rho; \bar a, \bar b)^{1-s},

    active (:math:`s = 1`, :math:`E[\rho] = a/b = O(1)`) or inactive (:math:`s = 0`,
    :math:`E[\rho] = \bar a / \bar b \gg 1`). ``indicator`` may also be a probability
    :math:`\tilde\pi \in [0, 1]`: ``log_prob`` is then the expected log-density
    :math:`\langle \ln p(\rho \mid s) \rangle_{q(s)}` of mean-field inference, and the registered
    KL from a Gamma or log-normal posterior is exactly :math:`E_{q(s)}\,\mathrm{KL}(q(\rho) \,\|\, p(\rho \mid s))`
    — which is what :class:`~pyrocomp.infer.TaylorMeanField_ELBO` computes when it sets
    :math:`s` to its posterior mean. Sampling draws :math:`s \sim \mathrm{Bernoulli}(\tilde\pi)`
    first.

    :param indicator: :math:`s` or :math:`\tilde\pi`, in :math:`[0, 1]` (not ``support``, which is the
        distribution's support, the positive reals).
    :param concentration: :math:`a`.  :param rate: :math:`b`.
    :param inactive_concentration: :math:`\bar a`.  :param inactive_rate: :math:`\bar b`.
    """

    arg_constraints = {
        "indicator": constraints.unit_interval,
        "concentration": constraints.positive,
        "rate": constraints.positive,
        "inactive_concentration": constraints.positive,
        "inactive_rate": constraints.positive,
    }
    support = constraints.positive
    has_rsample = False

    def __init__(self, indicator, concentration, rate, inactive_concentration, inactive_rate, validate_args=None):
        (self.indicator, self.concentration, self.rate, self.inactive_concentration,
         self.inactive_rate) = broadcast_all(indicator, concentration, rate, inactive_concentration, inactive_rate)
        super().__init__(self.indicator.shape, validate_args=validate_args)

    @property
    def active(self):
        """:math:`\\mathrm{Gamma}(a, b)`."""
        return Gamma(self.concentration, self.rate)

    @property
    def inactive(self):
        """:math:`\\mathrm{Gamma}(\\bar a, \\bar b)`."""
        return Gamma(self.inactive_concentration, self.inactive_rate)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SpikeSlabGamma, _instance)
        shape = torch.Size(batch_shape)
        for name in self.arg_constraints:
            setattr(new, name, getattr(self, name).expand(shape))
        super(SpikeSlabGamma, new).__init__(shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        s = self.indicator
        return s * self.concentration / self.rate + (1 - s) * self.inactive_concentration / self.inactive_rate

    @property
    def variance(self):
        r""":math:`E[\rho^2] - E[\rho]^2` of the mixture of two Gammas, each with :math:`E[\rho^2] = a(a + 1)/b^2`."""
        s, a, b = self.indicator, self.concentration, self.rate
        a_bar, b_bar = self.inactive_concentration, self.inactive_rate
        second = s * a * (a + 1) / b.pow(2) + (1 - s) * a_bar * (a_bar + 1) / b_bar.pow(2)
        return second - self.mean.pow(2)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        s = self.indicator
        return s * self.active.log_prob(value) + (1 - s) * self.inactive.log_prob(value)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = self._extended_shape(sample_shape)
            s = Bernoulli(self.indicator.expand(shape)).sample().bool()
            return torch.where(s, self.active.sample(sample_shape), self.inactive.sample(sample_shape))
