import torch

from pyro.distributions import Gamma

from pyrocomp.guides import GuideHook
from pyrocomp.guides.posteriors import ClosedFormGamma, TaylorNormal
from pyrocomp.util import compact, group_dims, unwrap_independent

from .second_moment import FirstOrderSecondMoment, SecondMoment


class ConjugatePrecision(GuideHook):
    r"""
    Closed-form updates for Gaussian weights under Gamma precisions (automatic relevance
    determination, group Student-t, ...) fitted with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`,
    as a hook of the guide (:class:`~pyrocomp.guides.GuideHook`, built with it when it applies). For every layer whose ``{name}.precision`` site has
    a :math:`\mathrm{Gamma}(a, b)` prior shared by the :math:`n_g` weights of its group and a
    :class:`~pyrocomp.guides.ClosedFormGamma` posterior, and whose weight has a
    :class:`~pyrocomp.guides.TaylorNormal` posterior, after every step:

    .. math::

        q(\rho_g) = \mathrm{Gamma}\big(a + \tfrac{n_g}{2},\; b + \tfrac12 \textstyle\sum_{i \in g} \mu_i^2\big),
        \qquad \sigma_i^2 = 1 / E_q[\rho_{g(i)}],

    the conjugate mean-field update, and the exact minimiser of eq. (35) in :math:`\sigma`; the rate follows
    ``second_moment`` (:meth:`~pyrocomp.infer.SecondMoment.conjugate_rate`): eq. (34)'s first-order
    :math:`\langle w^2 \rangle \approx \mu^2` (paper 001's Module A without supports, the default), or the
    exact second moment solved jointly with :math:`\sigma`. SVI is left with the means alone.

    :param SecondMoment second_moment: default :class:`~pyrocomp.infer.FirstOrderSecondMoment`.
    """

    def __init__(self, model, guide, second_moment=None):
        self.second_moment = FirstOrderSecondMoment() if second_moment is None else second_moment
        self.layers = []
        trace = guide.prototype_trace
        for path, layer in model.bayesian_layers():
            precision_site, weight_site = f"{path}.precision", f"{path}.weight"
            if precision_site not in trace.nodes:
                continue
            precision = guide.posterior(precision_site)
            weight = guide.posterior(weight_site)
            prior = unwrap_independent(trace.nodes[precision_site]["fn"])
            if isinstance(precision, ClosedFormGamma) and isinstance(weight, TaylorNormal) and type(prior) is Gamma:
                a, b = prior.concentration.detach(), prior.rate.detach()
                self.layers.append((precision, weight, a, b))

    @property
    def second_moment(self):
        """The :class:`~pyrocomp.infer.SecondMoment` rule of the rate; settable on the guide's own hook."""
        return self._second_moment

    @second_moment.setter
    def second_moment(self, rule):
        if not isinstance(rule, SecondMoment):
            raise TypeError(f"Expected second_moment to be a SecondMoment but got {rule!r}")
        self._second_moment = rule

    @torch.no_grad()
    def update(self):
        for precision, weight, a, b in self.layers:
            shape = precision.concentration.shape
            dims = group_dims(weight.loc.shape, shape)
            count = weight.loc.numel() // precision.concentration.numel()
            sq = weight.loc * weight.loc
            sum_sq = sq.sum(dims, keepdim=True) if dims else sq
            concentration = compact(a) + 0.5 * count
            # a broadcast constant stays stride 0, so its KL terms are computed once
            precision.concentration = concentration.expand(shape)
            precision.rate.copy_(self.second_moment.conjugate_rate(b, 0.5 * sum_sq, a, concentration))
            weight.scale.copy_((precision.rate / precision.concentration).sqrt().expand_as(weight.scale))

    def on_step(self, step):
        self.update()
