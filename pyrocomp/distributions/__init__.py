from . import kl  # noqa: F401  registers the KL rules
from .kl import log_dropout_rate, molchanov_kl
from .log_uniform import LogUniform
from .spike_slab_gamma import SpikeSlabGamma

__all__ = ["LogUniform", "SpikeSlabGamma", "log_dropout_rate", "molchanov_kl"]
