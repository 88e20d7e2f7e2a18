import torch

from pyro.distributions import Gamma

from pyrocomp.guides.posteriors import ClosedFormGamma, TaylorNormal
from pyrocomp.util import compact, group_dims, unwrap_independent

from .fit_hook import FitHook


class ConjugatePrecision(FitHook):
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

    With ``second_moment="exact"``, :math:`\langle w^2 \rangle = \mu^2 + \sigma^2` instead, and the
    two updates are solved jointly: their fixed point is

    .. math::

        E_q[\rho_g] = \frac{a}{b + \tfrac12 \sum_{i \in g} \mu_i^2},
        \qquad q(\rho_g) = \mathrm{Gamma}\big(a + \tfrac{n_g}{2},\; (a + \tfrac{n_g}{2}) / E_q[\rho_g]\big),

    so the means feel the penalty :math:`a \log(b + \frac12\sum_{i \in g}\mu_i^2)` rather than
    :math:`(a + \frac{n_g}{2}) \log(\cdot)`: a small shape :math:`a` then gives a weak prior, as under
    the exact ELBO, where the first-order form never weighs it below :math:`n_g / 2`.

    :param str second_moment: ``"taylor"`` (eq. 34, default) or ``"exact"``.
    """

    def __init__(self, model, guide, second_moment="taylor"):
        if second_moment not in ("taylor", "exact"):
            raise ValueError(f"Expected second_moment in ('taylor', 'exact') but got {second_moment!r}")
        self.second_moment = second_moment
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
            if self.second_moment == "taylor":
                precision.rate.copy_(b + 0.5 * sum_sq)
            else:  # fixed point of rate = b + (sum_sq + count * rate / concentration) / 2
                precision.rate.copy_((b + 0.5 * sum_sq) * concentration / a)
            weight.scale.copy_((precision.rate / precision.concentration).sqrt().expand_as(weight.scale))

    def on_fit_start(self):
        self.update()

    def after_step(self):
        self.update()
