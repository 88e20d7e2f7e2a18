import pyro

from pyrocomp.distributions import LogUniform

from pyrocomp.util import finite

from .prior import Prior, register_prior


@register_prior("vd")
class LogUniformPrior(Prior):
    r"""
    Per-weight log-uniform prior of sparse variational dropout (Molchanov et al. 2017):

    .. math:: p(w_{ij}) \propto 1/|w_{ij}|.

    Improper; its KL against the Gaussian posterior is Molchanov's approximation
    (paper 003 §4.3). Pruned where :math:`\log\alpha_{ij}` exceeds ``threshold``.

    :param float threshold: log-dropout-rate threshold (3 in Molchanov et al. 2017).
    """

    def __init__(self, threshold=3.0):
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        shape = layer.weight_shape
        return pyro.sample(f"{name}.weight", LogUniform(shape, device=layer.weight_init.device).to_event(len(shape)))
