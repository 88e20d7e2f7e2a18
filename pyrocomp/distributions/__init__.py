from . import kl  # noqa: F401  registers the KL rules
from .kl import log_dropout_rate, molchanov_kl
from .group_normal_mixture import GroupNormalMixture
from .log_uniform import LogUniform
from .scale_mixture import ComponentScale, LogUniformInterval, ProductScale, Rayleigh, ScaleMixture
from .spike_slab_gamma import SpikeSlabGamma

__all__ = [
    "ComponentScale",
    "GroupNormalMixture",
    "LogUniform",
    "LogUniformInterval",
    "ProductScale",
    "Rayleigh",
    "ScaleMixture",
    "SpikeSlabGamma",
    "log_dropout_rate",
    "molchanov_kl",
]
