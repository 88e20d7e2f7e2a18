import pyro
import pyro.distributions as dist

from pyrocomp.nn import check_group
from pyrocomp.util import finite, positive

from .group_normal_jeffreys import UNIT_GROUPS
from .prior import Prior, centred_normal, register_prior


def _half_cauchy_squared(name, shape, layer, init):
    # c^2 = a * b with a ~ Gamma(1/2, 1), b ~ InvGamma(1/2, 1) gives c ~ HalfCauchy(0, 1);
    # the guide starts at a = init^2, b = 1
    half, one = layer.full(shape, 0.5), layer.full(shape, 1.0)
    a = pyro.sample(f"{name}_a", dist.Gamma(half, one).to_event(len(shape)), infer={"init": init.pow(2)})
    b = pyro.sample(f"{name}_b", dist.InverseGamma(half, one).to_event(len(shape)), infer={"init": one})
    return a * b


@register_prior("group-hs")
class GroupHorseshoe(Prior):
    r"""
    Group horseshoe prior of Bayesian Compression (Louizos et al. 2017, §3.2):

    .. math::

        \tau \sim C^+(0, \tau_0), \quad \lambda_g \sim C^+(0, 1), \quad
        w_{ij} \sim \mathcal{N}(0, \tau^2 \lambda_{g(ij)}^2).

    Each half-Cauchy is written through its auxiliary Gamma / inverse-Gamma decomposition,
    :math:`\lambda^2 = a b` with :math:`a \sim \mathrm{Gamma}(\tfrac12, 1)` and
    :math:`b \sim \mathrm{InvGamma}(\tfrac12, 1)`, so that with log-normal posteriors every KL
    term is closed form. Sites: ``{name}.global_scale_a/_b`` and ``{name}.scale_a/_b``. The
    guide starts each group's scale :math:`\tau\lambda_g` at the root mean square of the group's
    pretrained weights (``infer["init"]``).

    :param float tau0: scale of the global half-Cauchy.
    :param str group: ``"auto"``, ``"in"`` or ``"out"`` (see :class:`GroupNormalJeffreys`).
    :param float threshold: default threshold of the per-weight marginal log dropout rate; groups
        go together because their weights share the shrinking scale.
    """

    def __init__(self, tau0=1e-3, group="auto", threshold=3.0):
        self.tau0 = positive("tau0", tau0)
        self.group = check_group(group, UNIT_GROUPS)
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        gshape = layer.group_shape(self.group)
        # start every group's scale tau * lambda_g at the root mean square of its pretrained weights
        rms = layer.pretrained_rms(gshape)
        tau2 = _half_cauchy_squared(f"{name}.global_scale", (1,) * len(layer.weight_shape), layer,
                                    layer.full((1,) * len(layer.weight_shape), 1.0))
        lam2 = _half_cauchy_squared(f"{name}.scale", gshape, layer, rms / self.tau0)
        scale = layer.expand(self.tau0 * (tau2 * lam2).sqrt())
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(layer.weight_shape)))
