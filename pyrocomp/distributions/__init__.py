from . import kl  # noqa: F401  registers the KL rules
from .kl import log_dropout_rate, molchanov_kl
from .group_normal_mixture import GroupNormalMixture
from .independent_normal import IndependentNormal
from .log_uniform import LogUniform
from .scale_mixture import ProductScale, Rayleigh, ScaleMixture
from .spike_slab_gamma import SpikeSlabGamma
from .support_indicator import SupportIndicator

__all__ = [
    "GroupNormalMixture",
    "IndependentNormal",
    "LogUniform",
    "ProductScale",
    "Rayleigh",
    "ScaleMixture",
    "SpikeSlabGamma",
    "SupportIndicator",
    "log_dropout_rate",
    "molchanov_kl",
]
