import pyro
import pyro.distributions as dist

from pyrocomp.util import finite, positive

from .prior import Prior, centred_normal, register_prior


@register_prior("laplace")
class LaplacePrior(Prior):
    r"""
    Laplace prior as the exponential scale mixture of normals (Andrews & Mallows 1974):

    .. math::

        \psi_{ij} \sim \mathrm{Exponential}(\lambda^2 / 2), \quad
        w_{ij} \mid \psi_{ij} \sim \mathcal{N}(0, \psi_{ij})
        \;\Rightarrow\; p(w_{ij}) = \tfrac{\lambda}{2} e^{-\lambda |w_{ij}|}.

    The variance site is ``{name}.variance``; the guide starts it at the layer's mean square
    pretrained weight.

    :param float rate: the Laplace rate :math:`\lambda` (inverse scale).
    :param float threshold: default per-weight log-dropout-rate threshold.
    """

    def __init__(self, rate=30.0, threshold=3.0):
        self.rate = positive("rate", rate)
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        shape = layer.weight_shape
        psi = pyro.sample(
            f"{name}.variance", dist.Exponential(layer.full(shape, self.rate**2 / 2)).to_event(len(shape)),
            infer={"init": layer.pretrained_rms(shape, 2)},
        )
        scale = psi.sqrt()
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(shape)))
