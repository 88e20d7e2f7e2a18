import pyro
import torch

from pyrocomp.distributions import LogUniform

from pyrocomp.util import finite

from .prior import Prior, centred_normal, register_prior


@register_prior("io-nj")
class InputOutputNormalJeffreys(Prior):
    r"""
    Input-output group normal-Jeffreys prior (paper 003 §4.3):

    .. math:: p(z_i) \propto 1/|z_i|,\quad p(s_j) \propto 1/|s_j|,\quad w_{ij} \sim \mathcal{N}(0, z_i^2 s_j^2),

    with one scale per input unit (``{name}.scale_in``) and one per output unit
    (``{name}.scale_out``). For Conv2d the input scales are per input channel, a finer choice
    than the paper's single input scale, so that input channels can be removed too.

    :param float threshold: default log-dropout-rate threshold on the product scale; pruning also
        drops single weights whose marginal log dropout rate exceeds 3.
    """

    def __init__(self, threshold=-1.0):
        self.threshold = finite("threshold", threshold)

    def __call__(self, name, layer):
        device = layer.weight_init.device
        shape_in, shape_out = layer.group_shape("in"), layer.group_shape("out")
        z = pyro.sample(f"{name}.scale_in", LogUniform(shape_in, device=device).to_event(len(shape_in)), infer={"init": 1.0})
        s = pyro.sample(f"{name}.scale_out", LogUniform(shape_out, device=device).to_event(len(shape_out)), infer={"init": 1.0})
        # floored at the smallest normal number: two pruned units' scales can underflow to a zero scale
        scale = layer.expand((z.abs() * s.abs()).clamp_min(torch.finfo(z.dtype).tiny))
        return pyro.sample(f"{name}.weight", centred_normal(scale).to_event(len(layer.weight_shape)))
