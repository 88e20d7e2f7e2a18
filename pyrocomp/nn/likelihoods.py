import pyro
import pyro.distributions as dist

from pyrocomp.util import positive


class Likelihood:
    """Base class: one method issuing the observed site ``obs`` given the network output."""

    def __call__(self, output, obs):
        raise NotImplementedError


class CategoricalLikelihood(Likelihood):
    r""":math:`y \sim \mathrm{Categorical}(\mathrm{softmax}(f(x)))`, for classification."""

    def __call__(self, output, obs):
        return pyro.sample("obs", dist.Categorical(logits=output), obs=obs)


class GaussianLikelihood(Likelihood):
    r""":math:`y \sim \mathcal{N}(f(x), \sigma^2)` with known noise scale :math:`\sigma`, for regression."""

    def __init__(self, scale=1.0):
        self.scale = positive("scale", scale)

    def __call__(self, output, obs):
        # an example's output dimensions are its event; counted on the targets, since the output may carry the
        # particle dimensions of vectorised ELBOs in front of the data dimension
        event_dim = (obs if obs is not None else output).dim() - 1
        return pyro.sample("obs", dist.Normal(output, self.scale).to_event(event_dim), obs=obs)
