import pyro
import pyro.distributions as dist

from pyrocomp.util import positive


class Likelihood:
    """Base class: one method issuing the observed site ``obs`` given the network output."""

    #: whether compression keeps every output unit (each is a class, or the one logit) unless told otherwise
    keeps_output_units = False

    def __call__(self, output, obs):
        raise NotImplementedError


class CategoricalLikelihood(Likelihood):
    r""":math:`y \sim \mathrm{Categorical}(\mathrm{softmax}(f(x)))`, for classification."""

    keeps_output_units = True

    def __call__(self, output, obs):
        return pyro.sample("obs", dist.Categorical(logits=output), obs=obs)


class BernoulliLikelihood(Likelihood):
    r"""
    :math:`y \sim \mathrm{Bernoulli}(\sigma(f(x)))`, for binary classification with one logit (a network with one
    output): logistic regression without the redundant second logit of a two-class softmax, whose weights the data
    do not identify (adding a vector to both classes' weights changes no prediction). Labels are 0 or 1.
    """

    keeps_output_units = True

    def __call__(self, output, obs):
        if output.shape[-1] != 1:
            raise ValueError(f"Expected a network with one output (one logit) but its outputs have shape "
                             f"{tuple(output.shape)}")
        logits = output.squeeze(-1)
        return pyro.sample("obs", dist.Bernoulli(logits=logits), obs=None if obs is None else obs.to(logits.dtype))


class GaussianLikelihood(Likelihood):
    r""":math:`y \sim \mathcal{N}(f(x), \sigma^2)` with known noise scale :math:`\sigma`, for regression."""

    def __init__(self, scale=1.0):
        self.scale = positive("scale", scale)

    def __call__(self, output, obs):
        # an example's output dimensions are its event; counted on the targets, since the output may carry the
        # particle dimensions of vectorised ELBOs in front of the data dimension
        event_dim = (obs if obs is not None else output).dim() - 1
        return pyro.sample("obs", dist.Normal(output, self.scale).to_event(event_dim), obs=obs)
