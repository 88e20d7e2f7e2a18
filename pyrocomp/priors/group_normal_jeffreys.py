import pyro

from pyrocomp.distributions import LogUniform

from pyrocomp.nn import check_group

from pyrocomp.util import finite

from .prior import Prior, centred_normal, register_prior


#: the groups a group scale can span
UNIT_GROUPS = ("auto", "in", "out")


@register_prior("group-nj")
class GroupNormalJeffreys(Prior):
    r"""
    Group normal-Jeffreys prior of Bayesian Compression (Louizos et al. 2017; paper 003 eq. (1)):

    .. math:: p(z_g) \propto 1/|z_g|, \qquad w_{ij} \mid z \sim \mathcal{N}(0, z_{g(ij)}^2),

    with one scale per input neuron of a Linear layer and per output filter of a Conv2d layer
    (``group="auto"``), or per input (``"in"``) / output (``"out"``) unit. The scale site is
    ``{name}.scale``.

    :param str group: ``"auto"``, ``"in"`` or ``"out"``.
    :param float threshold: default log-dropout-rate threshold of the group scale; pruning also
        drops single weights whose marginal log dropout rate exceeds 3.
    """

    def __init__(self, group="auto", threshold=-1.0):
        self.group = check_group(group, UNIT_GROUPS)
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        gshape = layer.group_shape(self.group)
        z = pyro.sample(
            f"{name}.scale",
            LogUniform(gshape, device=layer.weight_init.device).to_event(len(gshape)),
            infer={"init": 1.0},
        )
        scale = layer.expand(z.abs())
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(layer.weight_shape)))
