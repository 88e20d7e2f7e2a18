from . import kl  # noqa: F401  registers the KL rules
from .kl import log_dropout_rate, molchanov_kl
from .log_uniform import LogUniform

__all__ = ["LogUniform", "log_dropout_rate", "molchanov_kl"]
