import torch

from pyrocomp.guides.posteriors import ClosedFormGamma, TaylorNormal, unwrap_independent
from pyro.distributions import Gamma

from pyrocomp.distributions import compact


class ConjugatePrecision:
    r"""
    Closed-form updates for Gaussian weights under Gamma precisions (automatic relevance
    determination, group Student-t, ...) fitted with :class:`~pyrocomp.infer.TaylorMeanField_ELBO`,
    as a hook of :func:`~pyrocomp.infer.fit`. For every layer whose ``{name}.precision`` site has
    a :math:`\mathrm{Gamma}(a, b)` prior shared by the :math:`n_g` weights of its group and a
    :class:`~pyrocomp.guides.ClosedFormGamma` posterior, and whose weight has a
    :class:`~pyrocomp.guides.TaylorNormal` posterior, after every step:

    .. math::

        q(\rho_g) = \mathrm{Gamma}\big(a + \tfrac{n_g}{2},\; b + \tfrac12 \textstyle\sum_{i \in g} \mu_i^2\big),
        \qquad \sigma_i^2 = 1 / E_q[\rho_{g(i)}],

    the conjugate mean-field update with eq. (34)'s first-order :math:`\langle w^2 \rangle \approx \mu^2`
    (paper 001's Module A without supports), and the exact minimiser of eq. (35) in
    :math:`\sigma`. SVI is left with the means alone.
    """

    def __init__(self, model, guide):
        self.layers = []
        trace = guide.trace()
        for path, layer in model.bayesian_layers():
            precision_site, weight_site = f"{path}.precision", f"{path}.weight"
            if precision_site not in trace.nodes:
                continue
            precision = guide.posterior(precision_site)
            weight = guide.posterior(weight_site)
            prior = unwrap_independent(trace.nodes[precision_site]["infer"]["prior"])
            if isinstance(precision, ClosedFormGamma) and isinstance(weight, TaylorNormal) and type(prior) is Gamma:
                a, b = prior.concentration.detach(), prior.rate.detach()
                self.layers.append((precision, weight, a, b))

    @classmethod
    def applies(cls, model, guide):
        """Whether any layer of ``model`` has the conjugate structure."""
        return bool(cls(model, guide).layers)

    @torch.no_grad()
    def update(self):
        for precision, weight, a, b in self.layers:
            shape = precision.concentration.shape
            dims = [d for d, n in enumerate(shape) if n == 1 and weight.loc.shape[d] != 1]
            count = weight.loc.numel() // precision.concentration.numel()
            sum_sq = weight.loc.pow(2).sum(dims, keepdim=True) if dims else weight.loc.pow(2)
            # a broadcast constant stays stride 0, so its KL terms are computed once
            precision.concentration = (compact(a) + 0.5 * count).expand(shape)
            precision.rate.copy_(b + 0.5 * sum_sq)
            weight.scale.copy_((precision.rate / precision.concentration).sqrt().expand_as(weight.scale))

    def on_fit_start(self):
        self.update()

    def after_step(self):
        self.update()
