"""Oracles of the mixture tests, not part of the library: a truncated normal-Jeffreys component and the
un-marginalised (enumerable) form of a scale mixture."""
import torch
from pyro.distributions import TorchDistribution, TransformedDistribution, Uniform, constraints
from torch.distributions.transforms import ExpTransform
from torch.distributions.utils import broadcast_all

from pyrocomp.distributions.scale_mixture import _component_draws, _positive, _select_component, component_log_probs


class LogUniformInterval(TransformedDistribution):
    r"""
    :math:`p(z) \propto 1/z` on :math:`[\text{low}, \text{high}]`: the normal-Jeffreys scale prior made
    proper by truncation, so that it can enter a mixture (an improper component has no
    normalising constant to weigh against the others).
    """

    arg_constraints = {"low": constraints.positive, "high": constraints.positive}

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = broadcast_all(low, high)
        super().__init__(Uniform(self.low.log(), self.high.log()), [ExpTransform()], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogUniformInterval, _instance)
        new.low, new.high = self.low.expand(batch_shape), self.high.expand(batch_shape)
        return super().expand(batch_shape, _instance=new)

    @property
    def mean(self):
        return (self.high - self.low) / (self.high.log() - self.low.log())


class ComponentScale(TorchDistribution):
    r"""
    The scale given its mixture component :math:`c`, :math:`p(z \mid c) = p_c(z)` — the
    un-marginalised form of :class:`ScaleMixture`, for models that enumerate :math:`c` with
    :class:`~pyro.infer.TraceEnum_ELBO` (``infer={"enumerate": "parallel"}``).

    :param torch.Tensor component: integer component index (may carry enumeration dimensions).
    :param list components: the component distributions (all of one event shape).
    """

    arg_constraints = {}
    has_rsample = False

    def __init__(self, component, components, validate_args=None):
        self.component = component
        self.components = list(components)
        batch_shape = torch.broadcast_shapes(component.shape, *(c.batch_shape for c in components))
        super().__init__(batch_shape, components[0].event_shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False)
    def support(self):
        return _positive(self.event_shape)

    def log_prob(self, value):
        log_probs = component_log_probs(self.components, value)
        shape = torch.broadcast_shapes(log_probs.shape[:-1], self.component.shape)
        index = self.component.long().expand(shape).unsqueeze(-1)
        return log_probs.expand(shape + log_probs.shape[-1:]).gather(-1, index).squeeze(-1)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.batch_shape
            k = self.component.long().expand(shape)
            return _select_component(_component_draws(self.components, sample_shape, shape, self.event_shape), k)
