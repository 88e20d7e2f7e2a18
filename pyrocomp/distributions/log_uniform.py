import warnings

import torch
from pyro.distributions import TorchDistribution, constraints
from pyro.distributions.util import broadcast_shape


class LogUniform(TorchDistribution):
    r"""
    Improper scale-invariant density on the real line,

    .. math::

        p(x) \propto \frac{1}{|x|}, \qquad \text{i.e. } \log|x| \sim \text{Uniform}(-\infty, \infty).

    It is the log-uniform prior of sparse variational dropout (Molchanov et al. 2017) on a
    weight, and the normal-Jeffreys prior on a group scale :math:`z` of Bayesian Compression
    (Louizos et al. 2017; paper 003 eq. (1)). Being improper, :meth:`log_prob` is the
    unnormalised :math:`-\log|x|` and it has no draws: :meth:`sample` warns and returns the
    feasible point 1, so that Pyro's passes that only need shapes (``pyro.infer.Predictive``,
    ``init_to_feasible``) can run a model with this prior; in inference a guide supplies the site. Its KL divergence from a
    Gaussian posterior is registered in :mod:`pyrocomp.distributions.kl` with Molchanov's
    approximation (paper 003 §4.3, constants :math:`k_1, k_2, k_3`).

    :param torch.Size batch_shape: the batch shape.
    :param torch.device device: where :meth:`log_prob` creates tensors.

    Example::

        z = pyro.sample("fc1.scale", LogUniform((1, 784)).to_event(2))
    """

    arg_constraints = {}
    support = constraints.real
    has_rsample = False

    def __init__(self, batch_shape=torch.Size(), *, device=None, validate_args=None):
        if not isinstance(batch_shape, (tuple, torch.Size)):
            raise TypeError(f"Expected batch_shape to be a tuple or torch.Size but got {batch_shape!r}")
        self._device = device
        super().__init__(torch.Size(batch_shape), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogUniform, _instance)
        new._device = self._device
        super(LogUniform, new).__init__(torch.Size(batch_shape), validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        shape = broadcast_shape(value.shape, self.batch_shape)
        # the density is infinite at 0: floor |x| at the smallest normal number so sums stay finite
        return (-value.abs().clamp_min(torch.finfo(value.dtype).tiny).log()).expand(shape)

    def sample(self, sample_shape=torch.Size()):
        warnings.warn("LogUniform is improper and has no draws; sample() returns the feasible point 1 "
                      "(a guide must supply this site)", RuntimeWarning, stacklevel=2)
        return torch.ones(self._extended_shape(sample_shape), device=self._device)
