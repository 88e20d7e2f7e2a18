import pyro
import pyro.distributions as dist

from pyrocomp.nn import check_group
from pyrocomp.util import finite, positive

from .prior import Prior, centred_normal, register_prior


@register_prior("ard")
class AutomaticRelevanceDetermination(Prior):
    r"""
    Automatic relevance determination, the two-layer special case of paper 001's prior
    (eqs. 4-6 with every support active):

    .. math:: \rho \sim \mathrm{Gamma}(a, b), \qquad w \mid \rho \sim \mathcal{N}(0, 1/\rho),

    with one precision per weight (``group=None``) or per input / output unit. Every KL term is
    proper and closed form. The precision site is ``{name}.precision``; the guide starts it at
    the inverse mean square of the pretrained weights (of the layer, or of each group).

    Under :class:`~pyrocomp.infer.TaylorMeanField_ELBO` the posterior variance follows the prior,
    and with the closed-form updates of :class:`~pyrocomp.infer.ConjugatePrecision` a relevant weight
    settles at :math:`\mu^2 E[\rho] \approx 2a + 1` (first-order second moment) or :math:`2a`
    (exact second moment, where :math:`a` also sets the strength of the sparsity penalty
    :math:`a \ln(b + \mu^2/2)`). Choose the pruning threshold below that level, or on held-out
    data with :func:`~pyrocomp.pruning.calibrate`.

    :param float a: Gamma shape.
    :param float b: Gamma rate.
    :param group: ``None`` (per weight), ``"auto"``, ``"in"`` or ``"out"``.
    :param float threshold: default threshold of the per-weight marginal log dropout rate.
    """

    def __init__(self, a=1e-2, b=1e-2, group=None, threshold=3.0):
        self.a = positive("a", a)
        self.b = positive("b", b)
        self.group = check_group(group, (None, "auto", "in", "out"))
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        shape = layer.group_shape(self.group)
        rho = pyro.sample(
            f"{name}.precision",
            dist.Gamma(layer.full(shape, self.a), layer.full(shape, self.b)).to_event(len(shape)),
            infer={"init": layer.pretrained_rms(shape, -2)},
        )
        scale = layer.expand(rho.rsqrt())
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(layer.weight_shape)))
